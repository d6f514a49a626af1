import ArgumentParser
import CSupport
import Datasets
import Distributed
import DistributedMPI
import Foundation
import LinearAlgebra
import NeuralNetwork
import Search
import Training

struct Sweep: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a hyperparameter sweep: grid, random, coarse-to-fine or successive halving, over every rank.",
    discussion: """
      SPEC is a YAML file (JSON works too); see examples/quick-sweep.yaml and README "Sweeps". Under mpirun, \
      rank 0 coordinates and trains too; ranks form groups of --ranks-per-trial that each train one trial at a \
      time, handed out as groups become free. Rank 0 keeps SWEEPDIR/sweep.sqlite: the spec, every trial's \
      configuration, seed, status, per-epoch metrics, result, timings and ranks. --resume continues an \
      interrupted sweep: finished trials are kept, running ones are run again, and the result is that of an \
      uninterrupted sweep.
      """)

  @Argument(help: ArgumentHelp("The sweep spec (YAML or JSON).", valueName: "SPEC"))
  var spec: String

  @Option(help: ArgumentHelp("The sweep directory (database, CSV exports, the final run).", valueName: "SWEEPDIR"))
  var out: String

  @Flag(help: "Continue the sweep in SWEEPDIR (started with the same SPEC).")
  var resume = false

  @Option(help: ArgumentHelp("Ranks per trial: 1 trains one trial per rank; G > 1 trains each trial data-parallel over G ranks. Must divide the rank count.", valueName: "G"))
  var ranksPerTrial = 1

  @Option(help: "BLAS threads per rank (default: the node's cores divided by its ranks, at least 1).")
  var blasThreads: Int?

  @OptionGroup(title: "Matrix products") var gemmOptions: GEMMOptions

  @Option(name: .customShort("k"), help: "Rows of the best-configurations table printed at the end.")
  var top = 3

  @Flag(help: "Print only the final table.")
  var quiet = false

  @Flag(help: "Do not write SWEEPDIR/report.html at the end.")
  var noReport = false

  @Option(help: ArgumentHelp("text, or json: one JSON object per line (start, round, trial, finished).", valueName: "text|json"))
  var logFormat = "text"

  func validate() throws {
    guard ranksPerTrial >= 1 else { throw ValidationError("--ranks-per-trial must be >= 1, got \(ranksPerTrial)") }
    if let blasThreads, blasThreads < 1 { throw ValidationError("--blas-threads must be >= 1, got \(blasThreads)") }
    guard top >= 1 else { throw ValidationError("-k must be >= 1, got \(top)") }
    try Console.validate(progress: "auto", logFormat: logFormat)
    let parsed = try loadSpec()
    try SweepValidation.check(parsed, file: spec)
    if Launch.isPrintingRank() {
      let exists = FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(SweepStore.fileName))
      if resume && !exists { throw ValidationError("--resume: \(out) holds no sweep (no \(SweepStore.fileName)); run without --resume to start one") }
      if !resume && exists { throw ValidationError("--out \(out) already holds a sweep; pass --resume to continue it, or choose another --out") }
    }
  }

  func loadSpec() throws -> SweepSpec {
    do { return try SweepSpec.load(path: spec) } catch { throw ValidationError("\(error)") }
  }

  func run() throws {
    let parsed = try loadSpec()
    // Start reading the base configuration's data while MPI starts.
    let prefetch = try? TrialRunner.prefetch(spec: parsed)
    let launch = try Launch.start()
    dptrain_install_stop_handlers()
    try launch.run(command: "dptrain sweep", together: { Self.isStop($0) ? ExitCodes.interrupted : nil }) {
      try sweep(parsed, launch: launch, prefetch: prefetch)
    }
  }

  /// A signal stopped the sweep: a rank's waiting (`DispatchStopped`) or its trial (`interrupted`).
  static func isStop(_ error: any Error) -> Bool {
    if error is DispatchStopped { return true }
    if case .interrupted? = error as? TrainingError { return true }
    return false
  }

  func sweep(_ parsed: SweepSpec, launch: Launch, prefetch: (key: String, data: Prefetch<DatasetSplits>)?) throws {
    let world = launch.communicator
    var dispatcher = try TrialDispatcher(world: world, groupSize: ranksPerTrial)
    dispatcher.shouldStop = { dptrain_stop_signal() != 0 }
    BLAS.setThreads(blasThreads ?? Launch.defaultBLASThreads(localSize: launch.localSize))
    // Trials of one rank need no communicator; groups of several are split from the world.
    let group: any Communicator = ranksPerTrial == 1 ? SingleProcessCommunicator() : try world.split(color: dispatcher.group, key: world.rank)
    let runner = TrialRunner(group: group, sweepDirectory: out, isolateFailures: ranksPerTrial == 1)
    runner.prefetched = prefetch
    guard world.rank == 0 else {
      try dispatcher.work(TrialWork.self) { try runner.run($0, poll: nil) }
      return
    }

    let output = Console(progress: "plain", logFormat: logFormat, quiet: quiet)
    let store = try SweepStore(directory: out, create: !resume)
    if resume {
      guard let header = try store.header() else { throw CommandError("\(store.path): the sweep has no header row; start a new sweep") }
      guard header.spec == parsed else {
        throw CommandError("\(spec) is not the spec \(out) was started with (\(header.specFile)); resume with that spec, or start a new sweep in another --out")
      }
      let requeued = try store.resume(ranks: world.size, ranksPerTrial: ranksPerTrial)
      output.info("resuming \(out): \(requeued) interrupted trial(s) queued again")
    } else {
      let text = (try? String(contentsOfFile: spec, encoding: .utf8)) ?? ""
      try store.writeHeader(spec: parsed, specFile: spec, specText: text, ranks: world.size, ranksPerTrial: ranksPerTrial)
    }
    let scheduler = try SweepScheduler(
      spec: parsed, store: store, blasThreads: BLAS.threads, gemm: gemmOptions.request == .auto ? nil : gemmOptions.gemm)
    let console = SweepConsole(spec: parsed, console: output)
    // A resumed sweep counts what earlier sessions did.
    let earlier = try store.trials()
    console.done = earlier.filter(\.status.isDone).count
    console.planned = earlier.count
    scheduler.onRound = { console.round($0) }
    scheduler.onStart = { console.started($0, ranks: $1) }
    scheduler.onFinish = { console.finished($0, report: $1) }
    output.info("dptrain sweep: \(spec) -> \(out)/\(SweepStore.fileName); \(world.size) rank(s) in \(dispatcher.groupCount) group(s) of \(ranksPerTrial), \(BLAS.threads) BLAS thread(s) per rank")
    output.info(GEMMOptions.header(try gemmOptions.select(Float.self, printing: true)) + " (float trials)")
    output.event("start", ["spec": spec, "database": "\(out)/\(SweepStore.fileName)", "ranks": world.size, "groups": dispatcher.groupCount, "ranks_per_trial": ranksPerTrial, "blas_threads": BLAS.threads])
    let started = Date()
    do {
      try dispatcher.coordinate(scheduler) { work, poll in try withoutActuallyEscaping(poll) { try runner.run(work, poll: $0) } }
    } catch {
      try? store.setStatus("interrupted")
      if Self.isStop(error) {
        let signal = dptrain_stop_signal() == SIGINT ? "SIGINT" : "SIGTERM"
        printError("\(signal): the sweep stopped; finished trials are in \(store.path), running ones wrote checkpoints; continue with: dptrain sweep \(spec) --out \(out) --resume")
      }
      throw error
    }
    try store.setStatus("finished")
    let summary = try SweepSummary(store: store)
    try summary.trialsCSV().write(toFile: (out as NSString).appendingPathComponent("trials.csv"), atomically: true, encoding: .utf8)
    try summary.configurationsCSV().write(toFile: (out as NSString).appendingPathComponent("configurations.csv"), atomically: true, encoding: .utf8)
    let report = noReport ? nil : try Report.write(sweepDirectory: out, top: max(top, 5))
    if output.mode == .json {
      let best = summary.top(top).map { c -> [String: Any] in
        ["mean": c.mean ?? NSNull(), "std": c.std ?? NSNull(), "repeats": c.values.count, "round": c.roundLabel, "trials": c.trials.map(\.id),
         "parameters": Dictionary(uniqueKeysWithValues: c.parameters.map { ($0.key, $0.value.description) })]
      }
      output.event("finished", [
        "trials": summary.trials.count, "seconds": Date().timeIntervalSince(started), "metric": parsed.metric.rawValue, "top": best,
        "final_test_accuracy": summary.final?.testAccuracy ?? NSNull(), "report": report ?? NSNull(),
      ], important: true)
      return
    }
    print(String(format: "sweep finished: %d trials in %@", summary.trials.count, formatDuration(Date().timeIntervalSince(started))))
    print(summary.table(top: top))
    if let final = summary.final { print(summary.finalDescription(final)) }
    if let report { print("report: \(report)") }
  }
}

