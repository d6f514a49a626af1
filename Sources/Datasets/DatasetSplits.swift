/// The three sets a training run uses, with the normalization fitted on the training set.
///
/// - `train`: the official training set minus the validation samples, then cut to its first
///   `trainLimit` samples if given.
/// - `validation`: the last `n` official training samples (`.last(n)`) or CIFAR-10's
///   `data_batch_2.bin` (`.cifarBatch2`, training then uses `data_batch_1.bin` only).
/// - `test`: always the official test set (`t10k-*` or `test_batch.bin`).
/// - `normalization`: per-feature mean/std over `train` only.
public struct DatasetSplits: Sendable {
  public var train: ImageSet
  public var validation: ImageSet
  public var test: ImageSet
  public var normalization: FeatureNormalization
  /// The source the sets were loaded from.
  public var source: DataSource
  /// One line for logs, e.g.
  /// `Fashion-MNIST (/usr/share/datasets/fashion-mnist): 28x28x1 grayscale, train 55000, validation 5000 (last 5000), test 10000`.
  public var sourceDescription: String

  public init(
    train: ImageSet, validation: ImageSet, test: ImageSet, normalization: FeatureNormalization,
    source: DataSource, sourceDescription: String
  ) {
    self.train = train
    self.validation = validation
    self.test = test
    self.normalization = normalization
    self.source = source
    self.sourceDescription = sourceDescription
  }

  /// Bytes (inputs) per sample.
  public var features: Int { train.features }
  /// Number of classes.
  public var classes: Int { train.classes }

  /// Loads `source`, carves the validation set, applies `trainLimit` (first N training
  /// samples, N > 0; a limit above the training count keeps them all) and fits the
  /// normalization on the resulting training set. `includeTest: false` leaves the test set
  /// empty, unread (sweep trials rank by validation and never look at it).
  ///
  /// `fashionMNISTDirectory` is where `.fashionMNIST` is read from (injectable for tests).
  /// Errors: any file error (`DatasetError` naming the file); `--validation` when `n` is
  /// negative or not below the training count, or `batch2` with a non-CIFAR source;
  /// `--train-limit` when `trainLimit <= 0`.
  ///
  /// Memory: the training pixels are read once into one array; the validation samples are
  /// copied out and then dropped from it in place, so the peak is about one training set plus
  /// the validation and test sets.
  public static func load(
    _ source: DataSource, validation: ValidationSplit = .default, trainLimit: Int? = nil,
    includeTest: Bool = true, fashionMNISTDirectory: String = DataSource.defaultFashionMNISTDirectory
  ) throws -> DatasetSplits {
    if let trainLimit, trainLimit <= 0 {
      throw DatasetError(.invalidOption, option: "--train-limit", "\(trainLimit): expected a number of samples > 0")
    }
    if case .last(let n) = validation, n < 0 {
      throw DatasetError(.invalidOption, option: "--validation", "\(n) samples: expected an integer >= 0 or batch2")
    }

    var train: ImageSet
    var valid: ImageSet
    let test: ImageSet
    let location: String
    switch source {
    case .fashionMNIST, .mnist, .idx:
      let directory: String
      switch source {
      case .mnist(let d), .idx(let d): directory = d
      default: directory = fashionMNISTDirectory
      }
      if case .cifarBatch2 = validation {
        throw DatasetError(
          .invalidOption, option: "--validation",
          "batch2 is for CIFAR-10 only, but --data is \(source); expected a number of samples (e.g. 5000)")
      }
      try requireDirectory(directory, source: source)
      train = try IDX.readImageSet(
        imagesPath: idxFile(directory, "train", "images", "idx3"),
        labelsPath: idxFile(directory, "train", "labels", "idx1"))
      valid = try carve(&train, validation)
      test =
        includeTest
        ? try IDX.readImageSet(
          imagesPath: idxFile(directory, "t10k", "images", "idx3"),
          labelsPath: idxFile(directory, "t10k", "labels", "idx1"))
        : .empty(shape: train.shape, classes: train.classes)
      location = directory

    case .cifar10(let given):
      try requireDirectory(given, source: source)
      let directory = cifarDirectory(given)
      let path = { (name: String) in joinPath(directory, name) }
      switch validation {
      case .cifarBatch2:
        train = try CIFAR10.read(path: path(CIFAR10.trainingFiles[0]))
        valid = try CIFAR10.read(path: path(CIFAR10.trainingFiles[1]))
      case .last:
        train = try CIFAR10.read(paths: CIFAR10.trainingFiles.map(path))
        valid = try carve(&train, validation)
      }
      test = includeTest ? try CIFAR10.read(path: path(CIFAR10.testFile)) : .empty(shape: train.shape, classes: train.classes)
      location = directory
    }

    guard train.shape == test.shape else {
      throw DatasetError(
        .countMismatch, path: location,
        "training images are \(train.shape) but test images are \(test.shape); expected the same shape")
    }
    if let trainLimit { train.keepFirst(trainLimit) }
    let normalization = FeatureNormalization(computingOver: train)
    let limitText = trainLimit.map { ", train limit \($0)" } ?? ""
    let description =
      "\(source.name) (\(location)): \(train.shape), train \(train.count)\(limitText), validation \(valid.count) (\(validationText(validation))), test \(test.count)"
    return DatasetSplits(
      train: train, validation: valid, test: test, normalization: normalization, source: source,
      sourceDescription: description)
  }

