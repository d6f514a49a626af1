import Datasets
import LinearAlgebra
import NeuralNetwork

/// The one path a batch takes through the network, whatever it is for (a training step, the
/// report's gradients, evaluation): its samples gathered from the image set and normalized as
/// they are copied, the forward pass, the loss (with the gradient of the scores when a backward
/// pass follows), and the backward pass into gradient sums.
final class BatchPass<T: Real> {
  let cache: ForwardCache<T>
  /// Rows of the batch being passed.
  private(set) var rows = 0
  private let features: Int
  private let x: UnsafeMutableBufferPointer<T>
  private let labels: UnsafeMutableBufferPointer<Int32>

  /// Buffers for batches of up to `capacity` samples of `features` values.
  init(architecture: Architecture, features: Int, capacity: Int) {
    cache = ForwardCache<T>(architecture: architecture, capacity: capacity)
    self.features = features
    x = .allocate(capacity: max(1, capacity * features))
    x.initialize(repeating: 0)
    labels = .allocate(capacity: max(1, capacity))
    labels.initialize(repeating: 0)
  }

  deinit {
    x.deallocate()
    labels.deallocate()
  }

  /// Copies samples `indices` of `set` into the batch, normalized with `mean` and `invStd`.
  func gather(_ set: any SampleSource, indices: ArraySlice<Int>, mean: [T], invStd: [T]) {
    rows = indices.count
    set.gather(indices: indices, mean: mean, invStd: invStd, into: x.baseAddress!, labels: labels.baseAddress!)
  }

  /// The forward pass of the gathered batch and its loss: the summed loss and the number of
  /// correct predictions; with `gradient`, the gradient of the summed loss for `backward`.
  func forward(_ model: MLP<T>, mode: ForwardMode, batch: BatchContext, gradient: Bool) throws -> (lossSum: Double, correct: Int) {
    try model.forward(x.baseAddress!, rows: rows, mode: mode, batch: batch, cache: cache)
    return model.loss(labels: labels.baseAddress!, cache: cache, gradient: gradient)
  }

  /// The gradient SUMS of the batch's loss (after `forward` with `gradient`) into `gradients`.
  func backward(_ model: MLP<T>, batch: BatchContext, gradients: UnsafeMutablePointer<T>) throws {
    try model.backward(x.baseAddress!, cache: cache, batch: batch, gradients: gradients, accumulate: false)
  }
}
