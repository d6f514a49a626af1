import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork
import TestSupport
import Testing
import Training

/// The NumPy fixtures (Tests/NeuralNetworkTests/Fixtures).
let fixtureDirectory = Fixture.directory

/// The fixture's three batches, in order, as the Trainer's training set: batch size n and no
/// shuffling make step i train on batch i.
struct FixtureSamples: SampleSource {
  let rows: [[Double]]
  let labels: [Int32]
  let features: Int

  init(_ f: Fixture) {
    features = f.config.sizes[0]
    var rows: [[Double]] = []
    var labels: [Int32] = []
    for batch in f.steps.batches {
      for r in 0..<batch.labels.count { rows.append(Array(batch.x.data[(r * features)..<((r + 1) * features)])) }
      labels += batch.labels.map(Int32.init)
    }
    self.rows = rows
    self.labels = labels
  }

  var count: Int { labels.count }

  func gather<T: Real>(
    indices: ArraySlice<Int>, mean: [T], invStd: [T], into x: UnsafeMutablePointer<T>, labels y: UnsafeMutablePointer<Int32>
  ) {
    for (r, i) in indices.enumerated() {
      for j in 0..<features { x[r * features + j] = (T(rows[i][j]) - mean[j]) * invStd[j] }
      y[r] = labels[i]
    }
  }

  func prefetch(indices: ArraySlice<Int>) {}
}

struct StepResult {
  var losses: [Double] = []
  var costs: [Double] = []
  var model: MLP<Double>
  var velocity: [Double]
  var inferenceLogits: [Double] = []
}

/// The batch loss of every step, and the weight penalty after it (before the next step).
final class StepRecorder<T: Real>: TrainingObserver {
  weak var trainer: Trainer<T>?
  var losses: [Double] = []
  var penalties: [Double] = []
  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {
    losses.append(batchLoss)
    penalties.append(trainer!.model.weightPenalty())
  }
  func trainingDidEvaluate(_ row: MetricsRow) {}
}

/// The reference's 3 steps on the real Trainer, data-parallel over `ranks` in-process ranks
/// (BatchNorm statistics of the global batch): a training-mode forward pass on batch i, the
/// loss, backward, the running averages from that same pass, the momentum step; then the
/// inference logits on batch 1. Every rank must end with the same model; rank 0's is returned.
func trainSteps<T: Real>(_ f: Fixture, as _: T.Type, ranks: Int) throws -> StepResult {
  var configuration = TrainingConfiguration()
  let architecture = f.architecture
  configuration.architecture = ArchitectureSettings(hidden: architecture.hidden, batchNorm: architecture.batchNorm, loss: architecture.loss)
  configuration.architecture.batchNormEpsilon = f.config.eps
  configuration.precision = T.self == Float.self ? .float : .double
  configuration.batchSize = f.rows
  configuration.shuffle = false
  configuration.momentum = f.config.rho
  configuration.lambda = f.config.lambda
  configuration.bnAlpha = f.config.alpha
  configuration.schedule = .constant(eta: f.config.eta)
  configuration.epochs = 1
  let samples = FixtureSamples(f)
  let identity = try FeatureNormalization(
    mean: .init(repeating: 0, count: samples.features), std: .init(repeating: 1, count: samples.features))
  nonisolated(unsafe) let initial = f.model(T.self)
  let fixed = configuration
  let results = try InProcessGroup.run(size: ranks) { group -> (StepRecorder<T>, MLP<T>, [T]) in
    let trainer = Trainer<T>(
      configuration: fixed, model: initial, train: samples, validation: nil, normalization: identity, communicator: group)
    let recorder = StepRecorder<T>()
    recorder.trainer = trainer
    let result = try trainer.run(observer: recorder)
    precondition(result.steps == 3)
    // Each rank updated its segment of the momentum buffer; the checkpoint's is the whole.
    return (recorder, trainer.model, try trainer.checkpointState().velocity)
  }
  for (_, model, velocity) in results {
    #expect(model.parameters == results[0].1.parameters && model.state == results[0].1.state && velocity == results[0].2)
  }
  let (recorder, model, velocity) = results[0]
  var r = StepResult(model: MLP<Double>(architecture: model.architecture), velocity: velocity.map(Double.init))
  r.model.parameters = model.parameters.map(Double.init)
  r.model.state = model.state.map(Double.init)
  r.losses = recorder.losses
  let penalties = [initial.weightPenalty()] + recorder.penalties.dropLast()
  r.costs = zip(recorder.losses, penalties).map { $0 + f.config.lambda * $1 }
  let cache = ForwardCache<T>(architecture: model.architecture, capacity: f.rows)
  let x = f.x.data.map { T($0) }
  try model.forward(x, rows: f.rows, mode: .inference, batch: .local(f.rows), cache: cache)
  r.inferenceLogits = cache.scoreValues.map(Double.init)
  return r
}

