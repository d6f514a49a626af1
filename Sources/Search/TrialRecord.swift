/// Where a trial is in its life: queued -> running -> finished | diverged | failed.
public enum TrialStatus: String, Codable, Sendable, CaseIterable {
  case queued, running, finished, diverged, failed
  /// finished, diverged or failed: the trial will not run again.
  public var isDone: Bool { self == .finished || self == .diverged || self == .failed }
}

/// One evaluation point of a trial (a row of a run's metrics.csv).
public struct EpochMetrics: Codable, Sendable, Equatable {
  public var step: Int
  public var epoch: Double
  public var eta: Double
  public var trainCost: Double
  public var trainLoss: Double
  public var trainAccuracy: Double
  public var valCost: Double?
  public var valLoss: Double?
  public var valAccuracy: Double?
  public init(
    step: Int, epoch: Double, eta: Double, trainCost: Double, trainLoss: Double, trainAccuracy: Double, valCost: Double?, valLoss: Double?,
    valAccuracy: Double?
  ) {
    self.step = step
    self.epoch = epoch
    self.eta = eta
    self.trainCost = trainCost
    self.trainLoss = trainLoss
    self.trainAccuracy = trainAccuracy
    self.valCost = valCost
    self.valLoss = valLoss
    self.valAccuracy = valAccuracy
  }

  /// The value of `metric` at this point.
  public func value(of metric: Metric) -> Double? {
    switch metric {
    case .validationAccuracy: valAccuracy
    case .validationLoss: valLoss
    case .validationCost: valCost
    }
  }
}

/// What a worker sends back after a trial.
public struct TrialReport: Codable, Sendable, Equatable {
  public var status: TrialStatus
  public var metrics: [EpochMetrics]
  /// Test-set accuracy and loss (the final run only).
  public var testAccuracy: Double?
  public var testLoss: Double?
  public var divergedAtStep: Int?
  /// Why the trial failed.
  public var error: String?
  public var steps: Int
  public var trainSeconds: Double
  public var samplesPerSecond: Double
  /// The step the trial's own checkpoint let it continue from (an interrupted sweep's trial).
  public var resumedFromStep: Int?
  /// What computed its products, e.g. `oneDNN 2.6.3 (avx2 kernels)`.
  public var gemm: String?

  public init(
    status: TrialStatus, metrics: [EpochMetrics], testAccuracy: Double? = nil, testLoss: Double? = nil, divergedAtStep: Int? = nil,
    error: String? = nil, steps: Int, trainSeconds: Double, samplesPerSecond: Double, gemm: String? = nil
  ) {
    self.gemm = gemm
    self.status = status
    self.metrics = metrics
    self.testAccuracy = testAccuracy
    self.testLoss = testLoss
    self.divergedAtStep = divergedAtStep
    self.error = error
    self.steps = steps
    self.trainSeconds = trainSeconds
    self.samplesPerSecond = samplesPerSecond
  }

  public static func failed(_ error: String) -> TrialReport {
    TrialReport(status: .failed, metrics: [], error: error, steps: 0, trainSeconds: 0, samplesPerSecond: 0)
  }
}

/// A trial as the sweep database holds it: one repeat (seed) of one configuration of a round.
public struct TrialRecord: Codable, Sendable, Equatable {
  /// 1-based, in the order trials were planned (the same on every resume).
  public var id: Int
  /// The round (stage, rung) that planned it; `finalRound` for the final retraining.
  public var round: Int
  /// The configuration's key within its round.
  public var key: Int
  public var repeatIndex: Int
  public var seed: UInt64
  public var parameters: ParameterSet
  public var budget: Int?
  /// The `dptrain train` options that reproduce the trial.
  public var arguments: [String]
  public var status: TrialStatus
  public var last: EpochMetrics?
  public var testAccuracy: Double?
  public var divergedAtStep: Int?
  public var error: String?
  /// World ranks that ran it, e.g. "2" or "2,3".
  public var ranks: String?
  public var startedAt: Double?
  public var finishedAt: Double?
  public var trainSeconds: Double?
  public var attempts: Int
  /// What computed its products (the report's `gemm`).
  public var gemm: String?

  public static let finalRound = -1

  public init(id: Int, round: Int, key: Int, repeatIndex: Int, seed: UInt64, parameters: ParameterSet, budget: Int?, arguments: [String]) {
    self.id = id
    self.round = round
    self.key = key
    self.repeatIndex = repeatIndex
    self.seed = seed
    self.parameters = parameters
    self.budget = budget
    self.arguments = arguments
    status = .queued
    attempts = 0
  }

  /// The command line that trains this trial alone: as one process, or under
  /// `mpirun -np G` when it trained on G ranks (its result is that of G ranks).
  public var command: String {
    let launcher = rankCount > 1 ? ["mpirun", "-np", "\(rankCount)"] : []
    return (launcher + ["dptrain", "train"] + arguments).map(Self.shellQuoted).joined(separator: " ")
  }

  /// How many ranks trained it (1 before it started).
  public var rankCount: Int { ranks.map { $0.split(separator: ",").count } ?? 1 }

  static func shellQuoted(_ s: String) -> String {
    if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "-_.,:/=+".contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}

extension Sequence<TrialRecord> {
  /// The final value of `metric` of every finished trial (the repeats of a configuration whose
  /// mean ranks it), finite ones only.
  public func finishedValues(of metric: Metric) -> [Double] {
    filter { $0.status == .finished }.compactMap { $0.last?.value(of: metric) }.filter(\.isFinite)
  }
}
