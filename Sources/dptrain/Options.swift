import Foundation
import ArgumentParser
import Datasets
import NeuralNetwork
import Training

/// dptrain's defaults: the best settings found for the DD2424 networks on Fashion-MNIST
/// (see README, "Defaults"). `dptrain train --hidden 256,128 --batch-norm --epochs 20` uses them.
enum Defaults {
  static let hidden = "50"
  static let batchSize = 100
  static let epochs = 20
  static let cyclicalMin = 1e-4
  static let cyclicalMax = 0.1
  /// Cycles of the default (auto) cyclical schedule over the requested epochs.
  static let autoCycles = 2
  static let momentum = 0.9
  static let lambda = 5e-4
  static let seed: UInt64 = 1
}

struct DataOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Data set: fashion-mnist (\(DataSource.defaultFashionMNISTDirectory)), mnist:DIR, idx:DIR or cifar10:DIR.", valueName: "SOURCE"))
  var data = "fashion-mnist"

  @Option(help: ArgumentHelp("Validation split: the last N training samples, or batch2 (CIFAR-10: train on data_batch_1, validate on data_batch_2).", valueName: "N|batch2"))
  var validation = "5000"

  @Option(help: ArgumentHelp("Keep the first N samples of the training split.", valueName: "N"))
  var trainLimit: Int?

  func parsed() throws -> (DataSource, ValidationSplit) {
    do {
      return (try DataSource(parsing: data), try ValidationSplit(parsing: validation))
    } catch {
      throw ValidationError("\(error)")
    }
  }

  func validate() throws {
    _ = try parsed()
    if let trainLimit, trainLimit <= 0 { throw ValidationError("--train-limit must be a positive number of samples, got \(trainLimit)") }
  }

  func load(includeTest: Bool = true) throws -> DatasetSplits {
    let (source, split) = try parsed()
    return try DatasetSplits.load(source, validation: split, trainLimit: trainLimit, includeTest: includeTest)
  }
}

struct ModelOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Hidden layer widths, comma separated; \"\" for the 1-layer network.", valueName: "W1,W2,..."))
  var hidden = Defaults.hidden

  @Flag(help: "BatchNorm after every hidden Linear layer (Ioffe & Szegedy 2015; epsilon 1e-5).")
  var batchNorm = false

  @Option(help: "BatchNorm running-average factor alpha in avg = alpha*avg + (1-alpha)*batch, in [0, 1).")
  var bnAlpha = 0.9

  @Option(help: ArgumentHelp("Loss: cross-entropy (softmax) or svm (multiclass hinge, margin 1).", valueName: "LOSS"))
  var loss = "cross-entropy"

  @Option(help: ArgumentHelp("Weight init: he, xavier or gaussian:SIGMA.", valueName: "INIT"))
  var `init` = "he"

  @Option(help: "Random seed (initialization and batch order).")
  var seed: UInt64 = Defaults.seed

  func hiddenSizes() throws -> [Int] { try Self.parseHidden(hidden) }

  /// `W1,W2,...` as widths, `""` as no hidden layer; an error naming --hidden otherwise.
  static func parseHidden(_ hidden: String) throws -> [Int] {
    let trimmed = hidden.trimmingCharacters(in: .whitespaces)
    if trimmed.isEmpty { return [] }
    return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
      guard let w = Int($0.trimmingCharacters(in: .whitespaces)), w > 0 else {
        throw ValidationError("--hidden: '\($0)' is not a positive width; expected e.g. 50 or 50,30,20, or \"\" for no hidden layer")
      }
      return w
    }
  }

  func lossFunction() throws -> LossFunction {
    guard let l = LossFunction(rawValue: loss) else {
      throw ValidationError("--loss: '\(loss)' is not a loss; expected cross-entropy or svm")
    }
    return l
  }

  func initialization() throws -> Initialization {
    guard let i = Initialization(argument: `init`) else {
      throw ValidationError("--init: '\(`init`)' is not an initialization; expected he, xavier or gaussian:SIGMA with SIGMA > 0")
    }
    return i
  }

  func validate() throws {
    _ = try hiddenSizes()
    _ = try lossFunction()
    _ = try initialization()
    guard bnAlpha >= 0 && bnAlpha < 1 else { throw ValidationError("--bn-alpha must be in [0, 1), got \(bnAlpha)") }
  }

  func architecture(inputSize: Int, classes: Int) throws -> Architecture {
    Architecture(inputSize: inputSize, hidden: try hiddenSizes(), classes: classes, batchNorm: batchNorm, loss: try lossFunction())
  }
}

struct OptimizationOptions: ParsableArguments {
  @Option(help: "Mini-batch size (global, over all ranks).")
  var batchSize = Defaults.batchSize