func compareSteps(_ f: Fixture, _ r: StepResult, tolerance tol: Double, _ label: String) {
  expectClose(r.losses, f.steps.loss, tolerance: tol, "\(label) \(f.name) losses before each step")
  expectClose(r.costs, f.steps.cost, tolerance: tol, "\(label) \(f.name) costs before each step")
  for slot in r.model.layout.slots {
    expectClose(
      Array(r.model.parameters[slot.range]), f.steps.parameters[slot.name]!.data, tolerance: tol, "\(label) \(f.name) final \(slot.name)")
    expectClose(
      Array(r.velocity[slot.range]), f.steps.velocities[slot.name]!.data, tolerance: tol, "\(label) \(f.name) velocity \(slot.name)")
  }
  for slot in r.model.stateLayout.slots {
    expectClose(
      Array(r.model.state[slot.range]), f.steps.parameters[slot.name]!.data, tolerance: tol, "\(label) \(f.name) final \(slot.name)")
  }
  expectClose(r.inferenceLogits, f.steps.inferenceLogits.data, tolerance: tol, "\(label) \(f.name) inference logits after the steps")
}

/// The real Trainer (batch order, shards, gradient exchange, momentum step, running averages)
/// against the NumPy reference's three steps, on one rank and data-parallel.
@Suite("Fixture momentum steps, by the Trainer")
struct FixtureStepTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product.
  init() { _ = TestGEMM.backend }

  @Test("fixture files are found relative to #filePath")
  func fixturesFound() throws {
    for name in Fixture.names {
      #expect(FileManager.default.fileExists(atPath: fixtureDirectory.appendingPathComponent(name + ".json").path), "\(name)")
    }
  }

  @Test("Double: 3 momentum steps of the Trainer on 1, 2 and 3 ranks match the reference to 1e-9", arguments: Fixture.names)
  func double(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    #expect(f.steps.batches.count == 3)
    for ranks in 1...3 {
      compareSteps(f, try trainSteps(f, as: Double.self, ranks: ranks), tolerance: 1e-9, "Double, \(ranks) rank(s)")
    }
    // Sanity: the steps moved the parameters (the comparison is not trivially of initial values).
    let w1 = f.parameters["layer1.weight"]!.data
    let w1After = f.steps.parameters["layer1.weight"]!.data
    #expect(worstScaledError(w1After, w1).error > 1e-4)
  }

  @Test("Float: 3 momentum steps of the Trainer on 1 and 2 ranks match the reference to 1e-4", arguments: Fixture.names)
  func float(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    for ranks in 1...2 {
      compareSteps(f, try trainSteps(f, as: Float.self, ranks: ranks), tolerance: 1e-4, "Float, \(ranks) rank(s)")
    }
  }

  /// The hidden biases under BatchNorm have an exactly zero gradient and no L2 term, so they never
  /// move; the running mean is then the same whether it is updated before or after the step
  /// (the Trainer updates it after, from the forward pass's statistics).
  @Test("BatchNorm: the Trainer never moves the hidden biases", arguments: ["mlp2_ce_bn", "mlp3_svm_bn", "mlp4_ce_bn"])
  func hiddenBiasesStay(name: String) throws {
    let f = try Fixture.load(name, directory: fixtureDirectory)
    let r = try trainSteps(f, as: Double.self, ranks: 1)
    for l in 1..<(f.config.sizes.count - 1) {
      let slot = r.model.layout.slot(named: "layer\(l).bias")!
      #expect(Array(r.model.parameters[slot.range]) == f.parameters["layer\(l).bias"]!.data, "layer\(l).bias moved")
      #expect(r.velocity[slot.range].allSatisfy { $0 == 0 })
    }
  }
}
