import LinearAlgebra

/// Sums BatchNorm's per-feature statistics across every replica that holds a shard of the same
/// global batch (synchronized BatchNorm). The model calls it; it does not know who implements
/// it (the trainer supplies one backed by its communicator).
public protocol BatchStatisticsReducer {
  /// Replaces `buffer` by its element-wise sum over all replicas. Every replica calls it the
  /// same number of times, in the same order, with buffers of the same length.
  func sumAcrossReplicas<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws
}

/// How the rows of one forward/backward pass relate to the global batch.
public struct BatchContext {
  /// Samples in the global batch whose statistics BatchNorm uses (all replicas together).
  public var globalCount: Int
  /// Sums statistics across replicas; `nil` when this process holds the whole batch, or for
  /// per-replica (local) BatchNorm statistics.
  public var reducer: (any BatchStatisticsReducer)?

  public init(globalCount: Int, reducer: (any BatchStatisticsReducer)? = nil) {
    self.globalCount = globalCount
    self.reducer = reducer
  }

  /// This process holds the whole batch of `rows` samples.
  public static func local(_ rows: Int) -> BatchContext { BatchContext(globalCount: rows) }

  func reduce<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
    try reducer?.sumAcrossReplicas(buffer)
  }
}

/// Training mode uses the batch's statistics in BatchNorm; inference mode the running averages.
public enum ForwardMode: Sendable {
  case training, inference
}
