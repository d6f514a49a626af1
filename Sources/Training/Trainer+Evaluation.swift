import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork

extension Trainer {
  /// Loss, cost and accuracy of the current model on `set`, BatchNorm in inference mode.
  public func evaluate(_ set: any SampleSource) throws -> SplitMetrics {
    try Evaluation.evaluate(model: model, set: set, mean: mean, invStd: invStd, lambda: configuration.lambda)
  }

  /// The same on every rank, each evaluating a share of the chunks (a collective: every rank
  /// calls it): the result is `evaluate(set)`'s to the last bit.
  func evaluateTogether(_ set: any SampleSource) throws -> SplitMetrics {
    try Evaluation.evaluate(
      model: model, set: set, mean: mean, invStd: invStd, lambda: configuration.lambda,
      communicator: communicator.size > 1 ? communicator : nil)
  }

  /// The gradient of the cost (`loss + lambda sum ||W||^2`) on one batch, per weight matrix, in
  /// storage order: what the report's histograms show "at the end of training". Computed by
  /// this rank alone (no collectives) on the first `batchSize` samples of the current epoch's
  /// order, BatchNorm in training mode with this batch's statistics.
  public func weightGradients() throws -> [(name: String, values: [Double])] {
    let rows = min(configuration.batchSize, train.count)
    let pass = BatchPass<T>(architecture: model.architecture, features: train.features, capacity: rows)
    var sums = [T].zeros(model.layout.count)
    pass.gather(train, indices: epochOrder.order(epoch: step / stepsPerEpoch)[0..<rows], mean: mean, invStd: invStd)
    _ = try pass.forward(model, mode: .training, batch: .local(rows), gradient: true)
    try sums.withUnsafeMutableBufferPointer { try pass.backward(model, batch: .local(rows), gradients: $0.baseAddress!) }
    return model.layout.slots.filter { $0.kind == .weight }.map { slot in
      (slot.name, slot.range.map { Double(sums[$0]) / Double(rows) + 2 * configuration.lambda * Double(model.parameters[$0]) })
    }
  }
}

/// Model evaluation over a whole split, in chunks, BatchNorm in inference mode.
public enum Evaluation {
  /// With a `communicator` of several ranks (a collective: every rank calls it with the same
  /// model), rank r evaluates chunks r, r + R, ...; one sum of a vector in which each chunk's
  /// slot holds one rank's number and zeros (x + 0 is exact) gives every rank every chunk's
  /// sums, added in chunk order as one process adds them: the same result to the last bit.
  public static func evaluate<T: Real>(
    model: MLP<T>, set: any SampleSource, mean: [T], invStd: [T], lambda: Double, chunk: Int = 1000,
    communicator: (any Communicator)? = nil
  ) throws -> SplitMetrics {
    guard set.count > 0 else { return SplitMetrics(loss: .nan, cost: .nan, accuracy: .nan) }
    let rowsPerChunk = min(chunk, set.count)
    let pass = BatchPass<T>(architecture: model.architecture, features: set.features, capacity: rowsPerChunk)
    let indices = Array(0..<set.count)
    let chunks = (set.count + rowsPerChunk - 1) / rowsPerChunk
    let (rank, size) = (communicator?.rank ?? 0, communicator?.size ?? 1)
    // Per chunk: its loss sum, then its correct count (exact in a Double below 2^53).
    var sums = [Double](repeating: 0, count: 2 * chunks)
    for c in stride(from: rank, to: chunks, by: size) {
      let range = (c * rowsPerChunk)..<min((c + 1) * rowsPerChunk, set.count)
      Watchdog.enter("the evaluation")
      pass.gather(set, indices: indices[range], mean: mean, invStd: invStd)
      let r = try pass.forward(model, mode: .inference, batch: .local(range.count), gradient: false)
      sums[2 * c] = r.lossSum
      sums[2 * c + 1] = Double(r.correct)
    }
    if let communicator, size > 1 {
      Watchdog.enter("the evaluation's allreduce (waiting for every rank's share)")
      try communicator.allReduceSum(&sums)
    }
    var lossSum = 0.0
    var correct = 0
    for c in 0..<chunks {
      lossSum += sums[2 * c]
      correct += Int(sums[2 * c + 1])
    }
    let loss = lossSum / Double(set.count)
    return SplitMetrics(loss: loss, cost: loss + lambda * model.weightPenalty(), accuracy: Double(correct) / Double(set.count))
  }
}
