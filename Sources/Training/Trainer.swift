import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible {
  /// The loss became NaN or infinite at update step `step` (1-based), or (with `loss` finite) the
  /// parameters did.
  case diverged(step: Int, loss: Double)
  /// After update `step`, the parameters of `ranks` differ from rank 0's.
  case replicasDiffer(step: Int, ranks: [Int])
  /// A rank was asked to stop (a signal); every rank stopped after update `step`, once the
  /// checkpoint callback had run.
  case interrupted(step: Int)

  public var description: String {
    switch self {
    case .diverged(let step, let loss):
      "diverged at step \(step): \(loss.isFinite ? "the parameters became non-finite (the training loss was \(loss))" : "the training loss became \(loss)"); lower the learning rate (--eta / --cyclical) or check --init"
    case .replicasDiffer(let step, let ranks):
      "replica consistency check failed after step \(step): the parameters of rank(s) \(ranks.map(String.init).joined(separator: ", ")) differ from rank 0's"
    case .interrupted(let step):
      "interrupted after step \(step)"
    }
  }
}

/// Receives progress from the trainer (the console, the run directory).
public protocol TrainingObserver: AnyObject {
  /// After every update: step done (1-based), total steps, fractional epoch, rate, the
  /// global batch's mean loss before the update, and training samples per second so far.
  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double)
  /// After every evaluation point (a row of `metrics.csv`).
  func trainingDidEvaluate(_ row: MetricsRow)
  /// Rank 0, at an evaluation point of a multi-rank run: ranks whose compute time per step
  /// since the last one was well above the others'.
  func trainingDidFindSlowRanks(_ ranks: [SlowRank])
}

extension TrainingObserver {
  public func trainingDidFindSlowRanks(_ ranks: [SlowRank]) {}
}

/// What a finished run measured.
public struct TrainingResult: Sendable {
  public var metrics: [MetricsRow]
  public var steps: Int
  public var epochs: Double
  /// Wall time of the update steps alone (gather, forward, backward, allreduce, update),
  /// without evaluation.
  public var trainSeconds: Double
  public var samplesPerSecond: Double
  /// Of `trainSeconds`, the time this rank spent in collectives (gradient allreduce and
  /// BatchNorm statistics): waiting for other ranks included.
  public var communicationSeconds: Double
  /// Replica consistency checks passed.
  public var replicaChecks: Int
  /// Every rank's `communicationSeconds` (and `trainSeconds`), in rank order.
  public var communicationSecondsPerRank: [Double] = []
  public var trainSecondsPerRank: [Double] = []
  /// Every rank's host, and the slow ranks found at the evaluation points (multi-rank runs).
  public var hosts: [String] = []
  public var slowRanks: [SlowRank] = []
}

/// The training loop. Distribution touches the loop, never the model:
///
/// 1. Every rank holds the same model (rank 0 initialises or loads it, then broadcasts).
/// 2. Every rank draws the same epoch order from the seed; global batch `b` is
///    `order[b*B ..< (b+1)*B]`, and this rank takes its contiguous shard (sizes differ by at
///    most one, so B need not divide by the rank count).
/// 3. Forward and backward on the shard give gradient SUMS; BatchNorm, by default, uses the
///    statistics of the GLOBAL batch: its per-feature sums are allreduced in forward and its two
///    gradient sums in backward, so N ranks compute what one process computes on the batch.
/// 4. The gradient sums of the flat buffer are reduce-scattered (each rank gets the global sum
///    of its segment), divided by the GLOBAL batch count: exact even when shards are uneven.
///    Where the ranks share memory (one node), nothing is moved: each rank reads the others'
///    sums of its segment in place and adds them, in rank order, inside the update of step 5.
/// 5. Each rank applies the momentum update, with the rate of the global step, to its segment,
///    and the segments are all-gathered (ZeRO stage 1 without freeing memory: the arithmetic per
///    element is that of every rank updating everything, so replicas stay bitwise identical;
///    `update: .replicated` does exactly that instead, after one allreduce).
public final class Trainer<T: Real> {
  public let configuration: TrainingConfiguration
  /// The configuration's learning rate on this training split.
  public let schedule: LearningRateSchedule
  public internal(set) var model: MLP<T>
  public internal(set) var optimizer: MomentumSGD<T>
  public let train: any SampleSource
  public let validation: (any SampleSource)?
  public let communicator: any Communicator
  /// The reduction buffer's memory where the communicator has no shared memory.
  let reductionStorage = ReductionStorage()
  /// Normalization in the training precision (rank 0's, after `broadcastInitialState`).
  public private(set) var mean: [T], invStd: [T]
  public internal(set) var metrics: [MetricsRow] = []
  public internal(set) var step = 0
  public let stepsPerEpoch: Int
  public let totalSteps: Int

