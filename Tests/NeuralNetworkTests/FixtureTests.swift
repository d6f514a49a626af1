import Foundation
import LinearAlgebra
import NeuralNetwork
import TestSupport
import Testing

/// The fixtures' directory, copied into the test bundle (Package.swift: `resources: [.copy("Fixtures")]`).
let fixtureDirectory = Fixture.directory

/// The model's results on the fixture's first batch at its initial parameters, in training mode.
struct Evaluation {
  var logits: [Double]
  var loss: Double
  var cost: Double
  var accuracy: Double
  /// Gradients of the cost: sums / n, plus `2 lambda W` on weights.
  var gradients: [String: [Double]]
}

func evaluate<T: Real>(_ fixture: Fixture, as _: T.Type) throws -> Evaluation {
  let model = fixture.model(T.self)
  let n = fixture.rows
  let x = fixture.x.data.map { T($0) }
  let labels = fixture.int32Labels
  let cache = ForwardCache<T>(architecture: model.architecture, capacity: n)
  var sums = [T](repeating: .nan, count: model.layout.count)
  try x.withUnsafeBufferPointer { px in
    try model.forward(px.baseAddress!, rows: n, mode: .training, batch: .local(n), cache: cache)
  }
  let (lossSum, correct) = labels.withUnsafeBufferPointer { model.loss(labels: $0.baseAddress!, cache: cache, gradient: true) }
  try x.withUnsafeBufferPointer { px in
    try sums.withUnsafeMutableBufferPointer { g in
      try model.backward(px.baseAddress!, cache: cache, batch: .local(n), gradients: g.baseAddress!, accumulate: false)
    }
  }
  let loss = lossSum / Double(n)
  var gradients: [String: [Double]] = [:]
  for slot in model.layout.slots {
    gradients[slot.name] = slot.range.map { i in
      Double(sums[i]) / Double(n) + (slot.kind == .weight ? 2 * fixture.config.lambda * Double(model.parameters[i]) : 0)
    }
  }
  return Evaluation(
    logits: cache.scoreValues.map(Double.init), loss: loss, cost: loss + fixture.config.lambda * model.weightPenalty(),
    accuracy: Double(correct) / Double(n), gradients: gradients)
}

@Suite("NumPy reference fixtures")
struct FixtureTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product.
  init() { _ = TestGEMM.backend }

  @Test("layouts name exactly the fixture's tensors", arguments: Fixture.names)
  func layoutNames(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let model = f.model(Double.self)
    let trainable = Set(model.layout.slots.map(\.name))
    let state = Set(model.stateLayout.slots.map(\.name))
    #expect(trainable == Set(f.expected.gradients.keys))
    #expect(trainable == Set(f.steps.velocities.keys))
    #expect(trainable.union(state) == Set(f.parameters.keys))
    #expect(state.isEmpty == !f.config.batchNorm)
    for slot in model.layout.slots {
      #expect(f.expected.gradients[slot.name]?.shape == slot.shape, "\(slot.name)")
    }
    #expect(model.layout.count == f.expected.gradients.values.reduce(0) { $0 + $1.data.count })
  }

  @Test("Double: logits, loss, cost, accuracy and every gradient to 1e-10", arguments: Fixture.names)
  func double(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let r = try evaluate(f, as: Double.self)
    let tol = 1e-10
    expectClose(r.logits, f.expected.logits.data, tolerance: tol, "\(name) logits")
    expectClose(r.loss, f.expected.loss, tolerance: tol, "\(name) loss")
    expectClose(r.cost, f.expected.cost, tolerance: tol, "\(name) cost")
    #expect(r.accuracy == f.expected.accuracy, "\(name) accuracy")
    for (gradientName, expected) in f.expected.gradients.sorted(by: { $0.key < $1.key }) {
      let actual = try #require(r.gradients[gradientName], "\(name): no gradient \(gradientName)")
      expectClose(actual, expected.data, tolerance: tol, "\(name) gradient \(gradientName)")
    }
  }

  @Test("Double: BatchNorm hidden-layer bias gradients are exactly zero", arguments: ["mlp2_ce_bn", "mlp3_svm_bn", "mlp4_ce_bn"])
  func batchNormBiasZero(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let r = try evaluate(f, as: Double.self)
    for l in 1..<(f.config.sizes.count - 1) {
      #expect(r.gradients["layer\(l).bias"]!.allSatisfy { $0 == 0 }, "\(name) layer\(l).bias")
      #expect(f.expected.gradients["layer\(l).bias"]!.data.allSatisfy { $0 == 0 })
    }
    // The output layer's bias has no BatchNorm after it and does get a gradient.
    let out = "layer\(f.config.sizes.count - 1).bias"
    #expect(r.gradients[out]!.contains { $0 != 0 })
  }

  @Test("Float: the same fixtures to 1e-4 relative", arguments: Fixture.names)
  func float(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let r = try evaluate(f, as: Float.self)
    let tol = 1e-4
    expectClose(r.logits, f.expected.logits.data, tolerance: tol, "\(name) Float logits")
    expectClose(r.loss, f.expected.loss, tolerance: tol, "\(name) Float loss")
    expectClose(r.cost, f.expected.cost, tolerance: tol, "\(name) Float cost")
    // The reference keeps every top-2 logit gap >= 1e-3, far above Float rounding.
    #expect(r.accuracy == f.expected.accuracy, "\(name) Float accuracy")
    for (gradientName, expected) in f.expected.gradients.sorted(by: { $0.key < $1.key }) {
      let actual = try #require(r.gradients[gradientName])
      expectClose(actual, expected.data, tolerance: tol, "\(name) Float gradient \(gradientName)")
    }
  }

  @Test("Evaluation without gradient gives the same loss; accumulate adds to the gradient", arguments: ["mlp2_ce", "mlp3_svm_bn"])
  func accumulate(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let model = f.model(Double.self)
    let n = f.rows
    let cache = ForwardCache<Double>(architecture: model.architecture, capacity: n + 3)
    let labels = f.int32Labels
    try model.forward(f.x.data, rows: n, mode: .training, batch: .local(n), cache: cache)
    let noGradient = model.loss(labels: labels, cache: cache, gradient: false)
    let withGradient = model.loss(labels: labels, cache: cache, gradient: true)
    #expect(noGradient.lossSum == withGradient.lossSum && noGradient.correct == withGradient.correct)
    var once = [Double](repeating: 0, count: model.layout.count)
    try model.backward(f.x.data, cache: cache, batch: .local(n), gradients: &once, accumulate: false)
    var twice = once
    // backward consumes the score gradient in the cache (its buffers are reused), so recompute it.
    _ = model.loss(labels: labels, cache: cache, gradient: true)
    try model.backward(f.x.data, cache: cache, batch: .local(n), gradients: &twice, accumulate: true)
    expectClose(twice, once.map { 2 * $0 }, tolerance: 1e-14, "\(name) accumulated gradient sums")
    // backward writes SUMS: dividing by n gives the fixture's loss gradient for the output bias.
    let L = f.config.sizes.count - 1
    let slot = model.layout.slot(named: "layer\(L).bias")!
    expectClose(
      slot.range.map { once[$0] / Double(n) }, f.expected.gradients["layer\(L).bias"]!.data, tolerance: 1e-10,
      "\(name) output bias gradient")
  }
}
