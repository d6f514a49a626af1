import LinearAlgebra

/// The geometry of one image and how its bytes are laid out in a row of `ImageSet.pixels`.
public struct ImageShape: Sendable, Codable, Equatable, CustomStringConvertible {
  /// How the `height * width * channels` bytes of one image are ordered.
  public enum Layout: String, Sendable, Codable, Equatable {
    /// One channel, row-major `[height, width]` (IDX: MNIST, Fashion-MNIST).
    case grayscale
    /// Planes one after another, each row-major: `[channels, height, width]`
    /// (CIFAR-10: the 1024 red bytes, then 1024 green, then 1024 blue).
    case channelMajor
  }

  public var height: Int
  public var width: Int
  public var channels: Int
  public var layout: Layout

  public init(height: Int, width: Int, channels: Int, layout: Layout) {
    self.height = height
    self.width = width
    self.channels = channels
    self.layout = layout
  }

  /// Bytes (and network inputs) per image: `height * width * channels`.
  public var features: Int { height * width * channels }

  /// 28 x 28 grayscale (MNIST, Fashion-MNIST).
  public static let mnist = ImageShape(height: 28, width: 28, channels: 1, layout: .grayscale)
  /// 32 x 32 x 3, channel-major (CIFAR-10 binary version).
  public static let cifar10 = ImageShape(height: 32, width: 32, channels: 3, layout: .channelMajor)

  /// `"28x28x1 grayscale"`.
  public var description: String { "\(height)x\(width)x\(channels) \(layout.rawValue)" }
}

/// A labelled image set kept as raw bytes: `pixels` is row-major `[count, features]` `UInt8`
/// (one image per row, in the byte order of `shape.layout`) and `labels` is `[count]` in
/// `0..<classes`. Pixels are never converted to floating point as a whole; batches are
/// gathered and normalized on demand with `gather(indices:mean:invStd:into:labels:)`.
public struct ImageSet: Sendable, Equatable {
  /// `[count, features]`, row-major, raw bytes 0...255.
  public private(set) var pixels: [UInt8]
  /// `[count]`, each in `0..<classes`.
  public private(set) var labels: [Int32]
  /// Geometry and byte layout of one image.
  public let shape: ImageShape
  /// Number of classes (10 for every supported data set).
  public let classes: Int

  /// Samples in the set.
  @inlinable public var count: Int { labels.count }
  /// Bytes per sample, `shape.features`.
  @inlinable public var features: Int { shape.features }
  /// True when the set has no samples.
  @inlinable public var isEmpty: Bool { labels.isEmpty }

  /// A set from raw bytes; checks that `pixels.count == labels.count * shape.features` and
  /// that every label is in `0..<classes`.
  public init(pixels: [UInt8], labels: [Int32], shape: ImageShape, classes: Int = 10) throws {
    guard shape.features > 0, classes > 0 else {
      throw DatasetError(
        .badSize, "image shape \(shape) with \(classes) classes: expected positive dimensions and classes")
    }
    guard pixels.count == labels.count * shape.features else {
      throw DatasetError(
        .badSize,
        "\(pixels.count) pixel bytes for \(labels.count) labels of shape \(shape): expected \(labels.count * shape.features)")
    }
    if let i = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
      throw DatasetError(
        .labelOutOfRange, "label \(labels[i]) at index \(i) is out of range, expected 0...\(classes - 1)")
    }
    self.init(unchecked: pixels, labels: labels, shape: shape, classes: classes)
  }

  /// For the readers, which have validated everything already.
  init(unchecked pixels: [UInt8], labels: [Int32], shape: ImageShape, classes: Int) {
    self.pixels = pixels
    self.labels = labels
    self.shape = shape
    self.classes = classes
  }

  /// An empty set of the given shape.
  public static func empty(shape: ImageShape, classes: Int = 10) -> ImageSet {
    ImageSet(unchecked: [], labels: [], shape: shape, classes: classes)
  }

  // MARK: Sub-ranges

  /// Samples `range` (which must lie in `0...count`), copied into a new set.
  public subscript(range: Range<Int>) -> ImageSet {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) out of 0..<\(count)")
    let f = features
    return ImageSet(
      unchecked: Array(pixels[(range.lowerBound * f)..<(range.upperBound * f)]),
      labels: Array(labels[range]), shape: shape, classes: classes)
  }

  /// The first `min(n, count)` samples (`n >= 0`).
  public func prefix(_ n: Int) -> ImageSet {
    precondition(n >= 0, "prefix length must be >= 0, got \(n)")
    return self[0..<min(n, count)]
  }

  /// The last `min(n, count)` samples (`n >= 0`).
  public func suffix(_ n: Int) -> ImageSet {
    precondition(n >= 0, "suffix length must be >= 0, got \(n)")
    return self[(count - min(n, count))..<count]
  }

  /// Drops the last `min(n, count)` samples in place, without reallocating (the capacity is
  /// kept): how the loader carves validation and applies `--train-limit` without a second copy
  /// of the training pixels.
  public mutating func removeLast(_ n: Int) {
    precondition(n >= 0, "removeLast count must be >= 0, got \(n)")
    let k = min(n, count)
    guard k > 0 else { return }
    pixels.removeLast(k * features)
    labels.removeLast(k)
  }

  /// Keeps only the first `min(n, count)` samples, in place (see `removeLast(_:)`).
  public mutating func keepFirst(_ n: Int) {
    precondition(n >= 0, "keepFirst count must be >= 0, got \(n)")
    removeLast(count - min(n, count))
  }

  /// The samples of `sets` one after another (e.g. the five CIFAR-10 training batches).
  /// All sets must have the same shape and classes; allocates the result once.
  public static func concatenated(_ sets: [ImageSet]) throws -> ImageSet {
    guard let first = sets.first else {
      throw DatasetError(.empty, "cannot concatenate zero image sets: expected at least one")
    }
    for (i, s) in sets.enumerated() where s.shape != first.shape || s.classes != first.classes {
      throw DatasetError(
        .countMismatch,
        "image set \(i) has shape \(s.shape) with \(s.classes) classes, expected \(first.shape) with \(first.classes) classes like set 0")
    }
    var pixels: [UInt8] = []
    var labels: [Int32] = []
    pixels.reserveCapacity(sets.reduce(0) { $0 + $1.pixels.count })
    labels.reserveCapacity(sets.reduce(0) { $0 + $1.count })
    for s in sets {
      pixels.append(contentsOf: s.pixels)
      labels.append(contentsOf: s.labels)
    }
    return ImageSet(unchecked: pixels, labels: labels, shape: first.shape, classes: first.classes)
  }

  /// Number of samples of each class, `[classes]`.
  public func classCounts() -> [Int] {
    var counts = [Int](repeating: 0, count: classes)
    for l in labels { counts[Int(l)] += 1 }
    return counts
  }
}

