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

/// How the ranks update the parameters after the gradient exchange (`--update`).
public enum UpdateMode: String, Codable, Sendable, CaseIterable {
  /// Each rank updates its segment of the parameters and the segments are gathered (less work
  /// per rank than every rank updating everything; the same bits).
  case sharded
  /// Every rank updates everything after one allreduce.
  case replicated
}

/// When a run writes its checkpoint (`--checkpoint-every STEPS|epoch|never`).
public enum CheckpointInterval: Sendable, Equatable, CustomStringConvertible {
  case steps(Int)
  case epoch
  case never

  public var description: String {
    switch self {
    case .steps(let n): "\(n)"
    case .epoch: "epoch"
    case .never: "never"
    }
  }
}

/// The network a run trains: what the user chooses (`--hidden`, `--batch-norm`, `--loss`); the
/// input size and the classes come from the data and are filled in when the run starts.
public struct ArchitectureSettings: Codable, Sendable, Equatable {
  public var inputSize: Int?
  public var hidden: [Int] = [50]
  public var classes: Int?
  public var batchNorm = false
  public var loss: LossFunction = .crossEntropy
  /// The epsilon added to the batch variance.
  public var batchNormEpsilon = Architecture.defaultBatchNormEpsilon

  public init(hidden: [Int] = [50], batchNorm: Bool = false, loss: LossFunction = .crossEntropy) {
    self.hidden = hidden
    self.batchNorm = batchNorm
    self.loss = loss
  }

  enum CodingKeys: String, CodingKey { case inputSize, hidden, classes, batchNorm, loss, batchNormEpsilon }

  /// What a `config.json` leaves out takes the default.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    inputSize = try c.decodeIfPresent(Int.self, forKey: .inputSize)
    hidden = try c.decodeIfPresent([Int].self, forKey: .hidden) ?? hidden
    classes = try c.decodeIfPresent(Int.self, forKey: .classes)
    batchNorm = try c.decodeIfPresent(Bool.self, forKey: .batchNorm) ?? batchNorm
    loss = try c.decodeIfPresent(LossFunction.self, forKey: .loss) ?? loss
    batchNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .batchNormEpsilon) ?? batchNormEpsilon
  }

  /// The network on data of `inputSize` features and `classes` classes.
  public func architecture(inputSize: Int, classes: Int) -> Architecture {
    Architecture(
      inputSize: inputSize, hidden: hidden, classes: classes, batchNorm: batchNorm, loss: loss, batchNormEpsilon: batchNormEpsilon)
  }

  /// The resolved network, nil before the data is known.
  public var resolved: Architecture? {
    guard let inputSize, let classes else { return nil }
    return architecture(inputSize: inputSize, classes: classes)
  }
}

