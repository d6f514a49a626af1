import Datasets
import Distributed
import Files
import Foundation
import LinearAlgebra
import NeuralNetwork

/// One training run on a communicator, the life cycle that `dptrain train` and every sweep
/// trial share: the starting model (the `init-model` file or a seeded init on rank 0; the
/// Trainer broadcasts it), the checkpoint it continues from (read by rank 0, shared with every
/// rank), the run with its checkpoints written by rank 0, and at the end the test evaluation,
/// the model and `summary.json`. Every rank makes the same calls in the same order; the files
/// are rank 0's.
public final class TrainingRun<T: Real> {
  /// Resolved for the data (`TrainingConfiguration.resolved(for:)`).
  public let configuration: TrainingConfiguration
  public let data: DatasetSplits
  public let trainer: Trainer<T>
  /// The input normalization the model was trained with (the init-model's, or the data's).
  public let normalization: FeatureNormalization
  /// The checkpoint the run continues from; nil for a run from its start.
  public let restored: Trainer<T>.State?
  /// Where rank 0 writes the checkpoints (nil: none are written).
  public let checkpointDirectory: String?
  /// Told when a checkpoint write fails (the run goes on; the previous checkpoint is intact),
  /// and when one succeeds again after failures.
  public var onCheckpointFailure: ((_ error: any Error, _ first: Bool) -> Void)?
  public var onCheckpointRecovered: ((_ step: Int) -> Void)?

  public var communicator: any Communicator { trainer.communicator }
  var isRoot: Bool { trainer.communicator.rank == 0 }

  /// Whether a run continues from the checkpoint in its checkpoint directory.
  public enum Continuation: Sendable {
    /// A new run: an old checkpoint there is replaced by the run's own.
    case never
    /// Continues when rank 0 finds a checkpoint (sweep trials).
    case ifPresent
    /// Must continue (`--resume`): no checkpoint is an error.
    case required
  }

  /// What computed the products (recorded in the configuration and the summary).
  public let kernel: GEMMKernel

  /// A run of `configuration` on `data` (resolved for it here, with the ranks, BLAS threads and
  /// GEMM `kernel` of this process recorded), whose checkpoints rank 0 writes into
  /// `checkpointDirectory`. Continuing from a checkpoint is a collective: rank 0 reads it and
  /// every rank receives it.
  public init(
    configuration given: TrainingConfiguration, data: DatasetSplits, communicator: any Communicator, kernel: GEMMKernel,
    checkpointDirectory: String?, continuing: Continuation = .never
  ) throws {
    var configuration = try given.resolved(for: data)
    configuration.ranks = communicator.size
    configuration.blasThreads = BLAS.threads
    configuration.gemm = GEMMRequest(kernel.backend)
    configuration.gemmKernel = kernel
    self.kernel = kernel
    guard let architecture = configuration.architecture.resolved else { preconditionFailure("resolved without a network") }
    if architecture.batchNorm {
      try Self.checkBatchNormShards(configuration, trainingCount: data.train.count, ranks: communicator.size)
    }
    self.configuration = configuration
    self.data = data
    self.checkpointDirectory = checkpointDirectory
    let isRoot = communicator.rank == 0
    // Rank 0 looks for the checkpoint; every rank learns whether there is one.
    var found = 0.0
    if continuing != .never, let checkpointDirectory, isRoot,
      FileManager.default.fileExists(atPath: Checkpoint.path(in: checkpointDirectory))
    {
      found = 1
    }
    if continuing != .never && communicator.size > 1 { found = try communicator.broadcast(found, root: 0) }
    if continuing == .required && found == 0, let checkpointDirectory {
      throw FileError(.missing, path: Checkpoint.path(in: checkpointDirectory), problem: "no checkpoint here; nothing to continue")
    }
    let restored = found == 1 ? try Self.share(isRoot ? Checkpoint.read(from: checkpointDirectory!, as: T.self) : nil, communicator) : nil
    var model = MLP<T>(architecture: architecture)
    var normalization = data.normalization
    if restored == nil {
      if let initModel = configuration.initModel, isRoot {
        (model, normalization) = try Self.load(initModel, for: architecture)
      } else {
        model = MLP(architecture: architecture, initialization: configuration.initialization, seed: configuration.seed)
      }
    }
    self.normalization = normalization
    self.restored = restored
    trainer = Trainer<T>(
      configuration: configuration, model: model, train: data.train, validation: data.validation, normalization: normalization,
      communicator: communicator)
    if let restored {
      try Self.check(restored, fits: trainer, configuration: configuration, directory: checkpointDirectory ?? ".")
      trainer.restore(restored)
    }
  }