// MARK: - Batch gathering

extension ImageSet {
  /// Gathers the samples `indices` (each in `0..<count`) as a normalized batch:
  /// `x[i, j] = (T(pixels[indices[i], j]) / 255 - mean[j]) * invStd[j]` into `x`
  /// (`[indices.count, features]`, row-major) and `labels[indices[i]]` into `labels`
  /// (`[indices.count]`). `mean` and `invStd` are `[features]` (see
  /// `FeatureNormalization.mean(as:)` and `invStd(as:)`). Indices are bounds-checked once.
  public func gather<T: Real>(
    indices: UnsafeBufferPointer<Int>, mean: UnsafePointer<T>, invStd: UnsafePointer<T>,
    into x: UnsafeMutablePointer<T>, labels y: UnsafeMutablePointer<Int32>
  ) {
    let n = indices.count
    guard n > 0, let base = indices.baseAddress else { return }
    let total = count
    for i in 0..<n {
      precondition(base[i] >= 0 && base[i] < total, "sample index \(base[i]) out of 0..<\(total)")
    }
    pixels.withUnsafeBufferPointer { p in
      // `p.baseAddress` is non-nil: `count > 0` because an index was in range.
      if let pb = p.baseAddress {
        T.gatherNormalized(pixels: pb, indices: base, rows: n, cols: features, mean: mean, invStd: invStd, into: x)
      }
    }
    labels.withUnsafeBufferPointer { l in
      if let lb = l.baseAddress {
        for i in 0..<n { y[i] = lb[base[i]] }
      }
    }
  }

  /// `gather(indices:mean:invStd:into:labels:)` for an array slice of indices (such as
  /// `order[range]`) and `[features]` arrays of `mean` and `invStd`.
  public func gather<T: Real>(
    indices: ArraySlice<Int>, mean: [T], invStd: [T],
    into x: UnsafeMutablePointer<T>, labels y: UnsafeMutablePointer<Int32>
  ) {
    precondition(
      mean.count == features && invStd.count == features,
      "normalization has \(mean.count)/\(invStd.count) features, expected \(features)")
    indices.withUnsafeBufferPointer { idx in
      mean.withUnsafeBufferPointer { m in
        invStd.withUnsafeBufferPointer { s in
          guard let mb = m.baseAddress, let sb = s.baseAddress else { return }
          gather(indices: idx, mean: mb, invStd: sb, into: x, labels: y)
        }
      }
    }
  }
}

extension ImageSet {
  /// Hints the CPU to load the samples `indices` into cache ahead of a `gather` (the next
  /// batch's random rows, fetched while the current step computes).
  public func prefetch(indices: ArraySlice<Int>) {
    guard !indices.isEmpty else { return }
    indices.withUnsafeBufferPointer { idx in
      pixels.withUnsafeBufferPointer { p in
        Prefetch.rows(pixels: p.baseAddress!, indices: idx.baseAddress!, rows: idx.count, cols: features)
      }
    }
  }
}