/// Everything that determines a training run: the one contract between the command line, the
/// sweep specs, `--resume` and the Trainer. `dptrain train` builds it from its flags
/// (`init(options:)`), a sweep trial by applying its parameters to the spec's base, `--resume`
/// reads it from `config.json`; all of them pass `validate()`. When the run starts it is
/// resolved (`resolved(for:)`): the data's shape, the schedule and the length filled in, and
/// the ranks, threads and GEMM kernel recorded. The resolved configuration is `config.json`,
/// and `arguments` renders the `dptrain train` options that reproduce it.
public struct TrainingConfiguration: Sendable, Equatable {
  public var version: String = dptrainVersion
  // Data
  public var data: DataSource = .fashionMNIST
  public var validation: ValidationSplit = .default
  public var trainLimit: Int?
  // Model
  public var architecture = ArchitectureSettings()
  /// Running-average factor: `avg = alpha * avg + (1 - alpha) * batch`.
  public var bnAlpha = 0.9
  public var initialization: Initialization = .he
  public var seed: UInt64 = 1
  public var initModel: String?
  // Optimization
  public var precision: Precision = .float
  public var batchSize = 100
  public var momentum = 0.9
  public var lambda = 5e-4
  /// The learning rate; a cyclical schedule without `n_s` has it fitted to `autoCycles` cycles
  /// over the run when the run starts.
  public var schedule: Schedule = .cyclical(etaMin: 1e-4, etaMax: 0.1, stepSize: nil)
  /// Length of training: `epochs`, or `cycles` of a cyclical schedule (2 n_s K steps), both
  /// nil: `defaultEpochs`; `maxSteps` caps either.
  public var epochs: Int?
  public var cycles: Int?
  public var maxSteps: Int?
  /// Evaluate (and write a metrics row) every this many updates, besides every epoch's end.
  public var evalEvery: Int?
  public var shuffle = true
  // Distribution and output
  public var bnSync: BatchNormSync = .global
  public var update: UpdateMode = .sharded
  /// Compare a checksum of every replica's parameters with rank 0's every this many updates
  /// (nil: at every epoch's end); always at the end of training.
  public var checkEvery: Int?
  public var checkpointEvery: CheckpointInterval = .epoch
  // The machine
  /// BLAS threads per rank (nil: the node's cores over its ranks; recorded when the run starts).
  public var blasThreads: Int?
  /// The backend asked for; a run records the one that computed its products (`--resume`
  /// uses it again, since another backend rounds differently).
  public var gemm: GEMMRequest = .auto
  /// Filled in when the run starts: the ranks, and the library, version and kernel that
  /// computed the products, e.g. `oneDNN 2.6.3 (avx2 kernels)`.
  public var ranks: Int?
  public var gemmKernel: GEMMKernel?

  public init() {}

  // MARK: - Defaults (README, "Defaults": the best settings found on Fashion-MNIST)

  public static let defaultEpochs = 20
  /// Cycles of the default (auto) cyclical schedule over the requested epochs.
  public static let autoCycles = 2

  // MARK: - Resolution

  /// The learning rate for a training split of `stepsPerEpoch` batches: a cyclical schedule
  /// without `n_s` gets `n_s` fitted to `autoCycles` cycles over the run.
  public func learningRate(stepsPerEpoch: Int) -> LearningRateSchedule {
    switch schedule {
    case .constant(let eta): return .constant(eta: eta)
    case .decay(let eta, let factor): return .decay(eta: eta, factor: factor)
    case .cyclical(let lo, let hi, let ns?): return .cyclical(etaMin: lo, etaMax: hi, stepSize: ns)
    case .cyclical(let lo, let hi, nil):
      let total = (epochs ?? Self.defaultEpochs) * stepsPerEpoch
      return .cyclical(etaMin: lo, etaMax: hi, stepSize: max(1, total / (2 * Self.autoCycles)))
    }
  }

  /// This configuration for `data`: the network's input size and classes, the schedule and
  /// the length filled in. Throws when the data cannot serve it (a batch larger than the
  /// training split).
  public func resolved(for data: DatasetSplits) throws -> TrainingConfiguration {
    guard batchSize <= data.train.count else {
      throw ConfigurationError(option: "--batch-size", " \(batchSize) exceeds the \(data.train.count) training samples")
    }
    // A recorded network (a resumed run's) must fit the data it is given now.
    let recorded = (architecture.inputSize ?? data.features, architecture.classes ?? data.classes)
    guard recorded == (data.features, data.classes) else {
      throw ConfigurationError(
        option: "--data",
        ": \(data.sourceDescription) has \(data.features) features and \(data.classes) classes, but the run's network was "
          + "made for \(recorded.0) features and \(recorded.1) classes")
    }
    var c = self
    c.architecture.inputSize = data.features
    c.architecture.classes = data.classes
    if case .cyclical(let lo, let hi, nil) = schedule,
      case .cyclical(_, _, let ns) = learningRate(stepsPerEpoch: EpochOrder.batchCount(count: data.train.count, batchSize: batchSize))
    {
      c.schedule = .cyclical(etaMin: lo, etaMax: hi, stepSize: ns)
    }
    if cycles == nil && epochs == nil { c.epochs = Self.defaultEpochs }
    try c.checkSize(trainingCount: data.train.count)
    return c
  }

