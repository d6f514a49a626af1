import Datasets
import Foundation
import LinearAlgebra
import NeuralNetwork

/// The configuration as `dptrain train` options: built from them (the command line, a sweep
/// spec's base and parameters), and rendered back into them (the command that reproduces a
/// run or a trial). Options are named by flag without `--` (`batch-size`; `_` is read as `-`);
/// a flag's value is `true` or `false`.
extension TrainingConfiguration {
  /// Every option, in the order `arguments` renders them.
  public static let optionNames = [
    "data", "validation", "train-limit", "hidden", "batch-norm", "bn-alpha", "loss", "init", "seed", "init-model",
    "precision", "batch-size", "eta", "decay", "cyclical", "cycles", "epochs", "max-steps", "momentum", "lambda",
    "eval-every", "no-shuffle", "bn-sync", "update", "check-every", "checkpoint-every", "blas-threads", "gemm",
  ]
  /// The options that are flags (no value on the command line).
  public static let flagNames: Set<String> = ["batch-norm", "no-shuffle"]

  /// The configuration of these options, applied in order over the defaults, then checked
  /// together and by `validate()`. Errors name the option and what is expected.
  public init(options: [(name: String, value: String)]) throws {
    self.init()
    var schedule = ScheduleOptions()
    for (name, value) in options { try set(name.replacingOccurrences(of: "_", with: "-"), value, schedule: &schedule) }
    self.schedule = try schedule.resolved()
    try validate()
  }

  /// The `dptrain train` options that reproduce this configuration: those that differ from the
  /// defaults, and always the seed (what a run records when it starts is not an option).
  public var arguments: [String] {
    let defaults = TrainingConfiguration()
    var out: [String] = []
    for name in Self.optionNames {
      guard let value = optionValue(name), value != defaults.optionValue(name) || name == "seed" else { continue }
      if Self.flagNames.contains(name) {
        if value == "true" { out.append("--\(name)") }
      } else {
        out += ["--\(name)", value]
      }
    }
    return out
  }

  /// The option's value as `dptrain train` takes it; nil when not set.
  public func optionValue(_ name: String) -> String? {
    switch name {
    case "data": return data.description
    case "validation": return validation.description
    case "train-limit": return trainLimit.map(String.init)
    case "hidden": return architecture.hidden.map(String.init).joined(separator: ",")
    case "batch-norm": return "\(architecture.batchNorm)"
    case "bn-alpha": return "\(bnAlpha)"
    case "loss": return architecture.loss.rawValue
    case "init": return initialization.description
    case "seed": return "\(seed)"
    case "init-model": return initModel
    case "precision": return precision.rawValue
    case "batch-size": return "\(batchSize)"
    case "eta":
      switch schedule {
      case .constant(let eta), .decay(let eta, _): return "\(eta)"
      case .cyclical: return nil
      }
    case "decay":
      if case .decay(_, let factor) = schedule { return "\(factor)" }
      return nil
    case "cyclical":
      guard case .cyclical(let lo, let hi, let ns) = schedule else { return nil }
      return "\(lo),\(hi)" + (ns.map { ",\($0)" } ?? "")
    case "cycles": return cycles.map(String.init)
    case "epochs": return epochs.map(String.init)
    case "max-steps": return maxSteps.map(String.init)
    case "momentum": return "\(momentum)"
    case "lambda": return "\(lambda)"
    case "eval-every": return evalEvery.map(String.init)
    case "no-shuffle": return "\(!shuffle)"
    case "bn-sync": return bnSync.rawValue
    case "update": return update.rawValue
    case "check-every": return checkEvery.map(String.init) ?? "epoch"
    case "checkpoint-every": return checkpointEvery.description
    case "blas-threads": return blasThreads.map(String.init)
    case "gemm": return gemm.rawValue
    default: return nil
    }
  }

  /// The three options that make the schedule, gathered before they are combined.
  struct ScheduleOptions {
    var eta: Double?
    var decay: Double?
    var cyclical: (Double, Double, Int?)?

    func resolved() throws -> Schedule {
      if decay != nil && eta == nil { throw ConfigurationError(option: "--decay", " needs --eta (the first epoch's rate)") }
      if eta != nil && cyclical != nil { throw ConfigurationError(option: "--eta", " and --cyclical are exclusive: give one schedule") }
      if let eta { return decay.map { .decay(eta: eta, factor: $0) } ?? .constant(eta: eta) }
      if let (lo, hi, ns) = cyclical { return .cyclical(etaMin: lo, etaMax: hi, stepSize: ns) }
      return TrainingConfiguration().schedule
    }
  }

