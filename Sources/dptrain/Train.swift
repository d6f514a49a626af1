import ArgumentParser
import CSupport
import Datasets
import Distributed
import DistributedMPI
import Files
import Foundation
import LinearAlgebra
import NeuralNetwork
import Reporting
import Search
import Training

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a network; writes config.json, metrics.csv, summary.json and model.safetensors into --out.")

  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Model") var modelOptions: ModelOptions
  @OptionGroup(title: "Optimization") var optimization: OptimizationOptions

  @Option(help: ArgumentHelp("Precision of training: float or double (default float).", valueName: "float|double"))
  var precision: String?

  @Option(
    help: ArgumentHelp(
      "Output directory (default runs/YYYYmmdd-HHMMSS, with -2, -3, ... when taken). A directory that holds a run is refused unless --overwrite.",
      valueName: "DIR"))
  var out: String?

  @Flag(help: "With --out DIR holding a run: remove its files (model, metrics, checkpoint, report) and start afresh.")
  var overwrite = false

  @Option(help: ArgumentHelp("Start from a saved model (safetensors, same names) instead of a random init.", valueName: "FILE"))
  var initModel: String?

  @Option(help: "BLAS threads per rank (default: the node's cores divided by its ranks, at least 1).")
  var blasThreads: Int?

  @OptionGroup(title: "Matrix products") var gemmOptions: GEMMOptions

  @OptionGroup(title: "Stalls") var stall: StallOptions

  @Option(
    help: ArgumentHelp(
      "BatchNorm statistics over ranks: global (of the whole batch; N ranks = 1 process; the default) or local (per rank's shard).",
      valueName: "global|local"))
  var bnSync: String?

  @Option(
    help: ArgumentHelp(
      "Check that every replica's parameters equal rank 0's every STEPS updates, or every epoch (the default).", valueName: "STEPS|epoch"))
  var checkEvery: String?

  @Option(
    help: ArgumentHelp(
      "With several ranks: sharded (each rank updates its segment of the parameters, then they are gathered; the default) or replicated (every rank updates everything after one allreduce); the same bits on one node.",
      valueName: "sharded|replicated"))
  var update: String?

  @Option(
    help: ArgumentHelp(
      "Write DIR/checkpoint.safetensors (atomically) every STEPS updates, at every epoch's end (the default), or never.",
      valueName: "STEPS|epoch|never"))
  var checkpointEvery: String?

  @Option(
    help: ArgumentHelp(
      "Continue the run in DIR from its last checkpoint, with DIR/config.json's settings (the training options given here are not used; --blas-threads and the output flags are). Same seed and rank count: the model of an uninterrupted run, bit for bit.",
      valueName: "DIR"))
  var resume: String?

  @Flag(help: "Print only the final summary.")
  var quiet = false

  @Option(
    help:
      "Progress on the console: live (one line rewritten in place), plain (a line at most every 10 s, for logs), or auto (live on a terminal, plain otherwise and under mpirun)."
  )
  var progress = ProgressMode.auto

  @Option(help: "text, or json: one JSON object per line (start, progress, evaluation, finished/diverged).")
  var logFormat = LogFormat.text

  @Flag(help: "Do not write DIR/report.html (and gradients.json) at the end.")
  var noReport = false

  @Flag(help: "Ranks other than 0 print their progress too.")
  var verbose = false

  /// The training options given, in `TrainingConfiguration`'s terms.
  var options: GivenOptions {
    var o = dataOptions.options + modelOptions.options + optimization.options
    o.add("precision", precision)
    o.add("init-model", initModel)
    o.add("blas-threads", blasThreads)
    if gemmOptions.gemm != "auto" { o.add("gemm", gemmOptions.gemm) }
    o.add("bn-sync", bnSync)
    o.add("check-every", checkEvery)
    o.add("update", update)
    o.add("checkpoint-every", checkpointEvery)
    return o
  }

  func validate() throws {
    _ = try usage { try TrainingConfiguration(options: options) }
    if let resume, let out {
      throw ValidationError("--out \(out) with --resume \(resume): a resumed run continues in its own directory; drop --out")
    }
    if overwrite && (resume != nil || out == nil) {
      throw ValidationError("--overwrite clears the run in --out DIR: it needs --out, and not --resume")
    }
    if let out, Launch.isPrintingRank() { try Self.checkOutput(out, overwrite: overwrite) }
    if let resume, Launch.isPrintingRank() {
      for file in ["config.json", Checkpoint.fileName]
      where !FileManager.default.fileExists(atPath: (resume as NSString).appendingPathComponent(file)) {
        throw ValidationError("--resume \(resume): no \(file) there; give the --out DIR of a run that wrote a checkpoint")
      }
    }
    if let initModel, Launch.isPrintingRank(), !FileManager.default.fileExists(atPath: initModel) {
      throw ValidationError("--init-model: no file at \(initModel)")
    }
  }

  func run() throws {
    // A resumed run takes its settings from the run directory.
    let resumed = try resume.map { try Self.readConfiguration(runDirectory: $0) }
    let configuration = try resumed ?? usage { try TrainingConfiguration(options: options) }
    let data = Prefetch { try configuration.loadData() }
    let launch = try Launch.start()
    dptrain_install_stop_handlers()
    // Every rank sees the same loss, and stops after the same step on a signal.
    let together = { (error: any Error) -> Int32? in
      switch error as? TrainingError {
      case .diverged?: ExitCodes.diverged
      case .interrupted?: ExitCodes.interrupted
      default: nil
      }
    }
    try launch.run(command: "dptrain", together: together) {
      switch configuration.precision {
      case .float: try train(Float.self, configuration, launch: launch, data: data, resuming: resumed != nil)
      case .double: try train(Double.self, configuration, launch: launch, data: data, resuming: resumed != nil)
      }
    }
  }

  /// `--out DIR` for a new run: a directory (or nothing yet) that holds no sweep, and no run
  /// unless `overwrite`.
  static func checkOutput(_ out: String, overwrite: Bool) throws {
    guard try outputDirectoryExists(out) else { return }
    if FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(SweepStore.fileName)) {
      throw ValidationError("--out \(out) holds a sweep (\(SweepStore.fileName)); choose another --out for the run")
    }
    let files = RunDirectory.existingFiles(in: out)
    if !files.isEmpty && !overwrite {
      throw ValidationError(
        "--out \(out) already holds a run (\(files.joined(separator: ", "))); continue it with --resume \(out), choose another --out, or pass --overwrite to remove its files first"
      )
    }
  }

  /// `DIR/config.json`, read and checked (a configuration of any dptrain version).
  static func readConfiguration(runDirectory dir: String) throws -> TrainingConfiguration {
    let path = (dir as NSString).appendingPathComponent("config.json")
    guard let bytes = FileManager.default.contents(atPath: path) else {
      throw FileError(.unreadable, path: path, problem: "cannot read the run's configuration")
    }
    let configuration: TrainingConfiguration
    do { configuration = try JSONDecoder().decode(TrainingConfiguration.self, from: bytes) } catch {
      throw FileError(.malformed, path: path, problem: "not a dptrain configuration (\(error))")
    }
    do { try configuration.validate() } catch { throw FileError(.malformed, path: path, problem: "\(error)") }
    return configuration
  }

  func train<T: Real>(_: T.Type, _ given: TrainingConfiguration, launch: Launch, data prefetched: Prefetch<DatasetSplits>, resuming: Bool)
    throws
  {
    let communicator = launch.communicator
    let isRoot = communicator.rank == 0
    // On --resume, --blas-threads given here applies, not the recorded count.
    BLAS.setThreads(blasThreads ?? Launch.defaultBLASThreads(localSize: launch.localSize))
    let kernel = try gemmOptions.select(T.self, request: resuming ? resumeRequest(given, printing: isRoot) : given.gemm, printing: isRoot)
    let data = try usage { try prefetched.value() }
    // Rank 0 makes the default directory (unique); the others never write into it.
    var outPath = resume ?? out ?? "runs"
    if resume == nil && out == nil && isRoot {
      let f = DateFormatter()
      f.dateFormat = "yyyyMMdd-HHmmss"
      outPath = try RunDirectory.makeUnique(parent: "runs", stem: f.string(from: Date()))
    }
    if overwrite && isRoot { try RunDirectory.clear(outPath) }
    // A stall ends the job; the run continues from its last checkpoint (rank 0 names the
    // directory: the default name of another rank may differ by a second).
    let directoryName = isRoot || resume != nil || out != nil ? outPath : "rank 0's output directory"
    stall.arm(communicator, hint: "The last checkpoint stays; continue with: dptrain train --resume \(directoryName)")
    Watchdog.enter("the start (every rank reads the data set, rank 0 the checkpoint)")
    // Rank 0 alone reads the checkpoint and writes the run directory; the others train silently.
    let run = try usage {
      try TrainingRun<T>(
        configuration: given, data: data, communicator: communicator, kernel: kernel, checkpointDirectory: outPath,
        continuing: resuming ? .required : .never)
    }
    let trainer = run.trainer
    let checkpoint = run.restored
    let configuration = run.configuration
    let architecture = configuration.architecture.resolved!
    let directory = isRoot ? try RunDirectory(path: outPath, configuration: configuration, resumingWith: checkpoint?.metrics) : nil
    trainer.stopRequested = { dptrain_stop_signal() != 0 }
    run.onCheckpointFailure = { error, first in
      if first { printError("warning: \(error) (training goes on; further failures are not reported until a checkpoint succeeds)") }
    }
    run.onCheckpointRecovered = { printError("checkpoint written again at step \($0)") }
    let processes =
      communicator.size == 1
      ? "1 process"
      : "\(communicator.size) ranks" + (architecture.batchNorm ? " (BatchNorm statistics: \(configuration.bnSync.rawValue))" : "")
    let console = Console(progress: progress, logFormat: logFormat, quiet: quiet)
    if isRoot {
      let network = "\(architecture.shapeDescription)\(architecture.batchNorm ? " BatchNorm" : ""), \(architecture.loss.rawValue)"
      console.info("dptrain \(dptrainVersion): \(network), \(T.dtypeName), \(processes), \(BLAS.threads) BLAS thread(s) per rank")
      console.info(GEMMOptions.header(kernel))
      console.info("data: \(data.sourceDescription)")
      console.info(
        "schedule: \(configuration.schedule.description), batch \(configuration.batchSize), momentum \(configuration.momentum), lambda \(configuration.lambda), \(trainer.totalSteps) steps (\(trainer.stepsPerEpoch)/epoch)"
      )
      console.info("output: \(outPath)")
      if let checkpoint {
        console.info(
          "resuming at step \(checkpoint.step) of \(trainer.totalSteps) from \(Checkpoint.path(in: outPath)) (written by \(checkpoint.statePerRank.count) rank(s))"
        )
      }
      console.event(
        "start",
        [
          "version": dptrainVersion, "network": network, "precision": T.dtypeName, "ranks": communicator.size, "blas_threads": BLAS.threads,
          "gemm": kernel.description, "cpu": CPUInfo.current.summary,
          "data": data.sourceDescription, "schedule": configuration.schedule.description, "batch_size": configuration.batchSize,
          "total_steps": trainer.totalSteps, "steps_per_epoch": trainer.stepsPerEpoch, "output": outPath,
        ])
    }
    let observer: (any TrainingObserver)? =
      if let directory { ConsoleProgress(console: console, directory: directory) } else if verbose {
        RankProgress(rank: communicator.rank)
      } else { nil }
    let result: TrainingResult
    do {
      result = try run.run(observer: observer)
      // The last collective is behind: rank 0 writes the run directory while the others wait in
      // MPI_Finalize, which takes no deadline.
      Watchdog.rest("finishing the run")
    } catch let error as TrainingError {
      if case .interrupted(let step) = error, let directory {
        let signal = dptrain_stop_signal() == SIGINT ? "SIGINT" : "SIGTERM"
        printError(
          "\(signal): stopped after step \(step) of \(trainer.totalSteps); checkpoint \(Checkpoint.path(in: directory.path)); continue with: dptrain train --resume \(directory.path)"
        )
        console.event("interrupted", ["step": step, "checkpoint": Checkpoint.path(in: directory.path)], important: true)
      }
      if case .diverged(let step, _) = error, let directory {
        try run.writeDiverged(step: step, in: directory)
        printError("error: \(error) (metrics so far in \(outPath)/metrics.csv)")
        let path = noReport ? nil : try? Report.write(runDirectory: outPath)
        if let path { printError("report: \(path)") }
        console.event("diverged", ["step": step, "metrics": "\(outPath)/metrics.csv", "report": path ?? NSNull()], important: true)
      }
      throw error
    }
    guard let directory else { return }
    if !noReport {
      let histograms = try trainer.weightGradients().map { Histogram(name: $0.name, values: $0.values) }
      try RunDirectory.writeJSON(histograms, to: (outPath as NSString).appendingPathComponent(ReportFiles.gradients))
    }
    let test = try run.finish(result, in: directory)
    let replicas =
      communicator.size > 1
      ? String(
        format: "; allreduce %.0f%% of step time on rank 0; replicas identical (%d checks)",
        100 * result.communicationSeconds / max(result.trainSeconds, 1e-9), result.replicaChecks) : ""
    let report = noReport ? nil : try Report.write(runDirectory: outPath)
    if console.mode == .json {
      console.event(
        "finished",
        [
          "test_accuracy": test.accuracy, "test_loss": test.loss, "steps": result.steps, "train_seconds": result.trainSeconds,
          "samples_per_second": result.samplesPerSecond, "model": directory.modelPath, "report": report ?? NSNull(),
          "communication_seconds": communicator.size > 1 ? result.communicationSeconds : NSNull(),
        ], important: true)
    } else {
      print(
        String(
          format: "test accuracy %.4f, test loss %.4f; %d steps in %@ (%.0f samples/s)%@; model: %@",
          test.accuracy, test.loss, result.steps, formatDuration(result.trainSeconds), result.samplesPerSecond, replicas,
          directory.modelPath))
      if let report { print("report: \(report)") }
    }
    if let error = (observer as? ConsoleProgress)?.writeError {
      // The model and summary are saved; the metrics file misses rows.
      throw FileError(
        .unwritable, path: "\(outPath)/metrics.csv",
        problem: "could not record every metrics row (\(error)); the model and summary.json were saved")
    }
  }
}