  /// The limits that need the data's shape: the parameter count, one layer's activations for a
  /// batch, and the run's length in steps.
  func checkSize(trainingCount: Int) throws {
    guard let inputSize = architecture.inputSize, let classes = architecture.classes else { return }
    guard classes >= 2, inputSize >= 1 else {
      throw ConfigurationError(
        option: "--data", ": the data has \(inputSize) feature(s) and \(classes) class(es); a classifier needs at least 1 and 2")
    }
    let widths = [inputSize] + architecture.hidden + [classes]
    let parameters = zip(widths, widths.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 + $1.1 }
    guard parameters <= Limits.parameters else {
      throw ConfigurationError(
        option: "--hidden",
        ": the network \(widths.map(String.init).joined(separator: "-")) has \(parameters) parameters, above the maximum \(Limits.parameters)"
      )
    }
    let activations = batchSize * (widths.max() ?? 1)
    guard activations <= Limits.activations else {
      throw ConfigurationError(
        option: "--batch-size",
        " \(batchSize) x the widest layer (\(widths.max() ?? 1)) is \(activations) values per layer, above the maximum \(Limits.activations); use a smaller batch or narrower layers"
      )
    }
    let perEpoch = EpochOrder.batchCount(count: trainingCount, batchSize: batchSize)
    let (steps, overflow) = (epochs ?? 0).multipliedReportingOverflow(by: perEpoch)
    guard !overflow, steps <= Limits.steps else {
      throw ConfigurationError(
        option: "--epochs", " \(epochs ?? 0) of \(perEpoch) steps are above the maximum run length, \(Limits.steps) steps")
    }
  }

  /// Update steps of the whole run for a training split of `count` samples.
  public func totalSteps(trainingCount count: Int) -> Int {
    let perEpoch = EpochOrder.batchCount(count: count, batchSize: batchSize)
    var steps: Int
    if let cycles, case .cyclical(_, _, let ns) = learningRate(stepsPerEpoch: perEpoch) {
      steps = 2 * ns * cycles
    } else {
      steps = (epochs ?? Self.defaultEpochs) * perEpoch
    }
    if let maxSteps { steps = min(steps, maxSteps) }
    return steps
  }

  // MARK: - Validation

  /// The largest values the code is built for (README "Limits"): larger ones are refused by
  /// `validate()` before anything is allocated or multiplied.
  public enum Limits {
    /// A hidden layer's width.
    public static let width = 65_536
    public static let hiddenLayers = 64
    /// Features of a sample and classes (a run's recorded network).
    public static let inputSize = 1 << 24
    public static let classes = 1 << 16
    /// Parameters of the whole network (4 GiB of float), checked once the data's shape is known.
    public static let parameters = 1 << 30
    public static let batchSize = 1 << 20
    /// A batch's values in one layer (batch size x width: 1 GiB of float).
    public static let activations = 1 << 28
    /// Epochs, and cycles of a cyclical schedule.
    public static let epochs = 1_000_000
    /// Steps of a run, and every interval counted in steps.
    public static let steps = 1 << 40
    public static let blasThreads = 1024
  }