/// Runs trials on this rank's group: parses the trial's `train` options exactly as
/// `dptrain train` does, trains, and reports. Data sets are loaded once per (data,
/// validation, train limit) and kept; the test set only for the final run.
final class TrialRunner {
  let group: any Communicator
  let sweepDirectory: String
  /// One rank per trial: a failing trial is reported as failed and the sweep goes on. Groups of
  /// several ranks: errors inside training end the job (a rank cannot leave its group's
  /// collectives halfway), while errors before training (options, data) are the same on every
  /// rank of the group and are reported.
  let isolateFailures: Bool
  var data: [String: DatasetSplits] = [:]
  /// The base configuration's data, being read since start-up.
  var prefetched: (key: String, data: Prefetch<DatasetSplits>)?

  init(group: any Communicator, sweepDirectory: String, isolateFailures: Bool) {
    self.group = group
    self.sweepDirectory = sweepDirectory
    self.isolateFailures = isolateFailures
  }

  func run(_ work: TrialWork, poll: (() throws -> Void)?) throws -> TrialReport {
    var command: Train?
    var splits: DatasetSplits?
    var problem: String?
    do {
      command = try Train.parse(work.arguments)
      splits = try load(command!.dataOptions, includeTest: work.isFinal)
    } catch {
      problem = Train.message(for: error)
    }
    if group.size > 1 {
      // Every rank of the group must be able to start, or none does: a rank that could not
      // read its data would otherwise leave the others waiting in the first collective.
      if let problem, group.rank != 0 { printError("dptrain sweep: trial #\(work.id), rank \(group.rank) of its group: \(problem)") }
      var failed = [problem == nil ? 0.0 : 1.0]
      try group.allReduceSum(&failed)
      if failed[0] > 0 && problem == nil { problem = "another rank of this trial's group could not start it (see that rank's error)" }
    }
    guard let command, let splits, problem == nil else {
      return .failed(problem.map { group.size > 1 ? "rank \(group.rank) of the group: \($0)" : $0 } ?? "could not start")
    }
    do {
      switch Precision(rawValue: command.precision)! {
      case .float: return try trial(Float.self, command: command, data: splits, work: work, poll: poll)
      case .double: return try trial(Double.self, command: command, data: splits, work: work, poll: poll)
      }
    } catch TrainingError.interrupted(let step) {
      // Stopped by a signal, its checkpoint written: not a result; the sweep stops.
      throw TrainingError.interrupted(step: step)
    } catch let error as ValidationError {
      return .failed(error.message)
    } catch {
      if isolateFailures { return .failed("\(error)") }
      throw error
    }
  }

