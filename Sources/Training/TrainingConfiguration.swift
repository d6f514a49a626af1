import Datasets
import LinearAlgebra
import NeuralNetwork

/// Scalar type of training.
public enum Precision: String, Codable, Sendable, CaseIterable {
  case float, double
}

/// Where BatchNorm's batch statistics come from when a batch is split over ranks.
public enum BatchNormSync: String, Codable, Sendable, CaseIterable {
  /// Statistics of the GLOBAL batch: per-feature sums allreduced in forward, and the two
  /// gradient sums in backward. N ranks compute what one process computes. The default.
  case global
  /// Each rank normalizes with its own shard's statistics (no BatchNorm communication; a
  /// different model from one process's). Running averages are merged, count-weighted, before
  /// evaluation and saving.
  case local
}

/// Everything that determines a training run, resolved (defaults filled in) and written into
/// every run directory as `config.json`, so that any number can be reproduced.
public struct TrainingConfiguration: Codable, Sendable {
  public var version: String = dptrainVersion
  public var data: DataSource
  public var validation: ValidationSplit
  public var trainLimit: Int?
  public var hidden: [Int]
  public var batchNorm: Bool
  /// Running-average factor: `avg = alpha * avg + (1 - alpha) * batch`.
  public var bnAlpha: Double
  public var batchNormEpsilon: Double = Architecture.defaultBatchNormEpsilon
  public var loss: LossFunction
  public var initialization: Initialization
  public var seed: UInt64
  public var precision: Precision
  public var batchSize: Int
  public var momentum: Double
  public var lambda: Double
  public var schedule: LearningRateSchedule
  /// Length of training: `epochs`, or `cycles` of a cyclical schedule (2 n_s K steps);
  /// `maxSteps` caps either.
  public var epochs: Int?
  public var cycles: Int?
  public var maxSteps: Int?
  /// Evaluate (and write a metrics row) every this many updates, besides every epoch's end.
  public var evalEvery: Int?
  public var shuffle: Bool
  public var initModel: String?
  public var bnSync: BatchNormSync = .global
  /// With several ranks, each updates its segment of the parameters and the segments are
  /// gathered (less work per rank than every rank updating everything; the same bits).
  public var shardedUpdate: Bool = true
  /// Compare a checksum of every replica's parameters with rank 0's every this many updates
  /// (nil: at every epoch's end); always at the end of training.
  public var checkEvery: Int?
  /// Write a checkpoint every this many updates; nil with `checkpointEachEpoch` false: never.
  public var checkpointEvery: Int?
  /// Write a checkpoint at every epoch's end (the default of `train`).
  public var checkpointEachEpoch: Bool?
  /// Filled in when the run starts.
  public var ranks: Int = 1
  public var blasThreads: Int = 1
  /// The backend that computed the products (`--gemm`, resolved and self-checked; nil in
  /// configurations written before dptrain recorded it). `--resume` uses it again, since
  /// another backend rounds differently.
  public var gemm: GEMMBackend?
  /// Its library, version and kernel, e.g. `oneDNN 2.6.3 (avx2 kernels)`.
  public var gemmKernel: GEMMKernel?
  public var architecture: Architecture?

  public init(
    data: DataSource, validation: ValidationSplit, trainLimit: Int?, hidden: [Int], batchNorm: Bool, bnAlpha: Double,
    loss: LossFunction, initialization: Initialization, seed: UInt64, precision: Precision, batchSize: Int,
    momentum: Double, lambda: Double, schedule: LearningRateSchedule, epochs: Int?, cycles: Int?, maxSteps: Int?,
    evalEvery: Int?, shuffle: Bool, initModel: String?
  ) {
    self.data = data
    self.validation = validation
    self.trainLimit = trainLimit
    self.hidden = hidden
    self.batchNorm = batchNorm
    self.bnAlpha = bnAlpha
    self.loss = loss
    self.initialization = initialization
    self.seed = seed
    self.precision = precision
    self.batchSize = batchSize
    self.momentum = momentum
    self.lambda = lambda
    self.schedule = schedule
    self.epochs = epochs
    self.cycles = cycles
    self.maxSteps = maxSteps
    self.evalEvery = evalEvery
    self.shuffle = shuffle
    self.initModel = initModel
  }

  /// Update steps of the whole run for a training split of `count` samples.
  public func totalSteps(trainingCount count: Int) -> Int {
    let perEpoch = EpochOrder.batchCount(count: count, batchSize: batchSize)
    var steps: Int
    if let cycles, case .cyclical(_, _, let ns) = schedule {
      steps = 2 * ns * cycles
    } else {
      steps = (epochs ?? 1) * perEpoch
    }
    if let maxSteps { steps = min(steps, maxSteps) }
    return steps
  }
}

public let dptrainVersion = "0.1.0"
