import LinearAlgebra

/// Where a trainer's samples come from: `count` samples of `features` values, each with a
/// label, gathered by index into a batch buffer and normalized on the way
/// (`(x - mean) * invStd` per feature). `ImageSet` is what dptrain trains on; tests feed the
/// NumPy fixtures' matrices to the real Trainer through the same seam.
public protocol SampleSource: Sendable {
  var count: Int { get }
  var features: Int { get }
  /// Copies samples `indices` into `x` (`indices.count` rows of `features`), normalized, and
  /// their labels into `labels`.
  func gather<T: Real>(
    indices: ArraySlice<Int>, mean: [T], invStd: [T], into x: UnsafeMutablePointer<T>, labels: UnsafeMutablePointer<Int32>)
  /// A hint that samples `indices` are next: start bringing them into cache.
  func prefetch(indices: ArraySlice<Int>)
}

extension ImageSet: SampleSource {}
