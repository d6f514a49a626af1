import LinearAlgebra

/// A fixed-size, zero-initialised heap buffer of `T` for reusable workspaces (no copy-on-write,
/// no per-step allocation).
public final class Buffer<T: Real> {
  public let count: Int
  public let pointer: UnsafeMutablePointer<T>

  public init(count: Int) {
    self.count = count
    pointer = .allocate(capacity: max(count, 1))
    // All-zero bytes are 0.0 in Float and Double. A byte fill, because the generic
    // `initialize(repeating:count:)` is not specialized across modules and copied element by
    // element through value witnesses: 21% of a sweep of short trials went there.
    UnsafeMutableRawPointer(pointer).initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1) * MemoryLayout<T>.stride)
  }

  deinit { pointer.deallocate() }

  public var buffer: UnsafeMutableBufferPointer<T> { UnsafeMutableBufferPointer(start: pointer, count: count) }
  public var array: [T] { Array(buffer) }
}

/// What the forward pass keeps for the backward pass, for up to `capacity` rows: every hidden
/// layer's output `H_l [rows, h_l]`, and with BatchNorm its `xhat [rows, h_l]` and the batch mean,
/// variance and `1/sqrt(var + eps)` `[h_l]`; the output scores `[rows, C]`; and two
/// `[rows, maxWidth]` gradient buffers used alternately by the backward pass.
/// Memory: `capacity * (sum(h) * (1 + bn) + C + 2 * maxWidth)` scalars.
public final class ForwardCache<T: Real> {
  public let architecture: Architecture
  public let capacity: Int
  /// Rows of the last forward pass.
  public internal(set) var rows = 0
  /// `activations[l - 1]` is `H_l`, l = 1...k.
  let activations: [Buffer<T>]
  let xhat: [Buffer<T>]
  let mean: [Buffer<T>]
  let variance: [Buffer<T>]
  let invStd: [Buffer<T>]
  /// Output scores `[rows, C]`.
  public let scores: Buffer<T>
  let gradientA: Buffer<T>
  let gradientB: Buffer<T>
  /// `[2 * maxWidth]`: BatchNorm's per-feature sums in backward, and inference-mode statistics.
  let sums: Buffer<T>

  public init(architecture: Architecture, capacity: Int) {
    precondition(capacity >= 1, "cache capacity must be >= 1")
    self.architecture = architecture
    self.capacity = capacity
    let hidden = architecture.hidden
    let bn = architecture.batchNorm
    activations = hidden.map { Buffer(count: capacity * $0) }
    xhat = hidden.map { Buffer(count: bn ? capacity * $0 : 0) }
    mean = hidden.map { Buffer(count: bn ? $0 : 0) }
    variance = hidden.map { Buffer(count: bn ? $0 : 0) }
    invStd = hidden.map { Buffer(count: bn ? $0 : 0) }
    scores = Buffer(count: capacity * architecture.classes)
    gradientA = Buffer(count: capacity * architecture.maxWidth)
    gradientB = Buffer(count: capacity * architecture.maxWidth)
    sums = Buffer(count: 2 * architecture.maxWidth)
  }

  /// Batch mean `[h_l]` of hidden layer `l` (1-based) from the last training forward pass,
  /// of `z = W a` WITHOUT the bias (see `MLP.forward`).
  public func batchMean(layer l: Int) -> [T] { mean[l - 1].array }
  /// Biased batch variance `[h_l]` of hidden layer `l` from the last training forward pass.
  public func batchVariance(layer l: Int) -> [T] { variance[l - 1].array }
  /// Output of hidden layer `l` (after ReLU), `[rows, h_l]`.
  public func hiddenOutput(layer l: Int) -> [T] { Array(activations[l - 1].buffer.prefix(rows * architecture.hidden[l - 1])) }
  /// The scores of the last forward pass, `[rows, C]`.
  public var scoreValues: [T] { Array(scores.buffer.prefix(rows * architecture.classes)) }
}
