import ArgumentParser
import Datasets
import Foundation
import NeuralNetwork
import Training

// The option groups of `train` (and of the commands that share some of them). They only
// declare the flags and their help; what a value means, its default and its checks are
// `TrainingConfiguration`'s (`init(options:)`), the same for the command line, sweep specs and
// `--resume`. An option not given is left out, so the library's default applies.

/// The options given, by name, in the library's order (`TrainingConfiguration(options:)`).
typealias GivenOptions = [(name: String, value: String)]

extension GivenOptions {
  mutating func add(_ name: String, _ value: (some CustomStringConvertible)?) {
    if let value { append((name, value.description)) }
  }
  mutating func add(flag name: String, _ on: Bool) {
    if on { append((name, "true")) }
  }
}

/// A configuration error as ArgumentParser reports usage errors (exit 64, the usage line).
func usage<V>(_ body: () throws -> V) throws -> V {
  do { return try body() } catch let error as ConfigurationError { throw ValidationError(error.description) } catch let error
    as DatasetError where error.kind == .invalidOption
  {
    // An option the data cannot serve (`--validation 60000`): a usage error too.
    throw ValidationError(error.description)
  }
}

/// Whether `--out PATH` (train's or sweep's) is there: false for nothing yet, true for a
/// directory; an empty path or a file is refused.
func outputDirectoryExists(_ out: String) throws -> Bool {
  guard !out.isEmpty else { throw ValidationError("--out: expected a directory, got an empty path") }
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) else { return false }
  guard isDirectory.boolValue else { throw ValidationError("--out \(out) is a file; expected a directory") }
  return true
}

/// Whether `error` is the user's command line (exit 64, as ArgumentParser's own errors).
func isUsageError(_ error: any Error) -> Bool {
  if error is ValidationError || error is ConfigurationError { return true }
  if let error = error as? DatasetError, error.kind == .invalidOption { return true }
  return false
}

struct DataOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Data set: fashion-mnist (\(DataSource.defaultFashionMNISTDirectory)), mnist:DIR, idx:DIR or cifar10:DIR (default fashion-mnist).",
      valueName: "SOURCE"))
  var data: String?

  @Option(
    help: ArgumentHelp(
      "Validation split: the last N training samples, or batch2 (CIFAR-10: train on data_batch_1, validate on data_batch_2). Default 5000.",
      valueName: "N|batch2"))
  var validation: String?

  @Option(parsing: .unconditional, help: ArgumentHelp("Keep the first N samples of the training split.", valueName: "N"))
  var trainLimit: Int?

  var options: GivenOptions {
    var o = GivenOptions()
    o.add("data", data)
    o.add("validation", validation)
    o.add("train-limit", trainLimit)
    return o
  }

  func validate() throws { _ = try usage { try TrainingConfiguration(options: options) } }

  func load(includeTest: Bool = true) throws -> DatasetSplits {
    try usage { try TrainingConfiguration(options: options) }.loadData(includeTest: includeTest)
  }
}

struct ModelOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Hidden layer widths, comma separated; \"\" for the 1-layer network (default 50).", valueName: "W1,W2,..."))
  var hidden: String?

  @Flag(help: "BatchNorm after every hidden Linear layer (Ioffe & Szegedy 2015; epsilon 1e-5).")
  var batchNorm = false

  @Option(
    parsing: .unconditional, help: "BatchNorm running-average factor alpha in avg = alpha*avg + (1-alpha)*batch, in [0, 1) (default 0.9).")
  var bnAlpha: Double?

  @Option(
    help: ArgumentHelp("Loss: cross-entropy (softmax) or svm (multiclass hinge, margin 1). Default cross-entropy.", valueName: "LOSS"))
  var loss: String?

  @Option(help: ArgumentHelp("Weight init: he, xavier or gaussian:SIGMA (default he).", valueName: "INIT"))
  var `init`: String?

  @Option(parsing: .unconditional, help: "Random seed (initialization and batch order; default 1).")
  var seed: UInt64?

  var options: GivenOptions {
    var o = GivenOptions()
    o.add("hidden", hidden)
    o.add(flag: "batch-norm", batchNorm)
    o.add("bn-alpha", bnAlpha)
    o.add("loss", loss)
    o.add("init", `init`)
    o.add("seed", seed)
    return o
  }

  func validate() throws { _ = try usage { try TrainingConfiguration(options: options) } }
}

struct OptimizationOptions: ParsableArguments {
  @Option(parsing: .unconditional, help: "Mini-batch size (global, over all ranks; default 100).")
  var batchSize: Int?

  @Option(parsing: .unconditional, help: "Constant learning rate (with --decay: the first epoch's).")
  var eta: Double?

  @Option(parsing: .unconditional, help: "Per-epoch learning-rate decay factor: eta_e = eta * decay^e.")
  var decay: Double?

  @Option(
    help: ArgumentHelp(
      "Cyclical triangular learning rate (Smith 2017) between ETA_MIN and ETA_MAX with half-cycle N_S steps; N_S omitted: the run is \(TrainingConfiguration.autoCycles) cycles. The default schedule is \(TrainingConfiguration().optionValue("cyclical") ?? "").",
      valueName: "ETA_MIN,ETA_MAX[,N_S]"))
  var cyclical: String?

  @Option(parsing: .unconditional, help: "Train for K cycles of the cyclical schedule (2*N_S*K steps).")
  var cycles: Int?

  @Option(parsing: .unconditional, help: "Train for N epochs (default \(TrainingConfiguration.defaultEpochs)).")
  var epochs: Int?

  @Option(parsing: .unconditional, help: "Stop after N updates.")
  var maxSteps: Int?

  @Option(parsing: .unconditional, help: "Momentum rho in v = rho*v + eta*grad; theta -= v (0: plain SGD; default 0.9).")
  var momentum: Double?

  @Option(parsing: .unconditional, help: "L2 regularization lambda: cost = loss + lambda * sum ||W||^2 (default 0.0005).")
  var lambda: Double?

  @Option(parsing: .unconditional, help: "Also evaluate every STEPS updates (metrics.csv rows), besides every epoch.")
  var evalEvery: Int?

  @Flag(help: "Visit the training samples in order every epoch.")
  var noShuffle = false

  var options: GivenOptions {
    var o = GivenOptions()
    o.add("batch-size", batchSize)
    o.add("eta", eta)
    o.add("decay", decay)
    o.add("cyclical", cyclical)
    o.add("cycles", cycles)
    o.add("epochs", epochs)
    o.add("max-steps", maxSteps)
    o.add("momentum", momentum)
    o.add("lambda", lambda)
    o.add("eval-every", evalEvery)
    o.add(flag: "no-shuffle", noShuffle)
    return o
  }

  func validate() throws { _ = try usage { try TrainingConfiguration(options: options) } }
}
