import ArgumentParser
import CSupport
import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork
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

  @Option(help: "BLAS threads of this process (default: the machine's cores).")
  var blasThreads: Int?

  @Flag(help: "Print only the final summary.")
  var quiet = false

  func validate() throws {
    guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision: '\(precision)' should be float or double") }
    if let blasThreads, blasThreads < 1 { throw ValidationError("--blas-threads must be >= 1, got \(blasThreads)") }
    if let initModel, !FileManager.default.fileExists(atPath: initModel) {
      throw ValidationError("--init-model: no file at \(initModel)")
    }
  }

  func run() throws {
    switch Precision(rawValue: precision)! {
    case .float: try train(Float.self)
    case .double: try train(Double.self)
    }
  }

  func train<T: Real>(_: T.Type) throws {
    BLAS.setThreads(blasThreads ?? ProcessInfo.processInfo.activeProcessorCount)
    let data = try dataOptions.load()
    guard optimization.batchSize <= data.train.count else {
      throw ValidationError("--batch-size \(optimization.batchSize) exceeds the \(data.train.count) training samples")
    }
    let architecture = try modelOptions.architecture(inputSize: data.features, classes: data.classes)
    let stepsPerEpoch = (data.train.count + optimization.batchSize - 1) / optimization.batchSize
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
    configuration.ranks = 1
    configuration.blasThreads = BLAS.threads

    var model: MLP<T>
    var normalization = data.normalization
    if let initModel {
      let loaded = try ModelFile.load(initModel, as: T.self, loss: architecture.loss)
      guard loaded.model.architecture.sizes == architecture.sizes, loaded.model.architecture.batchNorm == architecture.batchNorm else {
        throw ValidationError("--init-model \(initModel) is \(loaded.model.architecture.shapeDescription)\(loaded.model.architecture.batchNorm ? " with BatchNorm" : ""), but the options ask for \(architecture.shapeDescription)\(architecture.batchNorm ? " with BatchNorm" : "")")
      }
      model = loaded.model
      normalization = loaded.normalization
    } else {
      model = MLP(architecture: architecture, initialization: configuration.initialization, seed: configuration.seed)
    }

    let outPath = out ?? "runs/" + {
      let f = DateFormatter()
      f.dateFormat = "yyyyMMdd-HHmmss"
      return f.string(from: Date())
    }()
    let directory = try RunDirectory(path: outPath, configuration: configuration)
    let trainer = Trainer<T>(
      configuration: configuration, model: model, train: data.train, validation: data.validation,
      normalization: normalization, communicator: SingleProcessCommunicator())
    if !quiet {
      print("dptrain \(dptrainVersion): \(architecture.shapeDescription)\(architecture.batchNorm ? " BatchNorm" : ""), \(architecture.loss.rawValue), \(T.dtypeName), 1 process, \(BLAS.threads) BLAS thread(s)")
      print("data: \(data.sourceDescription)")
      print("schedule: \(configuration.schedule.description), batch \(configuration.batchSize), momentum \(configuration.momentum), lambda \(configuration.lambda), \(trainer.totalSteps) steps (\(trainer.stepsPerEpoch)/epoch)")
      print("output: \(outPath)")
    }
    let console = ConsoleProgress(quiet: quiet, directory: directory)
    let result: TrainingResult
    do {
      result = try trainer.run(observer: console)
    } catch let error as TrainingError {
      if case .diverged(let step, _) = error {
        try directory.writeSummary(RunSummary(
          status: "diverged", divergedAtStep: step, test: nil, last: trainer.metrics.last, epochs: Double(trainer.step) / Double(trainer.stepsPerEpoch),
          steps: trainer.step, ranks: 1, trainSeconds: 0, samplesPerSecond: 0))
      }
      printError("error: \(error) (metrics so far in \(outPath)/metrics.csv)")
      throw ExitCode(ExitCodes.diverged)
    }
    let test = try trainer.evaluate(data.test)
    try ModelFile.save(trainer.model, normalization: normalization, imageShape: data.train.shape, to: directory.modelPath)
    try directory.writeSummary(RunSummary(
      status: "finished", divergedAtStep: nil, test: test, last: result.metrics.last, epochs: result.epochs, steps: result.steps,
      ranks: 1, trainSeconds: result.trainSeconds, samplesPerSecond: result.samplesPerSecond))
    print(String(format: "test accuracy %.4f, test loss %.4f; %d steps in %@ (%.0f samples/s); model: %@",
                 test.accuracy, test.loss, result.steps, formatDuration(result.trainSeconds), result.samplesPerSecond, directory.modelPath))
  }
}

/// Progress on the console: one line per evaluation point, and a live line on a terminal.
final class ConsoleProgress: TrainingObserver {
  let quiet: Bool
  let directory: RunDirectory
  let isTerminal = isatty(STDOUT_FILENO) != 0
  var lastLive = 0.0
  var writeError: (any Error)?

  init(quiet: Bool, directory: RunDirectory) {
    self.quiet = quiet
    self.directory = directory
  }

  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {
    guard isTerminal, !quiet else { return }
    let now = Date().timeIntervalSinceReferenceDate
    guard now - lastLive > 0.2 else { return }
    lastLive = now
    print(String(format: "\r  epoch %.2f  step %d/%d  eta %.2e  loss %.4f  %.0f samples/s\u{1B}[K", epoch, step, totalSteps, eta, batchLoss, samplesPerSecond), terminator: "")
    dptrain_flush_stdout()
  }

  func trainingDidEvaluate(_ row: MetricsRow) {
    do { try directory.append(row) } catch { writeError = error }
    guard !quiet else { return }
    var line = String(format: "epoch %6.2f  step %6d  eta %.2e  train cost %.4f loss %.4f acc %.4f", row.epoch, row.step, row.eta, row.train.cost, row.train.loss, row.train.accuracy)
    if let v = row.validation { line += String(format: "  |  val cost %.4f loss %.4f acc %.4f", v.cost, v.loss, v.accuracy) }
    print((isTerminal ? "\r\u{1B}[K" : "") + line)
  }
}