  @Option(help: "Constant learning rate (with --decay: the first epoch's).")
  var eta: Double?

  @Option(help: "Per-epoch learning-rate decay factor: eta_e = eta * decay^e.")
  var decay: Double?

  @Option(help: ArgumentHelp("Cyclical triangular learning rate (Smith 2017) between ETA_MIN and ETA_MAX with half-cycle N_S steps; N_S omitted: the run is \(Defaults.autoCycles) cycles. The default schedule is \(Defaults.cyclicalMin),\(Defaults.cyclicalMax).", valueName: "ETA_MIN,ETA_MAX[,N_S]"))
  var cyclical: String?

  @Option(help: "Train for K cycles of the cyclical schedule (2*N_S*K steps).")
  var cycles: Int?

  @Option(help: "Train for N epochs (default \(Defaults.epochs)).")
  var epochs: Int?

  @Option(help: "Stop after N updates.")
  var maxSteps: Int?

  @Option(help: "Momentum rho in v = rho*v + eta*grad; theta -= v (0: plain SGD).")
  var momentum = Defaults.momentum

  @Option(help: "L2 regularization lambda: cost = loss + lambda * sum ||W||^2.")
  var lambda = Defaults.lambda

  @Option(help: "Also evaluate every STEPS updates (metrics.csv rows), besides every epoch.")
  var evalEvery: Int?

  @Flag(help: "Visit the training samples in order every epoch.")
  var noShuffle = false

  func cyclicalParts() throws -> (Double, Double, Int?)? {
    guard let cyclical else { return nil }
    let parts = cyclical.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2 || parts.count == 3, let lo = Double(parts[0]), let hi = Double(parts[1]) else {
      throw ValidationError("--cyclical: '\(cyclical)' should be ETA_MIN,ETA_MAX[,N_S], e.g. 1e-5,1e-1,500")
    }
    guard lo > 0, hi > lo, hi.isFinite else {
      throw ValidationError("--cyclical: need 0 < ETA_MIN < ETA_MAX, got \(lo) and \(hi)")
    }
    var ns: Int?
    if parts.count == 3 {
      guard let n = Int(parts[2]), n > 0 else { throw ValidationError("--cyclical: N_S must be a positive number of steps, got '\(parts[2])'") }
      ns = n
    }
    return (lo, hi, ns)
  }

  func validate() throws {
    guard batchSize > 0 else { throw ValidationError("--batch-size must be >= 1, got \(batchSize)") }
    if let eta, !(eta > 0 && eta.isFinite) { throw ValidationError("--eta must be > 0, got \(eta)") }
    if let decay, !(decay > 0 && decay <= 1) { throw ValidationError("--decay must be in (0, 1], got \(decay)") }
    if decay != nil && eta == nil { throw ValidationError("--decay needs --eta (the first epoch's rate)") }
    if eta != nil && cyclical != nil { throw ValidationError("--eta and --cyclical are exclusive: give one schedule") }
    let parts = try cyclicalParts()
    if let cycles {
      guard cycles > 0 else { throw ValidationError("--cycles must be >= 1, got \(cycles)") }
      guard eta == nil else { throw ValidationError("--cycles needs a cyclical schedule, not --eta") }
      guard epochs == nil else { throw ValidationError("--epochs and --cycles are exclusive: give one length") }
      guard parts?.2 != nil else { throw ValidationError("--cycles needs --cyclical ETA_MIN,ETA_MAX,N_S with an explicit N_S") }
    }
    if let epochs, epochs <= 0 { throw ValidationError("--epochs must be >= 1, got \(epochs)") }
    if let maxSteps, maxSteps <= 0 { throw ValidationError("--max-steps must be >= 1, got \(maxSteps)") }
    if let evalEvery, evalEvery <= 0 { throw ValidationError("--eval-every must be >= 1, got \(evalEvery)") }
    guard momentum >= 0 && momentum < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
    guard lambda >= 0 && lambda.isFinite else { throw ValidationError("--lambda must be >= 0, got \(lambda)") }
  }

  /// The schedule, with an automatic N_S fitted to the run's epochs (`autoCycles` cycles).
  func schedule(stepsPerEpoch: Int) throws -> LearningRateSchedule {
    if let eta {
      if let decay { return .decay(eta: eta, factor: decay) }
      return .constant(eta: eta)
    }
    let (lo, hi, ns) = try cyclicalParts() ?? (Defaults.cyclicalMin, Defaults.cyclicalMax, nil)
    if let ns { return .cyclical(etaMin: lo, etaMax: hi, stepSize: ns) }
    let total = (epochs ?? Defaults.epochs) * stepsPerEpoch
    return .cyclical(etaMin: lo, etaMax: hi, stepSize: max(1, total / (2 * Defaults.autoCycles)))
  }
}