  // MARK: Helpers

  /// Moves the last `n` samples of `train` into the returned validation set.
  private static func carve(_ train: inout ImageSet, _ split: ValidationSplit) throws -> ImageSet {
    guard case .last(let n) = split else { return .empty(shape: train.shape, classes: train.classes) }
    guard n < train.count else {
      throw DatasetError(
        .invalidOption, option: "--validation",
        "\(n) validation samples leave no training samples out of \(train.count); expected at most \(train.count - 1)")
    }
    let valid = train.suffix(n)
    train.removeLast(n)
    return valid
  }

  private static func validationText(_ split: ValidationSplit) -> String {
    switch split {
    case .last(let n): return "last \(n)"
    case .cifarBatch2: return "data_batch_2"
    }
  }

  private static func requireDirectory(_ directory: String, source: DataSource) throws {
    guard case .directory = fileKind(directory) else {
      throw DatasetError(
        .missingFile, path: directory, "\(source.name) data directory not found: expected a directory with the \(source.name) files")
    }
  }

  /// The first existing of `PREFIX-KIND-IDX-ubyte[.gz]` and `PREFIX-KIND.IDX-ubyte[.gz]`.
  static func idxFile(_ directory: String, _ prefix: String, _ kind: String, _ idx: String) throws -> String {
    let names = [
      "\(prefix)-\(kind)-\(idx)-ubyte", "\(prefix)-\(kind)-\(idx)-ubyte.gz",
      "\(prefix)-\(kind).\(idx)-ubyte", "\(prefix)-\(kind).\(idx)-ubyte.gz",
    ]
    for name in names where fileExists(joinPath(directory, name)) {
      return joinPath(directory, name)
    }
    // A name that is there but not a regular file (a directory, a FIFO): say so, not "not found".
    for name in names {
      let path = joinPath(directory, name)
      switch fileKind(path) {
      case .directory: throw DatasetError(.missingFile, path: path, "is a directory, expected a regular IDX file")
      case .other:
        throw DatasetError(.missingFile, path: path, "is not a regular file (a FIFO, a device or a socket), expected an IDX file")
      default: continue
      }
    }
    throw DatasetError(
      .missingFile, path: joinPath(directory, names[1]),
      "file not found: expected one of \(names.joined(separator: ", ")) in \(directory)")
  }

  /// `DIR` itself, or `DIR/cifar-10-batches-bin` when the batches are there (the tarball's layout).
  static func cifarDirectory(_ directory: String) -> String {
    let nested = joinPath(directory, "cifar-10-batches-bin")
    if !fileExists(joinPath(directory, CIFAR10.trainingFiles[0])), case .directory = fileKind(nested) {
      return nested
    }
    return directory
  }
}
