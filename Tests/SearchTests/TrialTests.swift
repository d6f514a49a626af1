import Datasets
import Distributed
import Foundation
import LinearAlgebra
import TestSupport
import Testing
import Training

@testable import Search

/// Trials as configurations: built from a spec without a command line, rendered into the
/// command that reproduces them, and trained by `TrialRunner` under `swift test`.
struct TrialTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product; the
  /// trials name it, so they do not switch the process's backend under other suites.
  init() { _ = TestGEMM.backend }

  static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples").standardized
    .path

  /// Every configuration a shipped spec's first round plans (and its final run): rendered,
  /// read back and written as config.json, it is the same configuration.
  @Test(arguments: ["quick-sweep.yaml", "grid.yaml", "coarse-to-fine.yaml", "successive-halving.yaml"])
  func everyShippedSpecRoundTrips(_ file: String) throws {
    let path = "\(Self.examples)/\(file)"
    let spec = try SweepSpec.load(path: path)
    try spec.checkTrials(file: path)
    let round = try #require(SweepPlanner(spec: spec).nextRound(after: []))
    #expect(!round.configurations.isEmpty)
    for planned in round.configurations {
      for overrides in [[:], spec.final ?? [:]] {
        let c = try TrialConfiguration.make(
          base: spec.base, overrides: overrides, parameters: planned.parameters, searchOrder: spec.parameters.map(\.name),
          budget: planned.budget, unit: spec.budgetUnit, seed: spec.seed, blasThreads: 1, gemm: "openblas")
        #expect(try TrainingConfiguration(arguments: c.arguments) == c, "\(file): \(c.arguments)")
        #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: JSONEncoder().encode(c)) == c)
        // The searched values arrive unrounded.
        for (name, value) in planned.parameters where ["eta", "lambda", "momentum"].contains(name) {
          #expect(c.optionValue(name).flatMap(Double.init) == value.doubleValue, "\(name)")
        }
      }
    }
  }

  @Test func parametersApplyOverTheBaseAndTheBudgetReplacesItsLength() throws {
    let c = try TrialConfiguration.make(
      base: ["hidden": .string("50"), "epochs": .integer(3), "cyclical": .string("1e-5,0.1"), "batch_norm": .bool(true)],
      parameters: ["eta-max": .number(0.05), "n-s": .integer(200), "lambda": .number(1e-4)], searchOrder: ["eta-max", "n-s", "lambda"],
      budget: 2, unit: .cycles, seed: 9, blasThreads: 2)
    #expect(c.schedule == .cyclical(etaMin: 1e-5, etaMax: 0.05, stepSize: 200) && c.cycles == 2 && c.epochs == nil)
    #expect(c.lambda == 1e-4 && c.seed == 9 && c.blasThreads == 2 && c.architecture.batchNorm)
    #expect(throws: ConfigurationError.self) {
      try TrialConfiguration.make(base: ["seed": .integer(3)], parameters: [:], searchOrder: [], budget: nil, unit: .epochs, seed: 1)
    }
    #expect(throws: ConfigurationError.self) {
      try TrialConfiguration.make(
        base: [:], parameters: ["eta-min": .number(1e-3)], searchOrder: ["eta-min"], budget: nil, unit: .epochs, seed: 1)
    }
  }

  @Test func aSpecWithAnImpossibleValueIsRefusedNamingTheFieldAndTheOption() throws {
    let spec = SweepSpec(
      base: ["hidden": .string("20")],
      parameters: [SearchParameter(name: "momentum", domain: .uniform(low: 0.5, high: 1.5))], strategy: .random(trials: 2))
    #expect {
      try spec.checkTrials(file: "bad.yaml")
    } throws: { "\($0)" == "bad.yaml: search (every parameter at its high end): --momentum must be in [0, 1), got 1.5" }
  }

  // MARK: - Training trials in process

  /// 300 random 6x6 images in 3 classes: 240 to train, 60 to validate.
  static let data: DatasetSplits = {
    let all = try! syntheticImages(count: 300, height: 6, width: 6, seed: 3, noise: 180, signal: 70)
    let train = all.prefix(240)
    return DatasetSplits(
      train: train, validation: all.suffix(60), test: all.suffix(60), normalization: FeatureNormalization(computingOver: train),
      source: .idx(directory: "synthetic"), sourceDescription: "300 synthetic images")
  }()

  static func configuration(_ extra: [(name: String, value: String)] = []) throws -> TrainingConfiguration {
    try TrainingConfiguration(
      options: [
        ("data", "idx:synthetic"), ("validation", "60"), ("hidden", "16"), ("batch-norm", "true"), ("batch-size", "20"),
        ("epochs", "3"), ("seed", "4"), ("gemm", TestGEMM.backend.rawValue), ("blas-threads", "1"),
      ] + extra)
  }

  static func runner(_ group: any Communicator, directory: String) -> TrialRunner {
    let runner = TrialRunner(group: group, sweepDirectory: directory)
    for includeTest in [false, true] { runner.data[TrialRunner.dataKey(try! configuration(), includeTest: includeTest)] = data }
    return runner
  }

  static func temporaryDirectory() -> String { NSTemporaryDirectory() + "dptrain-trial-\(UUID().uuidString)" }

  /// In double precision, 2 ranks agree with one process to 1e-12 (the global batch's sums in
  /// another order); rank 0 reports the metrics.
  @Test func aTrialOnTwoRanksReportsWhatOneProcessReports() throws {
    let work = TrialWork(id: 1, configuration: try Self.configuration([("precision", "double"), ("gemm", "openblas")]), isFinal: false)
    let one = try Self.runner(SingleProcessCommunicator(), directory: Self.temporaryDirectory()).run(work, poll: nil)
    #expect(one.status == .finished && one.metrics.count == 3 && one.steps == 36, "\(one)")
    let directory = Self.temporaryDirectory()
    let two = try InProcessGroup.run(size: 2) { group in try Self.runner(group, directory: directory).run(work, poll: nil) }
    #expect(two.allSatisfy { $0.status == .finished && $0.steps == 36 })
    #expect(two[0].metrics.count == 3)
    for (a, b) in zip(two[0].metrics, one.metrics) {
      #expect(a.step == b.step && a.valAccuracy == b.valAccuracy)
      #expect(abs(a.trainCost - b.trainCost) < 1e-12 * b.trainCost && abs(a.valLoss! - b.valLoss!) < 1e-12 * b.valLoss!)
    }
  }

  @Test func aTrialStoppedMidwayContinuesFromItsCheckpointToTheSameResult() throws {
    let work = TrialWork(id: 7, configuration: try Self.configuration([("checkpoint-every", "5")]), isFinal: false)
    let whole = try Self.runner(SingleProcessCommunicator(), directory: Self.temporaryDirectory()).run(work, poll: nil)
    let directory = Self.temporaryDirectory()
    let stopped = Self.runner(SingleProcessCommunicator(), directory: directory)
    var polls = 0
    stopped.stopRequested = {
      polls += 1
      return polls >= 17
    }
    #expect {
      try stopped.run(work, poll: nil)
    } throws: { error in
      if case .interrupted(let step)? = error as? TrainingError { return step == 17 }
      return false
    }
    #expect(FileManager.default.fileExists(atPath: "\(directory)/checkpoints/trial-7/checkpoint.safetensors"))
    let resumed = try Self.runner(SingleProcessCommunicator(), directory: directory).run(work, poll: nil)
    #expect(resumed.resumedFromStep == 17)
    #expect(resumed.metrics == whole.metrics)
    #expect(!FileManager.default.fileExists(atPath: "\(directory)/checkpoints/trial-7"))
  }

  @Test func theFinalRunWritesARunDirectoryAndTheTestAccuracy() throws {
    let directory = Self.temporaryDirectory()
    let work = TrialWork(id: 3, configuration: try Self.configuration(), isFinal: true)
    let report = try Self.runner(SingleProcessCommunicator(), directory: directory).run(work, poll: nil)
    let accuracy = try #require(report.testAccuracy)
    #expect(accuracy > 0.5)
    for file in ["config.json", "metrics.csv", "summary.json", "model.safetensors"] {
      #expect(FileManager.default.fileExists(atPath: "\(directory)/final/\(file)"), "\(file)")
    }
    let written = try JSONDecoder().decode(
      TrainingConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/final/config.json")))
    #expect(
      written.architecture.resolved?.shapeDescription == "36-16-3" && written.ranks == 1 && written.gemm == GEMMRequest(TestGEMM.backend))
  }

  @Test func aTrialThatCannotStartIsReportedFailedNamingTheOption() throws {
    let work = TrialWork(id: 2, configuration: try Self.configuration([("batch-size", "500")]), isFinal: false)
    let report = try Self.runner(SingleProcessCommunicator(), directory: Self.temporaryDirectory()).run(work, poll: nil)
    #expect(report.status == .failed && report.error == "--batch-size 500 exceeds the 240 training samples")
  }
}