  /// Throws a `ConfigurationError` naming the option of the first value out of range, and what
  /// is expected. The command line, sweep specs and `--resume` all call it.
  public func validate() throws {
    func check(_ condition: Bool, _ option: String, _ message: @autoclosure () -> String) throws {
      if !condition { throw ConfigurationError(option: option, message()) }
    }
    /// A count in 1...maximum.
    func count(_ value: Int, _ option: String, maximum: Int, _ what: String = "") throws {
      try check(value >= 1, option, " must be >= 1\(what), got \(value)")
      try check(value <= maximum, option, " must be at most \(maximum)\(what), got \(value)")
    }
    let limits = Limits.self
    if let trainLimit { try check(trainLimit > 0, "--train-limit", " must be a positive number of samples, got \(trainLimit)") }
    if let w = architecture.hidden.first(where: { $0 <= 0 }) {
      throw ConfigurationError(
        option: "--hidden", ": '\(w)' is not a positive width; expected e.g. 50 or 50,30,20, or \"\" for no hidden layer")
    }
    if let w = architecture.hidden.first(where: { $0 > limits.width }) {
      throw ConfigurationError(option: "--hidden", ": a width of \(w) is above the maximum, \(limits.width)")
    }
    // Filled in from the data (a run's config.json): a real data set's shape.
    if let inputSize = architecture.inputSize {
      try check((1...limits.inputSize).contains(inputSize), "inputSize", " must be in 1...\(limits.inputSize), got \(inputSize)")
    }
    if let classes = architecture.classes {
      try check((2...limits.classes).contains(classes), "classes", " must be in 2...\(limits.classes), got \(classes)")
    }
    try check(
      architecture.hidden.count <= limits.hiddenLayers, "--hidden",
      ": \(architecture.hidden.count) hidden layers are above the maximum, \(limits.hiddenLayers)")
    try check(
      architecture.batchNormEpsilon > 0 && inPrecision(architecture.batchNormEpsilon) > 0 && architecture.batchNormEpsilon.isFinite,
      "batchNormEpsilon", " must be a finite number > 0 in \(precision) precision, got \(architecture.batchNormEpsilon)")
    try fraction(bnAlpha, "--bn-alpha", " must be in [0, 1)")
    if case .gaussian(let sigma) = initialization {
      try check(
        sigma > 0 && sigma.isFinite && inPrecision(sigma) > 0 && inPrecision(sigma).isFinite, "--init",
        ": 'gaussian:\(sigma)' is not an initialization; expected he, xavier or gaussian:SIGMA with SIGMA a finite number > 0")
    }
    try count(batchSize, "--batch-size", maximum: limits.batchSize)
    switch schedule {
    case .constant(let eta):
      try rate(eta, "--eta")
    case .decay(let eta, let factor):
      try rate(eta, "--eta")
      try check(
        factor > 0 && factor <= 1 && inPrecision(factor) > 0, "--decay", " must be in (0, 1] (and above 0 in \(precision)), got \(factor)")
    case .cyclical(let lo, let hi, let ns):
      try rate(lo, "--cyclical", "ETA_MIN")
      try rate(hi, "--cyclical", "ETA_MAX")
      try check(
        inPrecision(hi) > inPrecision(lo), "--cyclical",
        ": need ETA_MIN < ETA_MAX (in \(precision) precision), got \(lo) and \(hi)")
      if let ns {
        try check(ns > 0, "--cyclical", ": N_S must be a positive number of steps, got '\(ns)'")
        try check(ns <= limits.steps / 2, "--cyclical", ": N_S must be at most \(limits.steps / 2) steps, got \(ns)")
      }
    }
    if let cycles {
      try count(cycles, "--cycles", maximum: limits.epochs)
      if case .cyclical(_, _, let ns?) = schedule {
        try check(
          ns <= limits.steps / (2 * cycles), "--cycles",
          ": \(cycles) cycles of 2 x \(ns) steps are above the maximum run length, \(limits.steps) steps")
      }
      switch schedule {
      case .constant, .decay: throw ConfigurationError(option: "--cycles", " needs a cyclical schedule, not --eta")
      default: break
      }
      try check(epochs == nil, "--epochs", " and --cycles are exclusive: give one length")
      guard case .cyclical(_, _, _?) = schedule else {
        throw ConfigurationError(option: "--cycles", " needs --cyclical ETA_MIN,ETA_MAX,N_S with an explicit N_S")
      }
    }
    if let epochs { try count(epochs, "--epochs", maximum: limits.epochs) }
    if let maxSteps { try count(maxSteps, "--max-steps", maximum: limits.steps) }
    if let evalEvery { try count(evalEvery, "--eval-every", maximum: limits.steps, " steps") }
    try fraction(momentum, "--momentum", " must be in [0, 1)")
    try check(
      lambda >= 0 && lambda.isFinite && inPrecision(lambda).isFinite, "--lambda", " must be a finite number >= 0, got \(lambda)")
    if let checkEvery {
      try check(checkEvery >= 1, "--check-every", ": '\(checkEvery)' should be a number of steps >= 1 or 'epoch'")
      try check(checkEvery <= limits.steps, "--check-every", ": '\(checkEvery)' steps is above the maximum, \(limits.steps)")
    }
    if case .steps(let n) = checkpointEvery {
      try check(n >= 1, "--checkpoint-every", ": '\(n)' should be a number of steps >= 1, 'epoch' or 'never'")
      try check(n <= limits.steps, "--checkpoint-every", ": '\(n)' steps is above the maximum, \(limits.steps)")
    }
    if let blasThreads { try count(blasThreads, "--blas-threads", maximum: limits.blasThreads) }
  }

