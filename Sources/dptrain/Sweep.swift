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

  @Option(
    help: ArgumentHelp(
      "Ranks per trial: 1 trains one trial per rank; G > 1 trains each trial data-parallel over G ranks. Must divide the rank count.",
      valueName: "G"))
  var ranksPerTrial = 1

  @Option(help: "BLAS threads per rank (default: the node's cores divided by its ranks, at least 1).")
  var blasThreads: Int?

  @OptionGroup(title: "Matrix products") var gemmOptions: GEMMOptions

  @OptionGroup(title: "Stalls") var stallOptions: StallOptions

  @Option(name: .customShort("k"), help: "Rows of the best-configurations table printed at the end.")
  var top = 3

  @Flag(help: "Print only the final table.")
  var quiet = false

  @Flag(help: "Do not write SWEEPDIR/report.html at the end.")
  var noReport = false

  @Option(help: "text, or json: one JSON object per line (start, round, trial, finished).")
  var logFormat = LogFormat.text

  func validate() throws {
    guard ranksPerTrial >= 1 else { throw ValidationError("--ranks-per-trial must be >= 1, got \(ranksPerTrial)") }
    if let blasThreads, !(1...TrainingConfiguration.Limits.blasThreads).contains(blasThreads) {
      throw ValidationError("--blas-threads must be in 1...\(TrainingConfiguration.Limits.blasThreads), got \(blasThreads)")
    }
    guard top >= 1 else { throw ValidationError("-k must be >= 1, got \(top)") }
    let parsed = try loadSpec()
    do { try parsed.checkTrials(file: spec) } catch { throw ValidationError("\(error)") }
    if Launch.isPrintingRank() {
      let runFiles = try outputDirectoryExists(out) ? RunDirectory.existingFiles(in: out) : []
      let exists = FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(SweepStore.fileName))
      if !runFiles.isEmpty && !exists {
        throw ValidationError(
          "--out \(out) holds a training run (\(runFiles.joined(separator: ", "))), not a sweep; choose another --out for the sweep")
      }
      if resume && !exists {
        throw ValidationError("--resume: \(out) holds no sweep (no \(SweepStore.fileName)); run without --resume to start one")
      }
      if !resume && exists {
        throw ValidationError("--out \(out) already holds a sweep; pass --resume to continue it, or choose another --out")
      }
    }
  }

  func loadSpec() throws -> SweepSpec {
    do { return try SweepSpec.load(path: spec) } catch { throw ValidationError("\(error)") }
  }

  func run() throws {
    let parsed = try loadSpec()
    // Start reading the base configuration's data while MPI starts.
    let prefetch = try? Self.prefetch(spec: parsed)
    let launch = try Launch.start()
    dptrain_install_stop_handlers()
    try launch.run(command: "dptrain sweep", together: { Self.isStop($0) ? ExitCodes.interrupted : nil }) {
      try sweep(parsed, launch: launch, prefetch: prefetch)
    }
  }

  /// Arms the stall watchdog on every rank of a multi-rank sweep: inside a trial of several
  /// ranks its marks find a rank stuck in a collective; between rank 0 and the workers,
  /// heartbeats (sent at the marks, between steps and while waiting) find a silent one.
  func watchStalls(_ dispatcher: inout TrialDispatcher, world: any MessagePassing) {
    guard world.size > 1 else { return }
    let hint =
      "Finished trials are kept in \(out)/\(SweepStore.fileName) and running ones continue from their checkpoints; continue with: dptrain sweep \(spec) --out \(out) --resume"
    stallOptions.arm(world, hint: hint)
    guard Watchdog.timeout > 0 else { return }
    let who = StallOptions.describe(rank: world.rank, of: world.size)
    let heartbeats = Heartbeats(
      world: world, timeout: { Watchdog.timeout }, interval: min(2, Watchdog.timeout / 10), wasStopped: Watchdog.wasStopped
    ) {
      Watchdog.fire("dptrain: \(who) stalled: \($0)")
    }
    Watchdog.beat(every: heartbeats.interval) { heartbeats.beat() }
    dispatcher.heartbeats = heartbeats
  }

  /// A signal stopped the sweep: a rank's waiting (`DispatchStopped`) or its trial (`interrupted`).
  static func isStop(_ error: any Error) -> Bool {
    if error is DispatchStopped { return true }
    if case .interrupted? = error as? TrainingError { return true }
    return false
  }

  /// Starts reading the data of the spec's base configuration (what most trials use), test set aside.
  static func prefetch(spec: SweepSpec) throws -> (key: String, load: () throws -> DatasetSplits) {
    let base = try TrialConfiguration.make(
      base: spec.base, parameters: [:], searchOrder: [], budget: nil, unit: spec.budgetUnit, seed: spec.seed)
    let data = Prefetch { try base.loadData(includeTest: false) }
    return (TrialRunner.dataKey(base, includeTest: false), { try data.value() })
  }

  func sweep(_ parsed: SweepSpec, launch: Launch, prefetch: (key: String, load: () throws -> DatasetSplits)?) throws {
    let world = launch.communicator
    var dispatcher = try TrialDispatcher(world: world, groupSize: ranksPerTrial)
    dispatcher.shouldStop = { dptrain_stop_signal() != 0 }
    BLAS.setThreads(blasThreads ?? Launch.defaultBLASThreads(localSize: launch.localSize))
    // Trials of one rank need no communicator; groups of several are split from the world (a
    // collective), once per group size: rounds with fewer trials than groups regroup.
    var groups: [Int: any Communicator] = [1: SingleProcessCommunicator()]
    func group(ofSize size: Int) throws -> any Communicator {
      if let group = groups[size] { return group }
      let group = try world.split(color: world.rank / size, key: world.rank)
      groups[size] = group
      return group
    }
    let runner = TrialRunner(group: try group(ofSize: ranksPerTrial), sweepDirectory: out)
    dispatcher.onRegroup = { size in
      runner.group = try group(ofSize: size)
      if world.rank == 0 && !quiet && logFormat == .text {
        print("groups: \(world.size / size) of \(size) rank(s) from the next round on (the round's trials cover them)")
      }
    }
    runner.prefetched = prefetch
    runner.stopRequested = { dptrain_stop_signal() != 0 }
    runner.warn = { printError($0) }
    dispatcher.collectiveSeconds = { runner.collectiveSeconds }
    watchStalls(&dispatcher, world: world)
    guard world.rank == 0 else {
      try dispatcher.work(TrialWork.self) { work, poll in try withoutActuallyEscaping(poll) { try runner.run(work, poll: $0) } }
      Watchdog.rest("finishing the sweep")
      return
    }

    let output = Console(progress: .plain, logFormat: logFormat, quiet: quiet)
    let text = resume ? "" : (try? String(contentsOfFile: spec, encoding: .utf8)) ?? ""
    let (store, requeued) = try SweepStore.session(
      directory: out, spec: parsed, specFile: spec, specText: text, resume: resume, ranks: world.size, ranksPerTrial: ranksPerTrial)
    if let requeued { output.info("resuming \(out): \(requeued) interrupted trial(s) queued again") }
    let scheduler = try SweepScheduler(
      spec: parsed, store: store, blasThreads: BLAS.threads, gemm: gemmOptions.request == .auto ? nil : gemmOptions.gemm)
    let console = SweepConsole(spec: parsed, console: output)
    // A resumed sweep counts what earlier sessions did.
    let earlier = try store.trials()
    console.done = earlier.filter(\.status.isDone).count
    console.planned = earlier.count
    scheduler.onRound = { console.round($0) }
    scheduler.onPromote = { console.promoted($1, into: $0) }
    scheduler.onStart = { console.started($0, ranks: $1) }
    scheduler.onFinish = { console.finished($0, report: $1) }
    output.info(
      "dptrain sweep: \(spec) -> \(out)/\(SweepStore.fileName); \(world.size) rank(s) in \(dispatcher.groupCount) group(s) of \(ranksPerTrial), \(BLAS.threads) BLAS thread(s) per rank"
    )
    output.info(GEMMOptions.header(try gemmOptions.select(Float.self, printing: true)) + " (float trials)")
    output.event(
      "start",
      [
        "spec": spec, "database": "\(out)/\(SweepStore.fileName)", "ranks": world.size, "groups": dispatcher.groupCount,
        "ranks_per_trial": ranksPerTrial, "blas_threads": BLAS.threads,
      ])
    let started = Date()
    do {
      try dispatcher.coordinate(scheduler) { work, poll in try withoutActuallyEscaping(poll) { try runner.run(work, poll: $0) } }
    } catch {
      try? store.setStatus("interrupted")
      if Self.isStop(error) {
        let signal = dptrain_stop_signal() == SIGINT ? "SIGINT" : "SIGTERM"
        printError(
          "\(signal): the sweep stopped; finished trials are in \(store.path), running ones wrote checkpoints; continue with: dptrain sweep \(spec) --out \(out) --resume"
        )
      }
      throw error
    }
    Watchdog.rest("finishing the sweep")
    try store.record(rankTimes: dispatcher.ranksTime)
    try store.setStatus("finished")
    let summary = try SweepSummary(store: store)
    try writeCSV(summary.trialsCSV(), to: (out as NSString).appendingPathComponent("trials.csv"))
    try writeCSV(summary.configurationsCSV(), to: (out as NSString).appendingPathComponent("configurations.csv"))
    let report = noReport ? nil : try Report.write(sweepDirectory: out, top: max(top, 5))
    let busy = summary.busy()
    // A sweep whose every trial failed or diverged found nothing: not a success.
    let nothingTrained = !summary.trials.isEmpty && !summary.trials.contains { $0.status == .finished }
    let failure = CommandError(
      "no trial of the sweep finished (\(summary.trials.count) failed or diverged; the first: \(summary.trials.first?.error ?? summary.trials.first.map { "diverged at step \($0.divergedAtStep ?? 0)" } ?? "?")); see \(out)/trials.csv"
    )
    if output.mode == .json {
      let best = summary.top(top).map { c -> [String: Any] in
        [
          "mean": c.mean ?? NSNull(), "std": c.std ?? NSNull(), "repeats": c.values.count, "round": c.roundLabel,
          "trials": c.trials.map(\.id),
          "parameters": Dictionary(uniqueKeysWithValues: c.parameters.map { ($0.key, $0.value.description) }),
        ]
      }
      output.event(
        "finished",
        [
          "trials": summary.trials.count, "seconds": Date().timeIntervalSince(started), "metric": parsed.metric.rawValue, "top": best,
          "final_test_accuracy": summary.final?.testAccuracy ?? NSNull(), "report": report ?? NSNull(),
          "busy_shares": busy.map(\.shares) ?? NSNull(), "busy_sweep": busy.map(\.sweep) ?? NSNull(),
          "rank_seconds": summary.rankTimes.map {
            ["trials": $0.trials, "coordination": $0.coordination, "idle": $0.idle, "collectives": $0.collectives]
          },
        ], important: true)
      if nothingTrained { throw failure }
      return
    }
    print(String(format: "sweep finished: %d trials in %@", summary.trials.count, formatDuration(Date().timeIntervalSince(started))))
    print(summary.table(top: top))
    if let final = summary.final { print(summary.finalDescription(final)) }
    if let busy { print(busy.description) }
    if !summary.rankTimes.isEmpty { print(RankTime.describe(summary.rankTimes)) }
    if let report { print("report: \(report)") }
    if nothingTrained { throw failure }
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
    console.event(
      "round", ["round": round.index + 1, "label": round.label, "configurations": round.configurations.count, "repeats": spec.repeats])
  }

  /// ASHA: `configuration` was promoted into `rung`.
  func promoted(_ configuration: PlannedConfiguration, into rung: Round) {
    planned += spec.repeats
    let from = configuration.promotedFrom.map(String.init) ?? "?"
    console.info(
      "promoted: configuration \(from) of rung \(rung.index - 1) -> \(rung.label), its configuration \(configuration.key): "
        + SweepSummary.describe(configuration.parameters, order: spec.parameters.map(\.name)))
    console.event(
      "promoted", ["rung": rung.index, "label": rung.label, "key": configuration.key, "from": configuration.promotedFrom ?? -1])
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
    console.event(
      "trial",
      [
        "trial": trial.id, "round": trial.round == TrialRecord.finalRound ? "final" : "\(trial.round + 1)",
        "status": report.status.rawValue,
        spec.metric.rawValue: value ?? NSNull(), "test_accuracy": report.testAccuracy ?? NSNull(),
        "diverged_at_step": report.divergedAtStep ?? NSNull(),
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
    let test =
      (report.testAccuracy.map { String(format: ", test accuracy %.4f", $0) } ?? "")
      + (report.resumedFromStep.map { ", continued from its checkpoint at step \($0)" } ?? "")
    print(
      String(
        format: "[%d done, %d running, %d queued] %@ %@%@  (%@; %.1fs)  %@", done, running, queued, label, outcome, test, parameters,
        report.trainSeconds, bestText))
  }
}
