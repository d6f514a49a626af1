import ArgumentParser
import CSupport
import Datasets
import Distributed
import DistributedMPI
import Foundation
import LinearAlgebra
import NeuralNetwork
import Reporting
import Training

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a network; writes config.json, metrics.csv, summary.json and model.safetensors into --out.")

  @OptionGroup(title: "Data") var dataOptions: DataOptions
  @OptionGroup(title: "Model") var modelOptions: ModelOptions
  @OptionGroup(title: "Optimization") var optimization: OptimizationOptions

  @Option(help: ArgumentHelp("Precision of training: float or double.", valueName: "float|double"))
  var precision = "float"

  @Option(help: ArgumentHelp("Output directory (default runs/YYYYmmdd-HHMMSS).", valueName: "DIR"))
  var out: String?

  @Option(help: ArgumentHelp("Start from a saved model (safetensors, same names) instead of a random init.", valueName: "FILE"))
  var initModel: String?

  @Option(help: "BLAS threads per rank (default: the node's cores divided by its ranks, at least 1).")
  var blasThreads: Int?

  @OptionGroup(title: "Matrix products") var gemmOptions: GEMMOptions

  @Option(help: ArgumentHelp("BatchNorm statistics over ranks: global (of the whole batch; N ranks = 1 process) or local (per rank's shard).", valueName: "global|local"))
  var bnSync = "global"

  @Option(help: ArgumentHelp("Check that every replica's parameters equal rank 0's every STEPS updates, or every epoch.", valueName: "STEPS|epoch"))
  var checkEvery = "epoch"

  @Option(help: ArgumentHelp("With several ranks: sharded (each rank updates its segment of the parameters, then they are gathered) or replicated (every rank updates everything after one allreduce); the same bits on one node.", valueName: "sharded|replicated"))
  var update = "sharded"

  @Option(help: ArgumentHelp("Write DIR/checkpoint.safetensors (atomically) every STEPS updates, at every epoch's end, or never.", valueName: "STEPS|epoch|never"))
  var checkpointEvery = "epoch"

  @Option(help: ArgumentHelp("Continue the run in DIR from its last checkpoint, with DIR/config.json's settings (the training options given here are not used; --blas-threads and the output flags are). Same seed and rank count: the model of an uninterrupted run, bit for bit.", valueName: "DIR"))
  var resume: String?

  @Flag(help: "Print only the final summary.")
  var quiet = false

  @Option(help: ArgumentHelp("Progress on the console: live (one line rewritten in place), plain (a line at most every 10 s, for logs), or auto (live on a terminal, plain otherwise and under mpirun).", valueName: "auto|live|plain"))
  var progress = "auto"

  @Option(help: ArgumentHelp("text, or json: one JSON object per line (start, progress, evaluation, finished/diverged).", valueName: "text|json"))
  var logFormat = "text"

  @Flag(help: "Do not write DIR/report.html (and gradients.json) at the end.")
  var noReport = false

  @Flag(help: "Ranks other than 0 print their progress too.")
  var verbose = false

  func validate() throws {
    try Console.validate(progress: progress, logFormat: logFormat)
    guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision: '\(precision)' should be float or double") }
    if let blasThreads, blasThreads < 1 { throw ValidationError("--blas-threads must be >= 1, got \(blasThreads)") }
    guard update == "sharded" || update == "replicated" else { throw ValidationError("--update: '\(update)' should be sharded or replicated") }
    guard BatchNormSync(rawValue: bnSync) != nil else { throw ValidationError("--bn-sync: '\(bnSync)' should be global or local") }
    if checkEvery != "epoch" {
      guard let n = Int(checkEvery), n >= 1 else { throw ValidationError("--check-every: '\(checkEvery)' should be a number of steps >= 1 or 'epoch'") }
    }
    if !["epoch", "never"].contains(checkpointEvery) {
      guard let n = Int(checkpointEvery), n >= 1 else { throw ValidationError("--checkpoint-every: '\(checkpointEvery)' should be a number of steps >= 1, 'epoch' or 'never'") }
    }
    if let resume, Launch.isPrintingRank() {
      for file in ["config.json", Checkpoint.fileName] where !FileManager.default.fileExists(atPath: (resume as NSString).appendingPathComponent(file)) {
        throw ValidationError("--resume \(resume): no \(file) there; give the --out DIR of a run that wrote a checkpoint")
      }
    }
    if let initModel, Launch.isPrintingRank(), !FileManager.default.fileExists(atPath: initModel) {
      throw ValidationError("--init-model: no file at \(initModel)")
    }
  }

  func run() throws {
    // A resumed run takes its settings from the run directory.
    let resumed = try resume.map { dir -> TrainingConfiguration in
      let path = (dir as NSString).appendingPathComponent("config.json")
      guard let bytes = FileManager.default.contents(atPath: path) else { throw CommandError("\(path): cannot read the run's configuration") }
      do { return try JSONDecoder().decode(TrainingConfiguration.self, from: bytes) } catch {
        throw CommandError("\(path): not a dptrain configuration (\(error))")
      }
    }
    let options = dataOptions
    let data = Prefetch {
      if let c = resumed { return try DatasetSplits.load(c.data, validation: c.validation, trainLimit: c.trainLimit) }
      return try options.load()
    }
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
      switch resumed?.precision ?? Precision(rawValue: precision)! {
      case .float: try train(Float.self, launch: launch, data: data, resumed: resumed)
      case .double: try train(Double.self, launch: launch, data: data, resumed: resumed)
      }
    }
  }

  func train<T: Real>(_: T.Type, launch: Launch, data prefetched: Prefetch<DatasetSplits>, resumed: TrainingConfiguration?) throws {
    let communicator = launch.communicator
    let isRoot = communicator.rank == 0
    BLAS.setThreads(blasThreads ?? Launch.defaultBLASThreads(localSize: launch.localSize))
    let kernel = try gemmOptions.select(T.self, request: resumed.map { resumeRequest($0, printing: isRoot) }, printing: isRoot)
    let data = try prefetched.value()
    var configuration = try resumed ?? resolvedConfiguration(data: data, communicator: communicator)
    configuration.ranks = communicator.size
    configuration.blasThreads = BLAS.threads
    configuration.gemm = kernel.backend
    configuration.gemmKernel = kernel
    guard let architecture = configuration.architecture else { throw CommandError("config.json: no architecture recorded; cannot resume") }
    let (model, normalization) = resumed == nil
      ? try initialModel(T.self, configuration: configuration, data: data, isRoot: isRoot)
      : (MLP<T>(architecture: architecture), data.normalization)

    let outPath = resume ?? out ?? "runs/" + {
      let f = DateFormatter()
      f.dateFormat = "yyyyMMdd-HHmmss"
      return f.string(from: Date())
    }()
    // Rank 0 alone reads the checkpoint and writes the run directory; the others train silently.
    let checkpoint: Trainer<T>.State? = try resume.map { dir in try Self.shareCheckpoint(isRoot ? Checkpoint.read(from: dir, as: T.self) : nil, communicator) }
    let directory = isRoot ? try RunDirectory(path: outPath, configuration: configuration, resumingWith: checkpoint?.metrics) : nil
    let trainer = Trainer<T>(
      configuration: configuration, model: model, train: data.train, validation: data.validation,
      normalization: normalization, communicator: communicator)
    if let checkpoint { trainer.restore(checkpoint) }
    trainer.stopRequested = { dptrain_stop_signal() != 0 }
    let processes = communicator.size == 1 ? "1 process" : "\(communicator.size) ranks" + (architecture.batchNorm ? " (BatchNorm statistics: \(bnSync))" : "")
    let console = Console(progress: progress, logFormat: logFormat, quiet: quiet)
    if isRoot {
      let network = "\(architecture.shapeDescription)\(architecture.batchNorm ? " BatchNorm" : ""), \(architecture.loss.rawValue)"
      console.info("dptrain \(dptrainVersion): \(network), \(T.dtypeName), \(processes), \(BLAS.threads) BLAS thread(s) per rank")
      console.info(GEMMOptions.header(kernel))
      console.info("data: \(data.sourceDescription)")
      console.info("schedule: \(configuration.schedule.description), batch \(configuration.batchSize), momentum \(configuration.momentum), lambda \(configuration.lambda), \(trainer.totalSteps) steps (\(trainer.stepsPerEpoch)/epoch)")
      console.info("output: \(outPath)")
      if let checkpoint { console.info("resuming at step \(checkpoint.step) of \(trainer.totalSteps) from \(Checkpoint.path(in: outPath)) (written by \(checkpoint.statePerRank.count) rank(s))") }
      console.event("start", [
        "version": dptrainVersion, "network": network, "precision": T.dtypeName, "ranks": communicator.size, "blas_threads": BLAS.threads,
        "gemm": kernel.description, "cpu": CPUInfo.current.summary,
        "data": data.sourceDescription, "schedule": configuration.schedule.description, "batch_size": configuration.batchSize,
        "total_steps": trainer.totalSteps, "steps_per_epoch": trainer.stepsPerEpoch, "output": outPath,
      ])
    }
    let observer: (any TrainingObserver)? =
      if let directory { ConsoleProgress(console: console, directory: directory) }
      else if verbose { RankProgress(rank: communicator.rank) } else { nil }
    let result: TrainingResult
    do {
      var checkpointFailing = false
      result = try trainer.run(observer: observer) { trainer in
        // Every rank gathers; rank 0 writes. A failed write is reported (once until one succeeds)
        // and training goes on: the previous checkpoint stays intact.
        let state = try trainer.checkpointState()
        guard let directory else { return }
        do {
          try Checkpoint.write(state, to: directory.path)
          if checkpointFailing { printError("checkpoint written again at step \(state.step)") }
          checkpointFailing = false
        } catch {
          if !checkpointFailing { printError("warning: \(error) (training goes on; further failures are not reported until a checkpoint succeeds)") }
          checkpointFailing = true
        }
      }
    } catch let error as TrainingError {
      if case .interrupted(let step) = error, let directory {
        let signal = dptrain_stop_signal() == SIGINT ? "SIGINT" : "SIGTERM"
        printError("\(signal): stopped after step \(step) of \(trainer.totalSteps); checkpoint \(Checkpoint.path(in: directory.path)); continue with: dptrain train --resume \(directory.path)")
        console.event("interrupted", ["step": step, "checkpoint": Checkpoint.path(in: directory.path)], important: true)
      }
      if case .diverged(let step, _) = error, let directory {
        try directory.writeSummary(RunSummary(
          status: "diverged", divergedAtStep: step, test: nil, last: trainer.metrics.last, epochs: Double(trainer.step) / Double(trainer.stepsPerEpoch),
          steps: trainer.step, ranks: communicator.size, trainSeconds: 0, samplesPerSecond: 0, communicationSeconds: nil, gemm: kernel))
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
    let test = try trainer.evaluate(data.test)
    do {
      try ModelFile.save(trainer.model, normalization: normalization, imageShape: data.train.shape, to: directory.modelPath)
    } catch {
      let resumable = FileManager.default.fileExists(atPath: Checkpoint.path(in: outPath))
        ? "; the last checkpoint is intact: make room and continue with dptrain train --resume \(outPath)" : ""
      throw CommandError("\(error)\(resumable)")
    }
    try directory.writeSummary(RunSummary(
      status: "finished", divergedAtStep: nil, test: test, last: result.metrics.last, epochs: result.epochs, steps: result.steps,
      ranks: communicator.size, trainSeconds: result.trainSeconds, samplesPerSecond: result.samplesPerSecond,
      communicationSeconds: communicator.size > 1 ? result.communicationSeconds : nil,
      perRank: communicator.size > 1 ? (result.communicationSecondsPerRank, result.trainSecondsPerRank) : nil, gemm: kernel))
    let replicas = communicator.size > 1 ? String(format: "; allreduce %.0f%% of step time on rank 0; replicas identical (%d checks)", 100 * result.communicationSeconds / max(result.trainSeconds, 1e-9), result.replicaChecks) : ""
    let report = noReport ? nil : try Report.write(runDirectory: outPath)
    if console.mode == .json {
      console.event("finished", [
        "test_accuracy": test.accuracy, "test_loss": test.loss, "steps": result.steps, "train_seconds": result.trainSeconds,
        "samples_per_second": result.samplesPerSecond, "model": directory.modelPath, "report": report ?? NSNull(),
        "communication_seconds": communicator.size > 1 ? result.communicationSeconds : NSNull(),
      ], important: true)
    } else {
      print(String(format: "test accuracy %.4f, test loss %.4f; %d steps in %@ (%.0f samples/s)%@; model: %@",
                   test.accuracy, test.loss, result.steps, formatDuration(result.trainSeconds), result.samplesPerSecond, replicas, directory.modelPath))
      if let report { print("report: \(report)") }
    }
    if let error = (observer as? ConsoleProgress)?.writeError {
      // The model and summary are saved; the metrics file misses rows.
      throw CommandError("\(outPath)/metrics.csv: could not record every metrics row (\(error)); the model and summary.json were saved")
    }
  }
}

extension Train {
  /// The backend a resumed run asks for: the one that computed its products so far (another
  /// rounds differently; a run whose config.json predates the record was computed by OpenBLAS),
  /// or auto, saying why, when this build lacks it.
  func resumeRequest(_ configuration: TrainingConfiguration, printing: Bool) -> GEMMRequest {
    let backend = configuration.gemm ?? .openblas
    guard backend.isBuiltIn else {
      if printing {
        printError("warning: --resume: the run's products were computed by \(configuration.gemmKernel?.description ?? backend.description), which this dptrain is built without; it continues with \(GEMM.kernel(of: .openblas)), so its last bits will differ from an uninterrupted run's")
      }
      return .auto
    }
    return GEMMRequest(rawValue: backend.rawValue)!
  }

  /// The run's configuration, resolved: defaults filled in, the schedule fitted to the data,
  /// the ranks and BLAS threads of this process.
  func resolvedConfiguration(data: DatasetSplits, communicator: any Communicator) throws -> TrainingConfiguration {
    guard optimization.batchSize <= data.train.count else {
      throw ValidationError("--batch-size \(optimization.batchSize) exceeds the \(data.train.count) training samples")
    }
    let architecture = try modelOptions.architecture(inputSize: data.features, classes: data.classes)
    let stepsPerEpoch = EpochOrder.batchCount(count: data.train.count, batchSize: optimization.batchSize)
    var configuration = TrainingConfiguration(
      data: data.source, validation: try dataOptions.parsed().1, trainLimit: dataOptions.trainLimit,
      hidden: architecture.hidden, batchNorm: architecture.batchNorm, bnAlpha: modelOptions.bnAlpha,
      loss: architecture.loss, initialization: try modelOptions.initialization(), seed: modelOptions.seed,
      precision: Precision(rawValue: precision)!, batchSize: optimization.batchSize, momentum: optimization.momentum,
      lambda: optimization.lambda, schedule: try optimization.schedule(stepsPerEpoch: stepsPerEpoch),
      epochs: optimization.cycles == nil ? (optimization.epochs ?? Defaults.epochs) : nil, cycles: optimization.cycles,
      maxSteps: optimization.maxSteps, evalEvery: optimization.evalEvery, shuffle: !optimization.noShuffle,
      initModel: initModel)
    configuration.architecture = architecture
    configuration.ranks = communicator.size
    configuration.blasThreads = BLAS.threads
    configuration.bnSync = BatchNormSync(rawValue: bnSync)!
    configuration.checkEvery = Int(checkEvery)
    configuration.checkpointEvery = Int(checkpointEvery)
    configuration.checkpointEachEpoch = checkpointEvery == "epoch"
    configuration.shardedUpdate = update == "sharded"
    return configuration
  }

  /// Rank 0's starting point: the `--init-model` file, or a seeded random init (the trainer
  /// broadcasts rank 0's model and normalization to the other ranks).
  func initialModel<T: Real>(_: T.Type, configuration: TrainingConfiguration, data: DatasetSplits, isRoot: Bool) throws -> (MLP<T>, FeatureNormalization) {
    let architecture = configuration.architecture!
    guard let initModel, isRoot else {
      return (MLP(architecture: architecture, initialization: configuration.initialization, seed: configuration.seed), data.normalization)
    }
    let loaded = try ModelFile.load(initModel, as: T.self, loss: architecture.loss)
    guard loaded.model.architecture.sizes == architecture.sizes, loaded.model.architecture.batchNorm == architecture.batchNorm else {
      throw ValidationError("--init-model \(initModel) is \(loaded.model.architecture.shapeDescription)\(loaded.model.architecture.batchNorm ? " with BatchNorm" : ""), but the options ask for \(architecture.shapeDescription)\(architecture.batchNorm ? " with BatchNorm" : "")")
    }
    return (loaded.model, loaded.normalization)
  }
}

extension Train {
  /// Rank 0's checkpoint on every rank (other ranks may not see rank 0's files).
  static func shareCheckpoint<T: Real>(_ state: Trainer<T>.State?, _ communicator: any Communicator) throws -> Trainer<T>.State {
    guard communicator.size > 1 else { return state! }
    var header: [Double] = [0, 0, 0, 0]
    if let state {
      header = [Double(state.step), Double(state.parameters.count), Double(state.statePerRank.count), Double(state.statePerRank.first?.count ?? 0)]
    }
    try communicator.broadcast(&header, root: 0)
    let (step, p, ranks, s) = (Int(header[0]), Int(header[1]), Int(header[2]), Int(header[3]))
    var parameters: [T] = state?.parameters ?? .zeros(p)
    var velocity: [T] = state?.velocity ?? .zeros(p)
    try communicator.broadcast(&parameters, root: 0)
    try communicator.broadcast(&velocity, root: 0)
    var states: [[T]] = []
    for r in 0..<ranks {
      var x: [T] = state?.statePerRank[r] ?? .zeros(s)
      try communicator.broadcast(&x, root: 0)
      states.append(x)
    }
    var samples: [Double] = (state?.localSamplesPerRank ?? [Int](repeating: 0, count: ranks)).map { Double($0) }
    try communicator.broadcast(&samples, root: 0)
    return Trainer<T>.State(step: step, parameters: parameters, velocity: velocity, statePerRank: states, localSamplesPerRank: samples.map { Int($0) }, metrics: state?.metrics ?? [])
  }
}

/// `--verbose` progress of ranks other than 0: one line per epoch.
final class RankProgress: TrainingObserver {
  let rank: Int
  init(rank: Int) { self.rank = rank }
  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {
    guard epoch == epoch.rounded() || step == totalSteps else { return }
    print(String(format: "[rank %d] epoch %.2f step %d/%d batch loss %.4f %.0f samples/s", rank, epoch, step, totalSteps, batchLoss, samplesPerSecond))
  }
  func trainingDidEvaluate(_ row: MetricsRow) {}
}