/// Busy shares from trial records: each rank's time inside trials over the sweep's wall time.
struct BusySharesTests {
  static func trial(_ id: Int, ranks: String, from start: Double, to end: Double?, running: Bool = false) -> TrialRecord {
    var t = TrialRecord(id: id, round: 0, key: id, repeatIndex: 0, seed: 1, parameters: [:], budget: nil, arguments: [])
    t.ranks = ranks
    t.startedAt = start
    t.finishedAt = end
    t.status = running ? .running : .finished
    return t
  }

  @Test func sharesCountEveryRankOfAGroupAndRunningTrialsUntilNow() throws {
    // Rank 0: [0, 6] and [6, 10]; rank 1: [0, 4], then idle until the 2-rank trial [10, 20].
    let trials = [
      Self.trial(1, ranks: "0", from: 100, to: 106), Self.trial(2, ranks: "1", from: 100, to: 104),
      Self.trial(3, ranks: "0", from: 106, to: 110), Self.trial(4, ranks: "0,1", from: 110, to: 120),
    ]
    let busy = try #require(BusyShares(trials: trials, ranks: 2))
    #expect(busy.wallSeconds == 20 && busy.busySeconds == [20, 14])
    #expect(busy.shares == [1.0, 0.7] && abs(busy.sweep - 0.85) < 1e-12)
    #expect(busy.description == "busy: rank 0 100.0%, rank 1 70.0% of 20.0 s; the sweep 85.0%")
    // A trial still running counts until now; nothing started: no shares.
    let running = try #require(BusyShares(trials: [Self.trial(1, ranks: "1", from: 50, to: nil, running: true)], ranks: 2, now: 60))
    #expect(running.busySeconds == [0, 10] && running.wallSeconds == 10)
    #expect(
      BusyShares(
        trials: [TrialRecord(id: 1, round: 0, key: 0, repeatIndex: 0, seed: 1, parameters: [:], budget: nil, arguments: [])], ranks: 2)
        == nil)
  }

  @Test func aTrialOnSeveralRanksIsReproducedUnderMpirun() {
    var t = Self.trial(4, ranks: "0,1", from: 0, to: 1)
    t.arguments = ["--eta", "0.01", "--seed", "2"]
    #expect(t.command == "mpirun -np 2 dptrain train --eta 0.01 --seed 2")
    t.ranks = "1"
    #expect(t.command == "dptrain train --eta 0.01 --seed 2")
  }
}