  static func key(_ options: DataOptions, includeTest: Bool) -> String {
    "\(options.data)|\(options.validation)|\(options.trainLimit.map(String.init) ?? "")|\(includeTest)"
  }

  /// Starts reading the data of the spec's base options (what most trials use), test set aside.
  static func prefetch(spec: SweepSpec) throws -> (key: String, data: Prefetch<DatasetSplits>) {
    let arguments = try TrainArguments.make(
      base: spec.base, parameters: [:], searchOrder: [], budget: nil, unit: spec.budgetUnit, seed: spec.seed)
    let options = try Train.parse(arguments).dataOptions
    return (key(options, includeTest: false), Prefetch { try options.load(includeTest: false) })
  }

  func load(_ options: DataOptions, includeTest: Bool) throws -> DatasetSplits {
    let key = Self.key(options, includeTest: includeTest)
    if let splits = data[key] { return splits }
    if let prefetched, prefetched.key == key, let splits = try? prefetched.data.value() {
      data[key] = splits
      return splits
    }
    let splits = try options.load(includeTest: includeTest)
    data[key] = splits
    return splits
  }

  func trial<T: Real>(_: T.Type, command: Train, data: DatasetSplits, work: TrialWork, poll: (() throws -> Void)?) throws -> TrialReport {
    if let threads = command.blasThreads { BLAS.setThreads(threads) }
    let kernel = try command.gemmOptions.select(T.self, printing: false)
    var configuration = try command.resolvedConfiguration(data: data, communicator: group)
    configuration.gemm = kernel.backend
    configuration.gemmKernel = kernel
    let (model, normalization) = try command.initialModel(T.self, configuration: configuration, data: data, isRoot: group.rank == 0)
    let trainer = Trainer<T>(
      configuration: configuration, model: model, train: data.train, validation: data.validation,
      normalization: normalization, communicator: group)
    // The trial's own checkpoints: an interrupted sweep's trial continues from its last one.
    let checkpoints = (sweepDirectory as NSString).appendingPathComponent("checkpoints/trial-\(work.id)")
    var exists = group.rank == 0 && FileManager.default.fileExists(atPath: Checkpoint.path(in: checkpoints)) ? 1.0 : 0.0
    if group.size > 1 { exists = try group.broadcast(exists, root: 0) }
    var resumedFrom: Int?
    if exists == 1 {
      let state = try Train.shareCheckpoint(group.rank == 0 ? try Checkpoint.read(from: checkpoints, as: T.self) : nil, group)
      trainer.restore(state)
      resumedFrom = state.step
    }
    trainer.stopRequested = { dptrain_stop_signal() != 0 }
    let observer = PollingObserver(poll: poll)
    let result: TrainingResult
    do {
      result = try trainer.run(observer: observer) { trainer in
        let state = try trainer.checkpointState()
        guard trainer.communicator.rank == 0 else { return }
        do {
          try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
          try Checkpoint.write(state, to: checkpoints)
        } catch {
          printError("warning: trial #\(work.id): \(error)")
        }
      }
    } catch TrainingError.diverged(let step, _) {
      if group.rank == 0 { try? FileManager.default.removeItem(atPath: checkpoints) }
      return TrialReport(
        status: .diverged, metrics: trainer.metrics.map(EpochMetrics.init), divergedAtStep: step, steps: trainer.step,
        trainSeconds: 0, samplesPerSecond: 0, gemm: kernel.description)
    }
    if let error = observer.pollError { throw error }
    if group.rank == 0 { try? FileManager.default.removeItem(atPath: checkpoints) }
    var report = TrialReport(
      status: .finished, metrics: result.metrics.map(EpochMetrics.init), steps: result.steps, trainSeconds: result.trainSeconds,
      samplesPerSecond: result.samplesPerSecond, gemm: kernel.description)
    report.resumedFromStep = resumedFrom
    if work.isFinal && group.rank == 0 {
      let test = try trainer.evaluate(data.test)
      report.testAccuracy = test.accuracy
      report.testLoss = test.loss
      let directory = try RunDirectory(path: (sweepDirectory as NSString).appendingPathComponent("final"), configuration: configuration)
      for row in result.metrics { try directory.append(row) }
      try ModelFile.save(trainer.model, normalization: normalization, imageShape: data.train.shape, to: directory.modelPath)
      try directory.writeSummary(RunSummary(
        status: "finished", divergedAtStep: nil, test: test, last: result.metrics.last, epochs: result.epochs, steps: result.steps,
        ranks: group.size, trainSeconds: result.trainSeconds, samplesPerSecond: result.samplesPerSecond,
        communicationSeconds: group.size > 1 ? result.communicationSeconds : nil, gemm: kernel))
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
      step: row.step, epoch: row.epoch, eta: row.eta, trainCost: row.train.cost, trainLoss: row.train.loss, trainAccuracy: row.train.accuracy,
      valCost: row.validation?.cost, valLoss: row.validation?.loss, valAccuracy: row.validation?.accuracy)
  }
}

