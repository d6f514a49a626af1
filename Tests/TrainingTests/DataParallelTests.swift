import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork
import TestSupport
import Testing
import Training

/// N ranks x their shards == 1 process x the global batch, with ranks as threads
/// (`InProcessGroup`); the same holds under mpirun (scripts/lib/mpi-tests.sh).
@Suite("Data parallelism: N ranks compute what one process computes")
struct DataParallelTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product.
  init() { _ = TestGEMM.backend }

  /// 420 random 4x6 "images", 3 classes, with a little class signal so training moves.
  static let data: (train: ImageSet, normalization: FeatureNormalization) = {
    let set = try! syntheticImages(count: 420, height: 4, width: 6, seed: 77, noise: 200, signal: 55)
    return (set, FeatureNormalization(computingOver: set))
  }()

  static func configuration(batchNorm: Bool, batchSize: Int, precision: Precision, bnSync: BatchNormSync = .global) -> TrainingConfiguration
  {
    var c = TrainingConfiguration()
    c.data = .idx(directory: "synthetic")
    c.validation = .last(0)
    c.architecture = ArchitectureSettings(hidden: [16, 12], batchNorm: batchNorm)
    c.seed = 5
    c.precision = precision
    c.batchSize = batchSize
    c.lambda = 1e-3
    c.schedule = .cyclical(etaMin: 1e-3, etaMax: 5e-2, stepSize: 10)
    c.epochs = 2
    c.bnSync = bnSync
    return c
  }

  /// Trains on `ranks` threads; returns every rank's final parameters and BatchNorm state.
  /// `sharesMemory: false` makes the ranks reduce-scatter their gradients instead of reading
  /// each other's in place.
  static func train<T: Real>(_: T.Type, ranks: Int, configuration: TrainingConfiguration, sharesMemory: Bool = true) throws -> [(
    parameters: [T], state: [T], checks: Int
  )] {
    let architecture = Architecture(
      inputSize: 24, hidden: configuration.architecture.hidden, classes: 3, batchNorm: configuration.architecture.batchNorm)
    return try InProcessGroup.run(size: ranks) { group in
      group.sharesMemory = sharesMemory
      // Non-zero ranks start from a different (zero) model: the broadcast must fix that.
      let model =
        group.rank == 0
        ? MLP<T>(architecture: architecture, initialization: .he, seed: configuration.seed)
        : MLP<T>(architecture: architecture)
      let trainer = Trainer<T>(
        configuration: configuration, model: model, train: data.train, validation: nil,
        normalization: data.normalization, communicator: group)
      let result = try trainer.trainOnly()
      return (trainer.model.parameters, trainer.model.state, result.replicaChecks)
    }
  }

  /// Largest |a - b| over a tensor divided by the tensor's largest |b|, over all tensors.
  static func relativeDifference<T: Real>(_ a: [T], _ b: [T], layout: ParameterLayout) -> Double {
    layout.slots.map { slot in
      let scale = slot.range.map { abs(Double(b[$0])) }.max()!
      let diff = slot.range.map { abs(Double(a[$0]) - Double(b[$0])) }.max()!
      return scale == 0 ? diff : diff / scale
    }.max()!
  }

  struct Case: Sendable, CustomTestStringConvertible {
    var ranks: Int, batchNorm: Bool, batchSize: Int
    var testDescription: String { "\(ranks) ranks, batch \(batchSize)\(batchNorm ? ", BatchNorm" : "")" }
  }

  // Batch sizes that do not divide by the rank count (and a last partial batch: 420 % 50 = 20).
  static let cases: [Case] = [2, 3, 4].flatMap { n in [false, true].map { Case(ranks: n, batchNorm: $0, batchSize: n == 2 ? 35 : 50) } }

  @Test("float: parameters after 2 epochs agree with 1 rank to 1e-5; replicas bitwise identical", arguments: cases)
  func float(_ c: Case) throws {
    let configuration = Self.configuration(batchNorm: c.batchNorm, batchSize: c.batchSize, precision: .float)
    let one = try Self.train(Float.self, ranks: 1, configuration: configuration)[0]
    let many = try Self.train(Float.self, ranks: c.ranks, configuration: configuration)
    let layout = Architecture(inputSize: 24, hidden: [16, 12], classes: 3, batchNorm: c.batchNorm).parameterLayout()
    let difference = Self.relativeDifference(many[0].parameters, one.parameters, layout: layout)
    #expect(difference < 1e-5, "relative difference \(difference)")
    #expect(difference > 0 || c.ranks == 1, "identical bits would mean the ranks did not split the batch")
    for r in many { #expect(r.parameters == many[0].parameters && r.state == many[0].state) }
    #expect(many[0].checks == 2, "replica checks at each epoch's end (the last step is one)")
  }

  @Test("double: parameters after 2 epochs agree with 1 rank to 1e-12", arguments: cases)
  func double(_ c: Case) throws {
    let configuration = Self.configuration(batchNorm: c.batchNorm, batchSize: c.batchSize, precision: .double)
    let one = try Self.train(Double.self, ranks: 1, configuration: configuration)[0]
    let many = try Self.train(Double.self, ranks: c.ranks, configuration: configuration)
    let layout = Architecture(inputSize: 24, hidden: [16, 12], classes: 3, batchNorm: c.batchNorm).parameterLayout()
    let difference = Self.relativeDifference(many[0].parameters, one.parameters, layout: layout)
    #expect(difference < 1e-12, "relative difference \(difference)")
    for r in many { #expect(r.parameters == many[0].parameters && r.state == many[0].state) }
    // BatchNorm running statistics (state) agree too: they come from the global batch.
    if c.batchNorm {
      let stateDifference = zip(many[0].state, one.state).map { abs($0 - $1) / max(1, abs($1)) }.max()!
      #expect(stateDifference < 1e-12, "running statistics differ by \(stateDifference)")
    }
  }

  @Test("the fused update (gradients read in place) gives the bits of reduce-scatter then update", arguments: cases)
  func fusedEqualsReduceScatter(_ c: Case) throws {
    let configuration = Self.configuration(batchNorm: c.batchNorm, batchSize: c.batchSize, precision: .float)
    let fused = try Self.train(Float.self, ranks: c.ranks, configuration: configuration)
    let separate = try Self.train(Float.self, ranks: c.ranks, configuration: configuration, sharesMemory: false)
    for (a, b) in zip(fused, separate) { #expect(a.parameters == b.parameters && a.state == b.state) }
  }

  @Test("local BatchNorm: a different model, replicas still identical after the count-weighted merge")
  func localBatchNorm() throws {
    let configuration = Self.configuration(batchNorm: true, batchSize: 50, precision: .double, bnSync: .local)
    let global = try Self.train(
      Double.self, ranks: 2, configuration: Self.configuration(batchNorm: true, batchSize: 50, precision: .double))
    let results = try InProcessGroup.run(size: 2) { group -> ([Double], [Double]) in
      let architecture = Architecture(inputSize: 24, hidden: [16, 12], classes: 3, batchNorm: true)
      let trainer = Trainer<Double>(
        configuration: configuration, model: MLP(architecture: architecture, initialization: .he, seed: 5),
        train: Self.data.train, validation: nil, normalization: Self.data.normalization, communicator: group)
      _ = try trainer.trainOnly()
      let before = trainer.model.state
      try trainer.mergeRunningStatistics()
      return (before, trainer.model.state)
    }
    // Per-rank statistics differ before the merge, agree after it, and differ from global sync.
    #expect(results[0].0 != results[1].0)
    #expect(results[0].1 == results[1].1)
    #expect(results[0].1 != global[0].state)
    // The pooled mean is the count-weighted mean of the two ranks' means (equal counts here:
    // 420 samples in batches of 50 split 25/25 and the last 20 split 10/10).
    let layout = Architecture(inputSize: 24, hidden: [16, 12], classes: 3, batchNorm: true).stateLayout()
    let m = layout.slot(named: "layer1.running_mean")!.range
    for i in m {
      #expect(abs(results[0].1[i] - (results[0].0[i] + results[1].0[i]) / 2) < 1e-12)
    }
  }

  @Test("the replica check names a rank whose parameters differ")
  func replicaCheckCatchesDivergence() throws {
    let configuration = Self.configuration(batchNorm: false, batchSize: 50, precision: .float)
    let outcomes = try InProcessGroup.run(size: 3) { group -> String in
      let architecture = Architecture(inputSize: 24, hidden: [16, 12], classes: 3)
      let trainer = Trainer<Float>(
        configuration: configuration, model: MLP(architecture: architecture, initialization: .he, seed: 5),
        train: Self.data.train, validation: nil, normalization: Self.data.normalization, communicator: group)
      try trainer.broadcastInitialState()
      try trainer.checkReplicas()  // identical after the broadcast
      if group.rank == 2 { trainer.corruptParameterForTesting() }
      do {
        try trainer.checkReplicas()
        return "passed"
      } catch let error as TrainingError {
        return "\(error)"
      }
    }
    for o in outcomes { #expect(o.contains("rank(s) 2 differ from rank 0"), "\(o)") }
  }
}

@Suite("Checkpoint and resume")
struct CheckpointResumeTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product.
  init() { _ = TestGEMM.backend }

  /// Trains 2 epochs on `ranks` threads; with `resumeAt`, a second trainer restores the state a
  /// checkpoint took at that epoch's end (through the file format) and finishes the run.
  static func train(ranks: Int, bnSync: BatchNormSync, resumeAt: Int?, resumeRanks: Int? = nil) throws -> [Float] {
    let configuration = {
      var c = DataParallelTests.configuration(batchNorm: true, batchSize: 50, precision: .float, bnSync: bnSync)
      c.checkpointEvery = .epoch
      return c
    }()
    let data = DataParallelTests.data
    let architecture = Architecture(inputSize: 24, hidden: configuration.architecture.hidden, classes: 3, batchNorm: true)
    let dir = NSTemporaryDirectory() + "dptrain-ckpt-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try InProcessGroup.run(size: ranks) { group in
      let trainer = Trainer<Float>(
        configuration: configuration, model: MLP(architecture: architecture, initialization: .he, seed: 5), train: data.train,
        validation: nil, normalization: data.normalization, communicator: group)
      final class Stop: Error {}
      do {
        _ = try trainer.run { t in
          let state = try t.checkpointState()
          if group.rank == 0 { try Checkpoint.write(state, to: dir) }
          if let resumeAt, t.step / t.stepsPerEpoch == resumeAt { throw Stop() }
        }
      } catch is Stop {}
      return trainer.model.parameters
    }
    guard resumeAt != nil else { return first[0] }
    let state = try Checkpoint.read(from: dir, as: Float.self)
    return try InProcessGroup.run(size: resumeRanks ?? ranks) { group in
      let trainer = Trainer<Float>(
        configuration: configuration, model: MLP(architecture: architecture), train: data.train, validation: nil,
        normalization: data.normalization, communicator: group)
      trainer.restore(state)
      _ = try trainer.run()
      return trainer.model.parameters
    }[0]
  }

  @Test(
    "stopped after epoch 1 and resumed from the checkpoint file: the parameters of an uninterrupted run, bit for bit",
    arguments: [(1, BatchNormSync.global), (2, .global), (3, .local)])
  func bitIdentical(ranks: Int, bnSync: BatchNormSync) throws {
    let uninterrupted = try Self.train(ranks: ranks, bnSync: bnSync, resumeAt: nil)
    let resumed = try Self.train(ranks: ranks, bnSync: bnSync, resumeAt: 1)
    #expect(resumed == uninterrupted)
  }

  @Test("resuming a 2-rank checkpoint on 3 ranks finishes the same run up to summation order")
  func otherRankCount() throws {
    let uninterrupted = try Self.train(ranks: 2, bnSync: .global, resumeAt: nil)
    let resumed = try Self.train(ranks: 2, bnSync: .global, resumeAt: 1, resumeRanks: 3)
    let difference = zip(resumed, uninterrupted).map { abs(Double($0) - Double($1)) }.max()!
    #expect(difference < 1e-4 && difference > 0, "\(difference)")
  }
}

@Suite("Evaluation shared by the ranks")
struct SharedEvaluationTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product: without
  /// it, a suite running alongside could switch the backend between `alone` and `shared`.
  init() { _ = TestGEMM.backend }

  /// 2,450 samples in chunks of 1,000 and of 300 (9 chunks: ranks get 3, 3 and 3, or 5 and 4),
  /// a trained-looking model (He init): every rank's result equals one process's, to the bit.
  @Test("each rank evaluates a share of the chunks; loss, cost and accuracy equal one process's to the bit", arguments: [2, 3])
  func sharedEqualsAlone(ranks: Int) throws {
    let set = try syntheticImages(count: 2450, height: 4, width: 6, seed: 3, noise: 200, signal: 55)
    let normalization = FeatureNormalization(computingOver: set)
    let mean = normalization.mean.map { Float($0) }
    let invStd = normalization.invStd.map { Float($0) }
    // The same model on every rank (built from its seed there: a model is not Sendable).
    @Sendable func model() -> MLP<Float> {
      MLP<Float>(architecture: Architecture(inputSize: 24, hidden: [16], classes: 3, batchNorm: false), initialization: .he, seed: 9)
    }
    for chunk in [1000, 300] {
      let alone = try Evaluation.evaluate(model: model(), set: set, mean: mean, invStd: invStd, lambda: 1e-3, chunk: chunk)
      let shared = try InProcessGroup.run(size: ranks) { group in
        try Evaluation.evaluate(model: model(), set: set, mean: mean, invStd: invStd, lambda: 1e-3, chunk: chunk, communicator: group)
      }
      for s in shared {
        #expect(s.loss.bitPattern == alone.loss.bitPattern && s.cost.bitPattern == alone.cost.bitPattern)
        #expect(s.accuracy == alone.accuracy)
      }
      #expect(alone.loss.isFinite && alone.accuracy > 0)
    }
  }
}

