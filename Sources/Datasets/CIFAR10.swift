/// Reader of the CIFAR-10 binary version (`cifar-10-batches-bin`): each file is a sequence of
/// 3073-byte records, one label byte (0...9) then 3072 pixel bytes, channel-major
/// `[3, 32, 32]` (1024 red, 1024 green, 1024 blue, each row-major). Layout is kept as is
/// (`ImageShape.cifar10`, `.channelMajor`).
///
/// Files are read uncompressed; their size (from `stat`) must be a positive whole number of
/// records and at most `DatasetLimits.maximumBytes`. The result is allocated once at its exact
/// size and filled record by record, with no intermediate copy.
public enum CIFAR10 {
  /// Bytes of one record: 1 label + 3072 pixels.
  public static let recordBytes = 1 + 3072
  /// Training batches in a `cifar-10-batches-bin` directory, in order.
  public static let trainingFiles = (1...5).map { "data_batch_\($0).bin" }
  /// The official test batch.
  public static let testFile = "test_batch.bin"

  /// Reads one batch file.
  public static func read(path: String) throws -> ImageSet {
    try read(paths: [path])
  }

  /// Reads several batch files, concatenated in the order given (e.g. `data_batch_1.bin`
  /// ... `data_batch_5.bin`), into one set.
  public static func read(paths: [String]) throws -> ImageSet {
    guard !paths.isEmpty else {
      throw DatasetError(.empty, "no CIFAR-10 files given: expected at least one batch file")
    }
    var counts: [Int] = []
    for path in paths {
      counts.append(try recordCount(path: path))
    }
    let total = counts.reduce(0, +)
    let shape = ImageShape.cifar10
    let f = shape.features
    var labels = [Int32](repeating: 0, count: total)
    var start = 0
    var failure: (any Error)? = nil
    let pixels = [UInt8](unsafeUninitializedCapacity: total * f) { buffer, initialized in
      initialized = 0
      guard let base = buffer.baseAddress else { return }
      labels.withUnsafeMutableBufferPointer { lb in
        guard let l = lb.baseAddress else { return }
        for (path, n) in zip(paths, counts) {
          do {
            try readRecords(path: path, count: n, pixels: base + start * f, labels: l + start)
          } catch {
            failure = error
            return
          }
          start += n
        }
      }
      // On failure only the records read so far are initialized (UInt8 needs no cleanup).
      initialized = start * f
    }
    if let failure { throw failure }
    return ImageSet(unchecked: pixels, labels: labels, shape: shape, classes: 10)
  }

  /// Validates a file's size and returns its number of records.
  static func recordCount(path: String) throws -> Int {
    switch fileKind(path) {
    case .missing:
      throw DatasetError(.missingFile, path: path, "file not found: expected a CIFAR-10 binary batch file")
    case .directory, .other:
      throw DatasetError(.missingFile, path: path, "not a regular file: expected a CIFAR-10 binary batch file")
    case .regular(let size):
      guard size > 0 else {
        throw DatasetError(.empty, path: path, "empty file: expected at least one \(recordBytes)-byte record")
      }
      guard size <= DatasetLimits.maximumBytes else {
        throw DatasetError(
          .tooLarge, path: path,
          "file size \(size) bytes is over the limit of \(DatasetLimits.maximumBytes) bytes (2 GiB); expected a CIFAR-10 batch of 10000 records (30730000 bytes)"
        )
      }
      guard size % recordBytes == 0 else {
        throw DatasetError(
          .badSize, path: path,
          "file size \(size) bytes is not a multiple of the \(recordBytes)-byte record (1 label + 3072 pixels): \(size / recordBytes) whole records and \(size % recordBytes) bytes left over"
        )
      }
      return size / recordBytes
    }
  }

  /// Reads `count` records of `path` into `pixels` (`[count, 3072]`) and `labels`.
  private static func readRecords(
    path: String, count: Int, pixels: UnsafeMutablePointer<UInt8>, labels: UnsafeMutablePointer<Int32>
  ) throws {
    let r = try ZReader(path: path)
    if r.isCompressed {
      throw DatasetError(
        .badSize, path: path, "is gzip-compressed: expected the uncompressed CIFAR-10 binary batch (extract cifar-10-binary.tar.gz)")
    }
    let f = recordBytes - 1
    var label: UInt8 = 0
    for i in 0..<count {
      let gotLabel = try withUnsafeMutableBytes(of: &label) { try r.read(into: $0.baseAddress!, count: 1) }
      let gotPixels = gotLabel == 1 ? try r.read(into: pixels + i * f, count: f) : 0
      guard gotLabel == 1, gotPixels == f else {
        throw DatasetError(
          .truncated, path: path,
          "truncated while reading record \(i): expected \(count * recordBytes) bytes, got \(i * recordBytes + gotLabel + gotPixels)")
      }
      guard label < 10 else {
        throw DatasetError(
          .labelOutOfRange, path: path, "label \(label) at record \(i) (byte offset \(i * recordBytes)) is out of range, expected 0...9")
      }
      labels[i] = Int32(label)
    }
    let extra = try r.countRemaining()
    guard extra == 0 else {
      throw DatasetError(
        .trailingBytes, path: path,
        "\(extra) bytes beyond the \(count * recordBytes) bytes its size promised (file changed while reading?)")
    }
  }
}