  /// `x` as training computes with it: rounded to float in float precision.
  func inPrecision(_ x: Double) -> Double { precision == .float ? Double(Float(x)) : x }

  /// A learning rate: finite, and above 0 as a normal number of the training precision (a rate
  /// that rounds to 0 or to a subnormal trains nothing, slowly).
  func rate(_ eta: Double, _ option: String, _ name: String = "") throws {
    let label = name.isEmpty ? "" : " \(name)"
    guard eta.isFinite, eta > 0 else {
      throw ConfigurationError(option: option, "\(label) must be a finite number > 0, got \(eta)")
    }
    let smallest = precision == .float ? Double(Float.leastNormalMagnitude) : Double.leastNormalMagnitude
    guard inPrecision(eta).isFinite, inPrecision(eta) >= smallest else {
      throw ConfigurationError(
        option: option,
        "\(label) is \(eta), out of \(precision) precision's range (\(smallest) to \(precision == .float ? Double(Float.greatestFiniteMagnitude) : Double.greatestFiniteMagnitude))"
          + (precision == .float ? "; train with --precision double for it" : ""))
    }
  }

  /// A factor in [0, 1) that stays below 1 in the training precision (0.9999999999 is 1 in float).
  func fraction(_ x: Double, _ option: String, _ range: String) throws {
    guard x >= 0 && x < 1 else { throw ConfigurationError(option: option, "\(range), got \(x)") }
    guard inPrecision(x) < 1 else {
      throw ConfigurationError(
        option: option, "\(range), got \(x), which is 1 in \(precision) precision (the largest float below 1 is 0.99999994)")
    }
  }
}

extension TrainingConfiguration {
  /// The learning-rate schedule as the user gives it (`--eta`, `--eta --decay`, `--cyclical`).
  public enum Schedule: Sendable, Equatable, CustomStringConvertible {
    /// `eta` at every step.
    case constant(eta: Double)
    /// `eta * factor^e` in epoch `e`.
    case decay(eta: Double, factor: Double)
    /// Triangular between `etaMin` and `etaMax` with half-cycle `stepSize`; nil: fitted to
    /// `autoCycles` cycles over the run.
    case cyclical(etaMin: Double, etaMax: Double, stepSize: Int?)

    public var description: String {
      switch self {
      case .constant(let eta): "constant eta=\(eta)"
      case .decay(let eta, let factor): "eta=\(eta) decay=\(factor)/epoch"
      case .cyclical(let lo, let hi, let ns): "cyclical [\(lo), \(hi)] n_s=\(ns.map(String.init) ?? "auto")"
      }
    }
  }
}

/// A configuration value out of range, or an option that cannot be read: names the option
/// (`--momentum`) and what is expected. `description` is what the user sees.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
  public var option: String
  public var description: String
  /// `message` starts with its own separator: `--momentum` + ` must be in [0, 1), got 7`,
  /// `--hidden` + `: 'x' is not a positive width; ...`.
  public init(option: String, _ message: String) {
    self.init(option: option, text: option + message)
  }
  public init(option: String, text: String) {
    self.option = option
    description = text
  }
}

public let dptrainVersion = "0.1.0"