  /// Polled at every step on every rank: true asks to stop. The ranks agree through the step's
  /// loss allreduce (any rank asking stops all at the same step), the checkpoint callback runs,
  /// and `run` throws `TrainingError.interrupted`.
  public var stopRequested: (() -> Bool)?

  public init(
    configuration: TrainingConfiguration, model: MLP<T>, train: any SampleSource, validation: (any SampleSource)?,
    normalization: FeatureNormalization, communicator: any Communicator
  ) {
    precondition(train.count > 0 && configuration.batchSize > 0)
    self.configuration = configuration
    self.model = model
    self.train = train
    self.validation = validation?.count == 0 ? nil : validation
    self.communicator = communicator
    mean = normalization.mean(as: T.self)
    invStd = normalization.invStd(as: T.self)
    optimizer = MomentumSGD(layout: model.layout, momentum: configuration.momentum, lambda: configuration.lambda)
    stepsPerEpoch = EpochOrder.batchCount(count: train.count, batchSize: configuration.batchSize)
    totalSteps = configuration.totalSteps(trainingCount: train.count)
    schedule = configuration.learningRate(stepsPerEpoch: stepsPerEpoch)
  }

  /// The sample order of every epoch: a pure function of the seed and the epoch.
  public var epochOrder: EpochOrder { EpochOrder(count: train.count, seed: configuration.seed, shuffle: configuration.shuffle) }

  /// Makes every replica start from rank 0's model (parameters and BatchNorm statistics)
  /// and normalization. Called by `run`; a no-op on one rank.
  public func broadcastInitialState() throws {
    guard communicator.size > 1 else { return }
    Watchdog.enter("the broadcast of the initial model (every rank reads the data first)")
    try communicator.broadcast(&model.parameters, root: 0)
    // A restored run with per-rank BatchNorm statistics keeps each rank's own averages.
    if !(restoredPerRankState && configuration.bnSync == .local) { try communicator.broadcast(&model.state, root: 0) }
    try communicator.broadcast(&mean, root: 0)
    try communicator.broadcast(&invStd, root: 0)
  }

  /// Trains without evaluating (benchmarks).
  public func trainOnly() throws -> TrainingResult { try run(observer: nil, evaluate: false) }

  /// Trains to `totalSteps`. Rank 0 evaluates and reports to `observer`; every rank must call
  /// it (the collectives pair up step by step). `checkpoint` runs on every rank after each
  /// update the configuration's checkpoint cadence names (and may call `checkpointState()`).
  public func run(observer: (any TrainingObserver)? = nil, checkpoint: ((Trainer<T>) throws -> Void)? = nil) throws -> TrainingResult {
    try run(observer: observer, evaluate: true, checkpoint: checkpoint)
  }

