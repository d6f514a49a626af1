/// An error reading or assembling a data set. Its `description` always says which file (or
/// command-line option) was at fault, what was found and what was expected, so it can be
/// printed to the user as is.
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
  /// What went wrong, for programmatic checks (tests, exit codes).
  public enum Kind: String, Sendable, Codable, Equatable {
    /// A file or directory that does not exist or cannot be opened.
    case missingFile
    /// An IDX magic number that is not the one expected.
    case badMagic
    /// An IDX header with the wrong number of dimensions, or a zero dimension.
    case badDimensions
    /// Fewer bytes than the header (or the record size) requires.
    case truncated
    /// More bytes than the header requires.
    case trailingBytes
    /// Images and labels files disagree on the number of samples, or sets disagree on shape.
    case countMismatch
    /// A label outside `0..<classes`.
    case labelOutOfRange
    /// The gzip stream is corrupted (zlib's message is quoted) or a read failed.
    case compression
    /// A CIFAR-10 file whose size is not a whole number of records, or a malformed in-memory set.
    case badSize
    /// A declared or actual size above `DatasetLimits.maximumBytes`.
    case tooLarge
    /// A file or set with no samples.
    case empty
    /// An invalid command-line value (`--data`, `--validation`, `--train-limit`) or invalid
    /// normalization parameters.
    case invalidOption
  }

  public var kind: Kind
  /// The file or directory at fault; nil for option errors.
  public var path: String?
  /// The command-line option at fault (e.g. `--data`); nil for file errors.
  public var option: String?
  /// What was wrong and what was expected.
  public var message: String

  public init(_ kind: Kind, path: String? = nil, option: String? = nil, _ message: String) {
    self.kind = kind
    self.path = path
    self.option = option
    self.message = message
  }

  /// `"<path>: <message>"`, `"invalid <option>: <message>"`, or both.
  public var description: String {
    switch (path, option) {
    case (let path?, let option?): return "invalid \(option): \(path): \(message)"
    case (let path?, nil): return "\(path): \(message)"
    case (nil, let option?): return "invalid \(option): \(message)"
    case (nil, nil): return message
    }
  }
}

/// Sanity limits applied before any allocation that a file header asks for.
public enum DatasetLimits {
  /// The largest pixel payload (or CIFAR-10 file) accepted: 2 GiB. A header that declares
  /// more is rejected before anything is allocated.
  public static let maximumBytes = 2 << 30
}
