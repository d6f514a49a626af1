import Datasets
import Distributed
import Foundation
import LinearAlgebra
import Training

/// Trains trials on one rank's group, each as the `TrainingRun` that `dptrain train` would run
/// with the trial's configuration, and reports them. A trial keeps its checkpoints in
/// `SWEEPDIR/checkpoints/trial-ID` (an interrupted sweep's trial continues from its last one);
/// the final retraining also writes `SWEEPDIR/final` as a run directory. Data sets are loaded
/// once per (data, validation, train limit) and kept; the test set only for the final run.
public final class TrialRunner {
  /// This rank's group (the dispatcher's groups may change size between rounds).
  public var group: any Communicator
  public let sweepDirectory: String
  /// One rank per trial: a failing trial is reported as failed and the sweep goes on. Groups of
  /// several ranks: errors inside training end the job (a rank cannot leave its group's
  /// collectives halfway), while errors before training (options, data) are the same on every
  /// rank of the group and are reported.
  public var isolateFailures: Bool { group.size == 1 }
  /// Data sets by `dataKey`; a caller may put the base configuration's here (read ahead).
  public var data: [String: DatasetSplits] = [:]
  /// Data being read ahead: consulted once for its key.
  public var prefetched: (key: String, load: () throws -> DatasetSplits)?
  /// Polled between steps: true stops the trial after its checkpoint (`TrainingError.interrupted`).
  public var stopRequested: (() -> Bool)?
  /// Problems the sweep goes on after (a checkpoint that could not be written), and a rank's
  /// own reason for not starting a trial of its group.
  public var warn: (String) -> Void = { _ in }
  /// This rank's seconds in its finished trials' collectives (waiting for the group's other
  /// ranks included).
  public private(set) var collectiveSeconds = 0.0

  public init(group: any Communicator, sweepDirectory: String) {
    self.group = group
    self.sweepDirectory = sweepDirectory
  }

  /// The key of a configuration's data set.
  public static func dataKey(_ c: TrainingConfiguration, includeTest: Bool) -> String {
    "\(c.data)|\(c.validation)|\(c.trainLimit.map(String.init) ?? "")|\(includeTest)"
  }

  /// Trains `work` and reports it; `poll` runs between steps (rank 0 serves the other groups;
  /// every rank keeps up its heartbeats).
  public func run(_ work: TrialWork, poll: (() throws -> Void)?) throws -> TrialReport {
    var splits: DatasetSplits?
    var problem: String?
    do {
      try work.configuration.validate()
      splits = try load(work.configuration, includeTest: work.isFinal)
    } catch {
      problem = "\(error)"
    }
    if group.size > 1 {
      // Every rank of the group must be able to start, or none does: a rank that could not
      // read its data would otherwise leave the others waiting in the first collective.
      if let problem, group.rank != 0 { warn("dptrain sweep: trial #\(work.id), rank \(group.rank) of its group: \(problem)") }
      var failed = [problem == nil ? 0.0 : 1.0]
      Watchdog.enter("the start of a trial (every rank of its group has read the data)")
      try group.allReduceSum(&failed)
      if failed[0] > 0 && problem == nil { problem = "another rank of this trial's group could not start it (see that rank's error)" }
    }
    guard let splits, problem == nil else {
      return .failed(problem.map { group.size > 1 ? "rank \(group.rank) of the group: \($0)" : $0 } ?? "could not start")
    }
    do {
      switch work.configuration.precision {
      case .float: return try trial(Float.self, work: work, data: splits, poll: poll)
      case .double: return try trial(Double.self, work: work, data: splits, poll: poll)
      }
    } catch TrainingError.interrupted(let step) {
      // Stopped by a signal, its checkpoint written: not a result; the sweep stops.
      throw TrainingError.interrupted(step: step)
    } catch let error as ConfigurationError {
      return .failed(error.description)
    } catch {
      if isolateFailures { return .failed("\(error)") }
      throw error
    }
  }

  func load(_ configuration: TrainingConfiguration, includeTest: Bool) throws -> DatasetSplits {
    let key = Self.dataKey(configuration, includeTest: includeTest)
    if let splits = data[key] { return splits }
    if let prefetched, prefetched.key == key {
      self.prefetched = nil
      if let splits = try? prefetched.load() {
        data[key] = splits
        return splits
      }
    }
    let splits = try configuration.loadData(includeTest: includeTest)
    data[key] = splits
    return splits
  }

  func trial<T: Real>(_: T.Type, work: TrialWork, data: DatasetSplits, poll: (() throws -> Void)?) throws -> TrialReport {
    let configuration = work.configuration
    if let threads = configuration.blasThreads { BLAS.setThreads(threads) }
    let kernel: GEMMKernel
    do { kernel = try GEMM.select(T.self, request: configuration.gemm).kernel } catch let error as GEMMSelectionError {
      return .failed(error.description)
    }
    // The trial's own checkpoints: an interrupted sweep's trial continues from its last one.
    let checkpoints = (sweepDirectory as NSString).appendingPathComponent("checkpoints/trial-\(work.id)")
    let run = try TrainingRun<T>(
      configuration: configuration, data: data, communicator: group, kernel: kernel, checkpointDirectory: checkpoints,
      continuing: .ifPresent)
    run.onCheckpointFailure = { [warn] error, _ in warn("warning: trial #\(work.id): \(error)") }
    run.trainer.stopRequested = stopRequested
    let observer = PollingObserver(poll: poll)
    let result: TrainingResult
    do {
      result = try run.run(observer: observer)
    } catch TrainingError.diverged(let step, _) {
      if group.rank == 0 { try? FileManager.default.removeItem(atPath: checkpoints) }
      return TrialReport(
        status: .diverged, metrics: run.trainer.metrics.map(EpochMetrics.init), divergedAtStep: step, steps: run.trainer.step,
        trainSeconds: 0, samplesPerSecond: 0, gemm: kernel.description)
    }
    if let error = observer.pollError { throw error }
    collectiveSeconds += result.communicationSeconds
    if group.rank == 0 { try? FileManager.default.removeItem(atPath: checkpoints) }
    var report = TrialReport(
      status: .finished, metrics: result.metrics.map(EpochMetrics.init), steps: result.steps, trainSeconds: result.trainSeconds,
      samplesPerSecond: result.samplesPerSecond, gemm: kernel.description)
    report.resumedFromStep = run.restored?.step
    if work.isFinal && group.rank == 0 {
      let directory = try RunDirectory(path: (sweepDirectory as NSString).appendingPathComponent("final"), configuration: run.configuration)
      for row in result.metrics { try directory.append(row) }
      let test = try run.finish(result, in: directory)
      report.testAccuracy = test.accuracy
      report.testLoss = test.loss
    }
    return report
  }
}

/// Lets rank 0 serve the other groups between its own training steps.
final class PollingObserver: TrainingObserver {
  let poll: (() throws -> Void)?
  var pollError: (any Error)?
  init(poll: (() throws -> Void)?) { self.poll = poll }
  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {
    guard let poll, pollError == nil else { return }
    do { try poll() } catch { pollError = error }
  }
  func trainingDidEvaluate(_ row: MetricsRow) {}
}

extension EpochMetrics {
  init(_ row: MetricsRow) {
    self.init(
      step: row.step, epoch: row.epoch, eta: row.eta, trainCost: row.train.cost, trainLoss: row.train.loss,
      trainAccuracy: row.train.accuracy, valCost: row.validation?.cost, valLoss: row.validation?.loss,
      valAccuracy: row.validation?.accuracy)
  }
}