  func run(observer: (any TrainingObserver)?, evaluate evaluating: Bool, checkpoint: ((Trainer<T>) throws -> Void)? = nil) throws
    -> TrainingResult
  {
    try broadcastInitialState()
    let b = configuration.batchSize
    let d = train.features
    let ranks = communicator.size
    let rank = communicator.rank
    let maxShard = (b + ranks - 1) / ranks
    let pass = BatchPass<T>(architecture: model.architecture, features: d, capacity: maxShard)
    let p = model.layout.count
    // Gradient sums, then the batch's loss sum and correct count, in memory the communicator
    // reduces from directly (shared memory on an MPI node).
    let shared = communicator as? any SharedMemoryReduction
    let reduced: UnsafeMutableBufferPointer<T> = try shared?.makeReductionBuffer(count: p + 3) ?? reductionStorage.buffer(count: p + 3)
    let synchronized = ranks > 1 && configuration.bnSync == .global
    let sharded = ranks > 1 && configuration.update == .sharded
    let reducer = synchronized ? TimedReducer(communicator: communicator) : nil
    var trainSeconds = 0.0
    var communicationSeconds = 0.0
    var samples = 0
    var epoch = step / stepsPerEpoch
    let epochOrder = self.epochOrder
    var currentOrder = epochOrder.order(epoch: epoch)
    var replicaChecks = 0
    Watchdog.enter("the exchange of the ranks' host names")
    let hosts = ranks > 1 ? try SlowRank.hostNames(communicator) : []
    // Compute time: the update steps without their collectives; each evaluation point compares
    // the ranks' compute since the one before.
    var computeSeconds: Double { trainSeconds - communicationSeconds - (reducer?.seconds ?? 0) }
    var intervalStart = (step: step + 1, compute: 0.0)
    var slowRanks: [SlowRank] = []

    while step < totalSteps {
      let e = step / stepsPerEpoch
      if e != epoch {
        epoch = e
        currentOrder = epochOrder.order(epoch: e)
      }
      let started = DispatchTime.now().uptimeNanoseconds
      Watchdog.enter("a training step's forward and backward pass", step: step + 1, of: totalSteps)
      let within = step - e * stepsPerEpoch
      let global = (within * b)..<min((within + 1) * b, train.count)
      let local = EpochOrder.shard(of: global, rank: rank, size: ranks)
      let rows = local.count
      pass.gather(train, indices: currentOrder[local], mean: mean, invStd: invStd)
      if within + 1 < stepsPerEpoch {
        let next = ((within + 1) * b)..<min((within + 2) * b, train.count)
        train.prefetch(indices: currentOrder[EpochOrder.shard(of: next, rank: rank, size: ranks)])
      }
      let context = BatchContext(globalCount: synchronized ? global.count : rows, reducer: reducer)
      let shard = try pass.forward(model, mode: .training, batch: context, gradient: true)
      try pass.backward(model, batch: context, gradients: reduced.baseAddress!)
      reduced[p] = T(shard.lossSum)
      reduced[p + 1] = T(shard.correct)
      reduced[p + 2] = stopRequested?() == true ? 1 : 0
      let t0 = DispatchTime.now().uptimeNanoseconds
      Watchdog.enter("the gradient exchange (waiting for every rank's gradients)")
      let sums = try exchange(reduced, parameters: p, sharded: sharded, shared: shared)
      if ranks > 1 { communicationSeconds += secondsSince(t0) }
      // The global loss sum and stop votes: the addends' tails in rank order, as an allreduce
      // sums them (one addend: the reduced values themselves).
      let lossSum = sums.reduce(T(0)) { $0 + $1[p] }
      let stopVotes = sums.reduce(T(0)) { $0 + $1[p + 2] }
      let batchLoss = Double(lossSum) / Double(global.count)
      let stopping = stopVotes > 0
      guard batchLoss.isFinite else { throw TrainingError.diverged(step: step + 1, loss: batchLoss) }
      let eta = schedule.rate(step: step, epoch: e)
      optimizer.step(
        parameters: &model.parameters, layout: model.layout, gradientSumAddends: sums, batchCount: global.count, eta: eta,
        range: sharded ? communicator.segment(count: p, rank: rank) : nil)
      if sharded {
        let t0 = DispatchTime.now().uptimeNanoseconds
        Watchdog.enter("the all-gather of the updated parameters")
        try model.parameters.withUnsafeMutableBufferPointer { try communicator.allGather($0) }
        communicationSeconds += secondsSince(t0)
      }
      model.updateRunningStatistics(from: pass.cache, alpha: T(configuration.bnAlpha))
      step += 1
      samples += global.count
      localSamples += rows
      trainSeconds += secondsSince(started)
      let epochDone = step % stepsPerEpoch == 0
      observer?.trainingDidStep(
        step: step, totalSteps: totalSteps, epoch: Double(step) / Double(stepsPerEpoch), eta: eta,
        batchLoss: batchLoss, samplesPerSecond: Double(samples) / max(trainSeconds, 1e-9))
      let checkDue = ranks > 1 && (step == totalSteps || (configuration.checkEvery.map { step % $0 == 0 } ?? epochDone))
      if checkDue {
        Watchdog.enter("the replica consistency check")
        try checkReplicas()
        replicaChecks += 1
      }
      let evalDue = epochDone || step == totalSteps || (configuration.evalEvery.map { step % $0 == 0 } ?? false)
      if evalDue && evaluating && ranks > 1 {
        Watchdog.enter("the exchange of the ranks' compute times")
        var compute = [Double](repeating: 0, count: ranks)
        compute[rank] = computeSeconds - intervalStart.compute
        try communicator.allReduceSum(&compute)
        let slow = SlowRank.find(compute: compute, hosts: hosts, firstStep: intervalStart.step, lastStep: step)
        if rank == 0 && !slow.isEmpty { observer?.trainingDidFindSlowRanks(slow) }
        slowRanks += slow
        intervalStart = (step + 1, computeSeconds)
      }
      if evalDue && evaluating {
        Watchdog.enter("the evaluation")
        try mergeRunningStatistics()
        // Every rank evaluates a share of the chunks; rank 0 records the row.
        let row = MetricsRow(
          epoch: Double(step) / Double(stepsPerEpoch), step: step, eta: eta,
          train: try evaluateTogether(train), validation: try validation.map { try evaluateTogether($0) })
        if rank == 0 {
          metrics.append(row)
          observer?.trainingDidEvaluate(row)
        }
        // The update itself can overflow the parameters: the next batch would catch it, but an
        // evaluation point sees it first, on every rank alike, so all stop together.
        // A finite loss with non-finite parameters (an infinite weight that the ReLUs mask, a
        // BatchNorm average) is diverged as well: a saved model is always finite.
        guard row.train.loss.isFinite, Self.allFinite(model.parameters), Self.allFinite(model.state) else {
          throw TrainingError.diverged(step: step, loss: row.train.loss)
        }
      }
      let checkpointDue =
        step < totalSteps
        && {
          switch configuration.checkpointEvery {
          case .steps(let n): step % n == 0
          case .epoch: epochDone
          case .never: false
          }
        }()
      if checkpointDue || (stopping && step < totalSteps), let checkpoint {
        Watchdog.enter("the checkpoint")
        try checkpoint(self)
      }
      if stopping && step < totalSteps { throw TrainingError.interrupted(step: step) }
    }
    if let reducer { communicationSeconds += reducer.seconds }
    var result = TrainingResult(
      metrics: metrics, steps: step, epochs: Double(step) / Double(stepsPerEpoch), trainSeconds: trainSeconds,
      samplesPerSecond: Double(samples) / max(trainSeconds, 1e-9), communicationSeconds: communicationSeconds,
      replicaChecks: replicaChecks)
    // Every rank's timings, for the report (one small allreduce at the end).
    var timings = [Double](repeating: 0, count: 2 * ranks)
    timings[rank] = communicationSeconds
    timings[ranks + rank] = trainSeconds
    if ranks > 1 {
      Watchdog.enter("the exchange of the ranks' timings after the last step")
      try communicator.allReduceSum(&timings)
    }
    result.communicationSecondsPerRank = Array(timings[0..<ranks])
    result.trainSecondsPerRank = Array(timings[ranks...])
    result.hosts = hosts
    result.slowRanks = slowRanks
    return result
  }

  /// Samples this rank has trained on (its shards), the weight of its running averages.
  public internal(set) var localSamples = 0
  /// Set by `restore`: keep each rank's own BatchNorm averages (local statistics) at start.
  var restoredPerRankState = false

}

/// Synchronized BatchNorm through the trainer's communicator, timing its collectives.
extension Trainer {
  static func allFinite(_ values: [T]) -> Bool {
    values.withUnsafeBufferPointer { buffer in
      var finite = true
      for v in buffer where !v.isFinite { finite = false }
      return finite
    }
  }
}

final class TimedReducer: BatchStatisticsReducer {
  let communicator: any Communicator
  var seconds = 0.0
  init(communicator: any Communicator) { self.communicator = communicator }
  func sumAcrossReplicas<U: Real>(_ buffer: UnsafeMutableBufferPointer<U>) throws {
    let t0 = DispatchTime.now().uptimeNanoseconds
    Watchdog.enter("the BatchNorm statistics allreduce")
    try communicator.allReduceSum(buffer)
    seconds += secondsSince(t0)
  }
}

/// Seconds since `start`, a `DispatchTime` uptime in nanoseconds.
@inline(__always)
func secondsSince(_ start: UInt64) -> Double {
  Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
}