  private mutating func set(_ name: String, _ text: String, schedule: inout ScheduleOptions) throws {
    let option = "--\(name)"
    func number<N: LosslessStringConvertible>(_: N.Type = N.self) throws -> N {
      guard let n = N(text.trimmingCharacters(in: .whitespaces)) else {
        throw ConfigurationError(option: option, ": '\(text)' is not \(N.self == Double.self ? "a number" : "an integer")")
      }
      return n
    }
    func flag() throws -> Bool {
      switch text {
      case "true": return true
      case "false": return false
      default: throw ConfigurationError(option: option, ": '\(text)' should be true or false (a flag)")
      }
    }
    func choice<C: RawRepresentable & CaseIterable>(_: C.Type) throws -> C where C.RawValue == String {
      guard let c = C(rawValue: text) else {
        let names = C.allCases.map(\.rawValue)
        let list = names.count == 2 ? names.joined(separator: " or ") : names.dropLast().joined(separator: ", ") + " or " + names.last!
        throw ConfigurationError(option: option, ": '\(text)' should be \(list)")
      }
      return c
    }
    func wrapped<V>(_ parse: () throws -> V) throws -> V {
      do { return try parse() } catch let error as DatasetError { throw ConfigurationError(option: option, text: error.description) }
    }
    switch name {
    case "data": data = try wrapped { try DataSource(parsing: text) }
    case "validation": validation = try wrapped { try ValidationSplit(parsing: text) }
    case "train-limit": trainLimit = try number()
    case "hidden": architecture.hidden = try Self.parseHidden(text)
    case "batch-norm": architecture.batchNorm = try flag()
    case "bn-alpha": bnAlpha = try number()
    case "loss":
      guard let l = LossFunction(rawValue: text) else {
        throw ConfigurationError(option: option, ": '\(text)' is not a loss; expected cross-entropy or svm")
      }
      architecture.loss = l
    case "init":
      guard let i = Initialization(argument: text) else {
        throw ConfigurationError(
          option: option, ": '\(text)' is not an initialization; expected he, xavier or gaussian:SIGMA with SIGMA > 0")
      }
      initialization = i
    case "seed": seed = try number()
    case "init-model": initModel = text
    case "precision": precision = try choice(Precision.self)
    case "batch-size": batchSize = try number()
    case "eta": schedule.eta = try number()
    case "decay": schedule.decay = try number()
    case "cyclical": schedule.cyclical = try Self.parseCyclical(text)
    case "cycles": cycles = try number()
    case "epochs": epochs = try number()
    case "max-steps": maxSteps = try number()
    case "momentum": momentum = try number()
    case "lambda": lambda = try number()
    case "eval-every": evalEvery = try number()
    case "no-shuffle": shuffle = !(try flag())
    case "bn-sync": bnSync = try choice(BatchNormSync.self)
    case "update": update = try choice(UpdateMode.self)
    case "check-every":
      if text == "epoch" {
        checkEvery = nil
      } else {
        guard let n = Int(text), n >= 1 else {
          throw ConfigurationError(option: option, ": '\(text)' should be a number of steps >= 1 or 'epoch'")
        }
        checkEvery = n
      }
    case "checkpoint-every":
      switch text {
      case "epoch": checkpointEvery = .epoch
      case "never": checkpointEvery = .never
      default:
        guard let n = Int(text), n >= 1 else {
          throw ConfigurationError(option: option, ": '\(text)' should be a number of steps >= 1, 'epoch' or 'never'")
        }
        checkpointEvery = .steps(n)
      }
    case "blas-threads": blasThreads = try number()
    case "gemm": gemm = try choice(GEMMRequest.self)
    default:
      throw ConfigurationError(option: option, ": not an option of dptrain train")
    }
  }

  /// The configuration of `dptrain train` options as `arguments` renders them (`--name value`,
  /// `--flag`): how a stored trial command is read back.
  public init(arguments: [String]) throws {
    var options: [(name: String, value: String)] = []
    var i = 0
    while i < arguments.count {
      let token = arguments[i]
      guard token.hasPrefix("--") else { throw ConfigurationError(option: token, ": expected an option (--name)") }
      let name = String(token.dropFirst(2))
      if Self.flagNames.contains(name) {
        options.append((name, "true"))
        i += 1
      } else {
        guard i + 1 < arguments.count else { throw ConfigurationError(option: token, ": expected a value") }
        options.append((name, arguments[i + 1]))
        i += 2
      }
    }
    try self.init(options: options)
  }

  /// Reads this configuration's data set (the test set too unless `includeTest` is false).
  public func loadData(includeTest: Bool = true) throws -> DatasetSplits {
    try DatasetSplits.load(data, validation: validation, trainLimit: trainLimit, includeTest: includeTest)
  }

  /// `W1,W2,...` as widths, `""` as no hidden layer.
  public static func parseHidden(_ hidden: String) throws -> [Int] {
    let trimmed = hidden.trimmingCharacters(in: .whitespaces)
    if trimmed.isEmpty { return [] }
    return try trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
      guard let w = Int(String($0).trimmingCharacters(in: .whitespaces)), w > 0 else {
        throw ConfigurationError(
          option: "--hidden", ": '\($0)' is not a positive width; expected e.g. 50 or 50,30,20, or \"\" for no hidden layer")
      }
      return w
    }
  }

  /// `ETA_MIN,ETA_MAX[,N_S]`.
  static func parseCyclical(_ text: String) throws -> (Double, Double, Int?) {
    let parts = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2 || parts.count == 3, let lo = Double(parts[0]), let hi = Double(parts[1]) else {
      throw ConfigurationError(option: "--cyclical", ": '\(text)' should be ETA_MIN,ETA_MAX[,N_S], e.g. 1e-5,1e-1,500")
    }
    guard lo > 0, hi > lo, hi.isFinite else {
      throw ConfigurationError(option: "--cyclical", ": need 0 < ETA_MIN < ETA_MAX, got \(lo) and \(hi)")
    }
    guard parts.count == 3 else { return (lo, hi, nil) }
    guard let ns = Int(parts[2]), ns > 0 else {
      throw ConfigurationError(option: "--cyclical", ": N_S must be a positive number of steps, got '\(parts[2])'")
    }
    return (lo, hi, ns)
  }
}