/// Checks a spec against `dptrain train`'s own validation before any work starts: the base
/// options alone, and with the searched parameters at the ends of their ranges (and every
/// choice), so that a typo or an impossible value is named at once, not in trial 37.
enum SweepValidation {
  static func check(_ spec: SweepSpec, file: String) throws {
    if let v = spec.base["validation"], v.description == "0" {
      throw ValidationError("\(file): base.validation: a sweep ranks trials by validation metrics; expected a validation split > 0")
    }
    func attempt(_ parameters: ParameterSet, overrides: [String: ParameterValue] = [:], field: String) throws {
      let arguments: [String]
      do {
        arguments = try TrainArguments.make(
          base: spec.base, overrides: overrides, parameters: parameters, searchOrder: spec.parameters.map(\.name),
          budget: nil, unit: spec.budgetUnit, seed: spec.seed)
      } catch {
        throw ValidationError("\(file): \(field): \(error)")
      }
      do { _ = try Train.parse(arguments) } catch {
        throw ValidationError("\(file): \(field): \(Train.message(for: error)) (trial options: \(arguments.joined(separator: " ")))")
      }
    }
    try attempt([:], field: "base")
    let ends = spec.parameters.map { p -> [ParameterValue] in
      switch p.domain {
      case .logUniform(let lo, let hi), .uniform(let lo, let hi): [.number(lo), .number(hi)]
      case .intUniform(let lo, let hi): [.integer(lo), .integer(hi)]
      case .choice(let values), .grid(let values): values
      }
    }
    let low = Dictionary(uniqueKeysWithValues: zip(spec.parameters.map(\.name), ends.map { $0.first! }))
    let high = Dictionary(uniqueKeysWithValues: zip(spec.parameters.map(\.name), ends.map { $0.last! }))
    try attempt(low, field: "search (every parameter at its low end)")
    try attempt(high, field: "search (every parameter at its high end)")
    for (p, values) in zip(spec.parameters, ends) {
      for v in values {
        var parameters = low
        parameters[p.name] = v
        try attempt(parameters, field: "search.\(p.name) = \(v)")
      }
    }
    if let final = spec.final { try attempt(low, overrides: final, field: "final") }
  }
}