  /// BatchNorm's batch variance needs 2 samples in every batch it is taken over: the whole batch
  /// (`--bn-sync global`) or each rank's shard (`local`), the epoch's last, partial batch included.
  static func checkBatchNormShards(_ c: TrainingConfiguration, trainingCount: Int, ranks: Int) throws {
    let last = trainingCount % c.batchSize
    let over = c.bnSync == .local && ranks > 1 ? ranks : 1
    let smallest = min(c.batchSize / over, last == 0 ? Int.max : last / over)
    guard smallest >= 2 else {
      let shard = over > 1 ? "each rank's shard (--bn-sync local, \(ranks) ranks)" : "every batch"
      throw ConfigurationError(
        option: "--batch-size",
        " \(c.batchSize) leaves \(smallest) sample(s) in \(shard)\(last > 0 ? " (the epoch's last batch has \(last) of the \(trainingCount) samples)" : ""): BatchNorm needs at least 2 for a batch variance; choose another batch size or --train-limit"
      )
    }
  }

  /// A checkpoint must be of this run: the network's parameter and BatchNorm state counts, and
  /// a step within the run. Every rank holds the shared checkpoint and throws alike.
  static func check(_ state: Trainer<T>.State, fits trainer: Trainer<T>, configuration: TrainingConfiguration, directory: String) throws {
    let path = Checkpoint.path(in: directory)
    let network = configuration.architecture.resolved.map { "\($0.shapeDescription)\($0.batchNorm ? " with BatchNorm" : "")" } ?? "?"
    func mismatch(_ problem: String) -> FileError {
      FileError(
        .malformed, path: path,
        problem:
          "\(problem); the run's configuration (\((directory as NSString).appendingPathComponent("config.json"))) describes \(network) over \(trainer.totalSteps) steps: the checkpoint belongs to another run"
      )
    }
    let parameters = trainer.model.parameters.count
    guard state.parameters.count == parameters, state.velocity.count == parameters else {
      throw mismatch(
        "holds \(state.parameters.count) parameters (and \(state.velocity.count) velocities) where the network has \(parameters)")
    }
    let stateCount = trainer.model.state.count
    guard state.statePerRank.allSatisfy({ $0.count == stateCount }), state.localSamplesPerRank.count == state.statePerRank.count
    else {
      throw mismatch(
        "holds BatchNorm statistics of \(state.statePerRank.first?.count ?? 0) values per rank where the network has \(stateCount)")
    }
    guard state.step >= 0, state.step <= trainer.totalSteps else {
      throw mismatch("is at step \(state.step)")
    }
  }

  /// Trains to the end (or throws `TrainingError`: diverged, interrupted after its checkpoint).
  public func run(observer: (any TrainingObserver)?) throws -> TrainingResult {
    var failing = false
    return try trainer.run(observer: observer) { [self] trainer in
      // Every rank gathers; rank 0 writes. A failed write is reported (once until one succeeds)
      // and training goes on: the previous checkpoint stays intact.
      let state = try trainer.checkpointState()
      guard isRoot, let checkpointDirectory else { return }
      do {
        try FileManager.default.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
        try Checkpoint.write(state, to: checkpointDirectory)
        if failing { onCheckpointRecovered?(state.step) }
        failing = false
      } catch {
        onCheckpointFailure?(error, !failing)
        failing = true
      }
    }
  }

  /// Rank 0, after a finished run: evaluates the test set, saves the model into `directory`
  /// and writes its `summary.json`; returns the test metrics.
  @discardableResult
  public func finish(_ result: TrainingResult, in directory: RunDirectory) throws -> SplitMetrics {
    let test = try trainer.evaluate(data.test)
    do {
      try ModelFile.save(trainer.model, normalization: normalization, imageShape: data.train.shape, to: directory.modelPath)
    } catch {
      // A run directory that holds its own checkpoint can continue once there is room.
      let resumable = checkpointDirectory == directory.path && FileManager.default.fileExists(atPath: Checkpoint.path(in: directory.path))
      let hint = resumable ? "; the last checkpoint is intact: make room and continue with dptrain train --resume \(directory.path)" : ""
      if var error = error as? FileError {
        error.problem += hint
        throw error
      }
      throw FileError(.unwritable, path: directory.modelPath, problem: describeIOError(error) + hint)
    }
    let ranks = communicator.size
    var summary = RunSummary(
      status: "finished", divergedAtStep: nil, test: test, last: result.metrics.last, epochs: result.epochs, steps: result.steps,
      ranks: ranks, trainSeconds: result.trainSeconds, samplesPerSecond: result.samplesPerSecond,
      communicationSeconds: ranks > 1 ? result.communicationSeconds : nil,
      perRank: ranks > 1 ? (result.communicationSecondsPerRank, result.trainSecondsPerRank) : nil, gemm: kernel)
    if ranks > 1 {
      summary.hosts = result.hosts
      summary.slowRanks = result.slowRanks
    }
    try directory.writeSummary(summary)
    return test
  }

  /// Rank 0, after a divergence at `step`: `summary.json` says so (the metrics so far are in
  /// metrics.csv).
  public func writeDiverged(step: Int, in directory: RunDirectory) throws {
    try directory.writeSummary(
      RunSummary(
        status: "diverged", divergedAtStep: step, test: nil, last: trainer.metrics.last,
        epochs: Double(trainer.step) / Double(trainer.stepsPerEpoch), steps: trainer.step, ranks: communicator.size, trainSeconds: 0,
        samplesPerSecond: 0, communicationSeconds: nil, gemm: kernel))
  }

  /// The `init-model` file, which must hold the configured network.
  static func load(_ path: String, for architecture: Architecture) throws -> (MLP<T>, FeatureNormalization) {
    let loaded = try ModelFile.load(path, as: T.self, loss: architecture.loss)
    let found = loaded.model.architecture
    guard found.sizes == architecture.sizes, found.batchNorm == architecture.batchNorm else {
      throw ConfigurationError(
        option: "--init-model",
        " \(path) is \(found.shapeDescription)\(found.batchNorm ? " with BatchNorm" : ""), but the options ask for \(architecture.shapeDescription)\(architecture.batchNorm ? " with BatchNorm" : "")"
      )
    }
    return (loaded.model, loaded.normalization)
  }

  /// Rank 0's checkpoint on every rank (other ranks may not see rank 0's files).
  static func share(_ state: Trainer<T>.State?, _ communicator: any Communicator) throws -> Trainer<T>.State {
    guard communicator.size > 1 else { return state! }
    var header: [Double] = [0, 0, 0, 0]
    if let state {
      header = [
        Double(state.step), Double(state.parameters.count), Double(state.statePerRank.count), Double(state.statePerRank.first?.count ?? 0),
      ]
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
    return Trainer<T>.State(
      step: step, parameters: parameters, velocity: velocity, statePerRank: states, localSamplesPerRank: samples.map { Int($0) },
      metrics: state?.metrics ?? [])
  }
}
