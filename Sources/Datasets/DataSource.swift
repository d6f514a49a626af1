/// Where the data comes from: the `--data` option.
///
/// Accepted forms: `fashion-mnist` (the system's Fashion-MNIST, by default in
/// `/usr/share/datasets/fashion-mnist`), `mnist:DIR` and `idx:DIR` (IDX files in DIR),
/// `cifar10:DIR` (CIFAR-10 binary batches in DIR or DIR/cifar-10-batches-bin).
public enum DataSource: Sendable, Codable, Equatable, CustomStringConvertible {
  /// Fashion-MNIST in IDX format, from the directory given to the loader (by default
  /// `DataSource.defaultFashionMNISTDirectory`).
  case fashionMNIST
  /// MNIST in IDX format in `directory`.
  case mnist(directory: String)
  /// Any 10-class IDX data set in `directory` (same file names as MNIST).
  case idx(directory: String)
  /// CIFAR-10 binary version in `directory`.
  case cifar10(directory: String)

  /// Where Debian's `dataset-fashion-mnist` package installs the files.
  public static let defaultFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

  /// The accepted forms, for help texts and error messages.
  public static let acceptedForms = "fashion-mnist, mnist:DIR, idx:DIR, cifar10:DIR"

  /// Parses a `--data` value; errors name `--data` and the accepted forms.
  public init(parsing string: String) throws {
    let s = string.trimmingWhitespace()
    if s.lowercased() == "fashion-mnist" {
      self = .fashionMNIST
      return
    }
    guard let colon = s.firstIndex(of: ":") else {
      throw DatasetError(
        .invalidOption, option: "--data", "'\(string)' is not a data source; expected one of \(Self.acceptedForms)")
    }
    let scheme = s[..<colon].lowercased()
    let directory = String(s[s.index(after: colon)...])
    let make: (String) -> DataSource
    switch scheme {
    case "mnist": make = { .mnist(directory: $0) }
    case "idx": make = { .idx(directory: $0) }
    case "cifar10", "cifar-10": make = { .cifar10(directory: $0) }
    default:
      throw DatasetError(
        .invalidOption, option: "--data",
        "unknown data source '\(scheme)' in '\(string)'; expected one of \(Self.acceptedForms)")
    }
    guard !directory.isEmpty else {
      throw DatasetError(
        .invalidOption, option: "--data", "'\(string)' names no directory; expected \(scheme):DIR (one of \(Self.acceptedForms))")
    }
    self = make(directory)
  }

  /// The `--data` form: `fashion-mnist`, `mnist:DIR`, `idx:DIR`, `cifar10:DIR`.
  public var description: String {
    switch self {
    case .fashionMNIST: return "fashion-mnist"
    case .mnist(let d): return "mnist:\(d)"
    case .idx(let d): return "idx:\(d)"
    case .cifar10(let d): return "cifar10:\(d)"
    }
  }

  /// A human name: "Fashion-MNIST", "MNIST", "IDX", "CIFAR-10".
  public var name: String {
    switch self {
    case .fashionMNIST: return "Fashion-MNIST"
    case .mnist: return "MNIST"
    case .idx: return "IDX"
    case .cifar10: return "CIFAR-10"
    }
  }
}

/// How the validation set is taken: the `--validation` option.
public enum ValidationSplit: Sendable, Codable, Equatable, CustomStringConvertible {
  /// The last `n` samples of the official training set (for CIFAR-10: of the five training
  /// batches concatenated in order). `0` gives an empty validation set.
  case last(Int)
  /// CIFAR-10 only: train on `data_batch_1.bin`, validate on `data_batch_2.bin` (the course's
  /// layout; batches 3-5 are not used).
  case cifarBatch2

  /// `.last(5000)`.
  public static let `default` = ValidationSplit.last(5000)

  /// Parses a `--validation` value: a non-negative integer (samples carved from the end of
  /// the training set) or `batch2`. Errors name `--validation`.
  public init(parsing string: String) throws {
    let s = string.trimmingWhitespace()
    if s.lowercased() == "batch2" {
      self = .cifarBatch2
      return
    }
    guard let n = Int(s) else {
      throw DatasetError(
        .invalidOption, option: "--validation",
        "'\(string)' is neither a number of samples nor 'batch2'; expected an integer >= 0 (e.g. 5000) or batch2 (CIFAR-10)")
    }
    guard n >= 0 else {
      throw DatasetError(
        .invalidOption, option: "--validation", "\(n) samples: expected an integer >= 0 (e.g. 5000) or batch2 (CIFAR-10)")
    }
    self = .last(n)
  }

  /// The `--validation` form: `5000` or `batch2`.
  public var description: String {
    switch self {
    case .last(let n): return String(n)
    case .cifarBatch2: return "batch2"
    }
  }
}

extension String {
  /// The string without leading and trailing whitespace.
  fileprivate func trimmingWhitespace() -> String {
    var s = Substring(self)
    while let c = s.first, c.isWhitespace { s.removeFirst() }
    while let c = s.last, c.isWhitespace { s.removeLast() }
    return String(s)
  }
}