/// Rank 0's lines: one per round and one per finished trial, with the counts of trials done,
/// running and queued and the best so far (text), or one JSON object per event (json).
final class SweepConsole {
  let spec: SweepSpec
  let console: Console
  var done = 0, planned = 0, running = 0
  var best: (score: Double, id: Int)?

  init(spec: SweepSpec, console: Console) {
    self.spec = spec
    self.console = console
  }

  func round(_ round: Round) {
    planned += round.configurations.count * spec.repeats
    console.info("round \(round.index + 1): \(round.label), \(round.configurations.count) configuration(s) x \(spec.repeats) repeat(s)")
    console.event("round", ["round": round.index + 1, "label": round.label, "configurations": round.configurations.count, "repeats": spec.repeats])
  }

  func started(_ trial: TrialRecord, ranks: [Int]) {
    running += 1
    if trial.round == TrialRecord.finalRound { planned += 1 }
  }

  func finished(_ trial: TrialRecord, report: TrialReport) {
    done += 1
    running -= 1
    let value = report.metrics.last?.value(of: spec.metric)
    // The final run's holdout is another validation set: it does not compete.
    if report.status == .finished, trial.round != TrialRecord.finalRound, let value, value.isFinite,
      best.map({ spec.metric.score(value) > $0.score }) ?? true
    {
      best = (spec.metric.score(value), trial.id)
    }
    let queued = max(0, planned - done - running)
    let bestValue = best.map { spec.metric.higherIsBetter ? $0.score : -$0.score }
    let parameters = SweepSummary.describe(trial.parameters, order: spec.parameters.map(\.name))
    console.event("trial", [
      "trial": trial.id, "round": trial.round == TrialRecord.finalRound ? "final" : "\(trial.round + 1)", "status": report.status.rawValue,
      spec.metric.rawValue: value ?? NSNull(), "test_accuracy": report.testAccuracy ?? NSNull(), "diverged_at_step": report.divergedAtStep ?? NSNull(),
      "error": report.error ?? NSNull(), "parameters": parameters, "train_seconds": report.trainSeconds, "done": done, "running": running,
      "queued": queued, "best": bestValue ?? NSNull(), "best_trial": best?.id ?? NSNull(),
      "resumed_from_step": report.resumedFromStep ?? NSNull(),
    ])
    guard console.mode != .json, !console.quiet else { return }
    let outcome: String =
      switch report.status {
      case .finished: value.map { String(format: "%@ %.4f", spec.metric.rawValue, $0) } ?? "finished"
      case .diverged: "diverged at step \(report.divergedAtStep ?? 0)"
      default: "failed: \(report.error ?? "?")"
      }
    let bestText = best.map { String(format: "best %.4f (#%d)", spec.metric.higherIsBetter ? $0.score : -$0.score, $0.id) } ?? ""
    let label = trial.round == TrialRecord.finalRound ? "final" : "#\(trial.id)"
    let test = (report.testAccuracy.map { String(format: ", test accuracy %.4f", $0) } ?? "")
      + (report.resumedFromStep.map { ", continued from its checkpoint at step \($0)" } ?? "")
    print(String(format: "[%d done, %d running, %d queued] %@ %@%@  (%@; %.1fs)  %@", done, running, queued, label, outcome, test, parameters, report.trainSeconds, bestText))
  }
}