@Suite("Slow ranks named")
struct SlowRankTests {
  @Test("a rank above 1.5x the other ranks' median compute per step is named; below, or too short an interval, is not")
  func find() {
    let hosts = ["a", "b", "c", "d"]
    let slow = SlowRank.find(compute: [1.0, 1.1, 2.0, 0.9], hosts: hosts, firstStep: 11, lastStep: 20)
    #expect(slow.map(\.rank) == [2] && slow[0].host == "c" && slow[0].firstStep == 11 && slow[0].lastStep == 20)
    #expect(abs(slow[0].secondsPerStep - 0.2) < 1e-12 && abs(slow[0].othersMedianSecondsPerStep - 0.1) < 1e-12)
    #expect(abs(slow[0].ratio - 2) < 1e-12)
    #expect(SlowRank.find(compute: [1.0, 1.4, 1.0], hosts: hosts, firstStep: 1, lastStep: 10).isEmpty, "1.4x: not slow")
    #expect(SlowRank.find(compute: [0.01, 0.04], hosts: hosts, firstStep: 1, lastStep: 10).isEmpty, "0.04 s: too little to judge")
    // Two ranks: each is compared with the other.
    #expect(SlowRank.find(compute: [0.2, 0.5], hosts: hosts, firstStep: 1, lastStep: 10).map(\.rank) == [1])
  }

  @Test("in-process ranks exchange their host names, in rank order")
  func hostNames() throws {
    let names = try InProcessGroup.run(size: 3) { group in try SlowRank.hostNames(group) }
    for n in names { #expect(n == [String](repeating: SlowRank.hostName, count: 3)) }
    #expect(!SlowRank.hostName.isEmpty)
  }
}
