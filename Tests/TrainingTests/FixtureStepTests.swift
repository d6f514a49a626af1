import Foundation
import LinearAlgebra
import NeuralNetwork
import Testing
import TestSupport
import Training

/// The NumPy fixtures (Tests/NeuralNetworkTests/Fixtures).
let fixtureDirectory = Fixture.directory

struct StepResult {
  var losses: [Double] = []
  var costs: [Double] = []
  var model: MLP<Double>
  var optimizer: MomentumSGD<Double>
  var inferenceLogits: [Double] = []
}

/// The reference's 3 steps: training forward on batch i -> loss/cost -> backward -> running
/// averages from that same forward pass -> momentum step (or the step first, with
/// `statisticsAfterStep`) -> after the 3 steps, inference logits on batch 1.
func runSteps<T: Real>(_ f: Fixture, as _: T.Type, statisticsAfterStep: Bool = false) throws -> (StepResult, [T]) {
  var model = f.model(T.self)
  var optimizer = MomentumSGD<T>(layout: model.layout, momentum: f.config.rho, lambda: f.config.lambda)
  let capacity = f.steps.batches.map(\.labels.count).max()!
  let cache = ForwardCache<T>(architecture: model.architecture, capacity: capacity)
  var sums = [T](repeating: 0, count: model.layout.count)
  var losses: [Double] = [], costs: [Double] = []
  for batch in f.steps.batches {
    let n = batch.labels.count
    let x = batch.x.data.map { T($0) }
    let labels = batch.labels.map(Int32.init)
    try model.forward(x, rows: n, mode: .training, batch: .local(n), cache: cache)
    let (lossSum, _) = model.loss(labels: labels, cache: cache, gradient: true)
    losses.append(lossSum / Double(n))
    costs.append(lossSum / Double(n) + f.config.lambda * model.weightPenalty())
    try model.backward(x, cache: cache, batch: .local(n), gradients: &sums, accumulate: false)
    // The reference's running mean is the batch mean of z = X W^T + b with the bias BEFORE the
    // step (it is computed in the forward pass), so the update comes before the step.
    if !statisticsAfterStep { model.updateRunningStatistics(from: cache, alpha: T(f.config.alpha)) }
    optimizer.step(parameters: &model.parameters, layout: model.layout, gradientSums: sums, batchCount: n, eta: f.config.eta)
    if statisticsAfterStep { model.updateRunningStatistics(from: cache, alpha: T(f.config.alpha)) }
  }
  let x1 = f.x.data.map { T($0) }
  try model.forward(x1, rows: f.rows, mode: .inference, batch: .local(f.rows), cache: cache)
  var dmodel = MLP<Double>(architecture: model.architecture)
  dmodel.parameters = model.parameters.map(Double.init)
  dmodel.state = model.state.map(Double.init)
  var dopt = MomentumSGD<Double>(layout: model.layout, momentum: f.config.rho, lambda: f.config.lambda)
  dopt.velocity = optimizer.velocity.map(Double.init)
  let result = StepResult(losses: losses, costs: costs, model: dmodel, optimizer: dopt, inferenceLogits: cache.scoreValues.map(Double.init))
  return (result, model.parameters)
}

func compareSteps(_ f: Fixture, _ r: StepResult, tolerance tol: Double, _ label: String) {
  expectClose(r.losses, f.steps.loss, tolerance: tol, "\(label) \(f.name) losses before each step")
  expectClose(r.costs, f.steps.cost, tolerance: tol, "\(label) \(f.name) costs before each step")
  for slot in r.model.layout.slots {
    expectClose(Array(r.model.parameters[slot.range]), f.steps.parameters[slot.name]!.data, tolerance: tol, "\(label) \(f.name) final \(slot.name)")
    expectClose(Array(r.optimizer.velocity[slot.range]), f.steps.velocities[slot.name]!.data, tolerance: tol, "\(label) \(f.name) velocity \(slot.name)")
  }
  for slot in r.model.stateLayout.slots {
    expectClose(Array(r.model.state[slot.range]), f.steps.parameters[slot.name]!.data, tolerance: tol, "\(label) \(f.name) final \(slot.name)")
  }
  expectClose(r.inferenceLogits, f.steps.inferenceLogits.data, tolerance: tol, "\(label) \(f.name) inference logits after the steps")
}

@Suite("Fixture momentum steps")
struct FixtureStepTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product.
  init() { _ = TestGEMM.backend }

  @Test("fixture files are found relative to #filePath")
  func fixturesFound() throws {
    for name in Fixture.names {
      #expect(FileManager.default.fileExists(atPath: fixtureDirectory.appendingPathComponent(name + ".json").path), "\(name)")
    }
  }

  @Test("Double: 3 momentum steps match the reference to 1e-9", arguments: Fixture.names)
  func double(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    #expect(f.steps.batches.count == 3)
    let (r, _) = try runSteps(f, as: Double.self)
    compareSteps(f, r, tolerance: 1e-9, "Double")
    // Sanity: the steps moved the parameters (the comparison is not trivially of initial values).
    let w1 = f.parameters["layer1.weight"]!.data, w1After = f.steps.parameters["layer1.weight"]!.data
    #expect(worstScaledError(w1After, w1).error > 1e-4)
  }

  @Test("Float: 3 momentum steps match the reference to 1e-4", arguments: Fixture.names)
  func float(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let (r, _) = try runSteps(f, as: Float.self)
    compareSteps(f, r, tolerance: 1e-4, "Float")
  }

  /// The hidden biases under BatchNorm have an exactly zero gradient and no L2 term, so they never
  /// move, and the running mean is the same whether it is updated before or after the step.
  @Test("BatchNorm: hidden biases never move, so the running-average order is immaterial",
        arguments: ["mlp2_ce_bn", "mlp3_svm_bn", "mlp4_ce_bn"])
  func statisticsOrder(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let (before, _) = try runSteps(f, as: Double.self, statisticsAfterStep: false)
    let (after, _) = try runSteps(f, as: Double.self, statisticsAfterStep: true)
    #expect(before.model.state == after.model.state)
    for l in 1..<(f.config.sizes.count - 1) {
      let slot = before.model.layout.slot(named: "layer\(l).bias")!
      #expect(Array(before.model.parameters[slot.range]) == f.parameters["layer\(l).bias"]!.data, "layer\(l).bias moved")
      #expect(before.optimizer.velocity[slot.range].allSatisfy { $0 == 0 })
    }
    compareSteps(f, after, tolerance: 1e-9, "statistics after step")
  }
}
