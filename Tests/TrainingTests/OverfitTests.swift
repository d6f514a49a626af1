import LinearAlgebra
import NeuralNetwork
import Testing
import Training

@Suite("Overfitting")
struct OverfitTests {
  /// A 20-50-10 net memorizes 100 random samples with random labels: 100% training accuracy
  /// within a bounded number of momentum steps, loss falling.
  func overfit<T: Real>(_: T.Type, loss: LossFunction, batchSize: Int) throws -> (steps: Int?, firstLoss: Double, lastLoss: Double) {
    let d = 20
    let count = 100
    let classes = 10
    let architecture = Architecture(inputSize: d, hidden: [50], classes: classes, loss: loss)
    var model = MLP<T>(architecture: architecture, initialization: .he, seed: 7)
    var rng = SeededGenerator(seed: 8)
    let x = (0..<(count * d)).map { _ in T(rng.nextGaussian()) }
    let labels = (0..<count).map { _ in Int32(rng.nextBelow(classes)) }
    var optimizer = MomentumSGD<T>(layout: model.layout, momentum: 0.9, lambda: 0)
    let cache = ForwardCache<T>(architecture: architecture, capacity: count)
    var sums = [T](repeating: 0, count: model.layout.count)

    func fullAccuracyAndLoss() throws -> (Int, Double) {
      try model.forward(x, rows: count, mode: .inference, batch: .local(count), cache: cache)
      let r = model.loss(labels: labels, cache: cache, gradient: false)
      return (r.correct, r.lossSum / Double(count))
    }
    let firstLoss = try fullAccuracyAndLoss().1
    var step = 0
    for epoch in 0..<1000 {
      var shuffler = SeededGenerator(seed: 9, stream: UInt64(epoch + 1))
      let order = shuffler.permutation(count)
      for start in stride(from: 0, to: count, by: batchSize) {
        let rows = order[start..<min(count, start + batchSize)]
        let xb = rows.flatMap { x[($0 * d)..<(($0 + 1) * d)] }
        let yb = rows.map { labels[$0] }
        try model.forward(xb, rows: yb.count, mode: .training, batch: .local(yb.count), cache: cache)
        _ = model.loss(labels: yb, cache: cache, gradient: true)
        try model.backward(xb, cache: cache, batch: .local(yb.count), gradients: &sums, accumulate: false)
        optimizer.step(parameters: &model.parameters, layout: model.layout, gradientSums: sums, batchCount: yb.count, eta: 0.02)
        step += 1
      }
      let (correct, lossValue) = try fullAccuracyAndLoss()
      if correct == count { return (step, firstLoss, lossValue) }
    }
    return (nil, firstLoss, try fullAccuracyAndLoss().1)
  }

  @Test(
    "2-layer net reaches 100% training accuracy on 100 random samples",
    arguments: LossFunction.allCases, [10, 100])
  func memorize(loss: LossFunction, batchSize: Int) throws {
    let r = try overfit(Float.self, loss: loss, batchSize: batchSize)
    let limit = 1000
    let steps = try #require(r.steps, "no 100% accuracy after 1000 epochs; loss \(r.firstLoss) -> \(r.lastLoss)")
    #expect(steps <= limit, "took \(steps) steps")
    #expect(r.lastLoss < 0.5 * r.firstLoss, "loss \(r.firstLoss) -> \(r.lastLoss)")
  }
}