extension Train {
  /// The backend a resumed run asks for: the one that computed its products so far (another
  /// rounds differently; a run whose config.json predates the record was computed by OpenBLAS),
  /// or auto, saying why, when this build lacks it.
  func resumeRequest(_ configuration: TrainingConfiguration, printing: Bool) -> GEMMRequest {
    guard let backend = configuration.gemm.backend else { return .auto }
    guard backend.isBuiltIn else {
      if printing {
        printError(
          "warning: --resume: the run's products were computed by \(configuration.gemmKernel?.description ?? backend.description), which this dptrain is built without; it continues with \(GEMM.kernel(of: .openblas)), so its last bits will differ from an uninterrupted run's"
        )
      }
      return .auto
    }
    return configuration.gemm
  }
}

/// `--verbose` progress of ranks other than 0: one line per epoch.
final class RankProgress: TrainingObserver {
  let rank: Int
  init(rank: Int) { self.rank = rank }
  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {
    guard epoch == epoch.rounded() || step == totalSteps else { return }
    print(
      String(
        format: "[rank %d] epoch %.2f step %d/%d batch loss %.4f %.0f samples/s", rank, epoch, step, totalSteps, batchLoss, samplesPerSecond
      ))
  }
  func trainingDidEvaluate(_ row: MetricsRow) {}
}
