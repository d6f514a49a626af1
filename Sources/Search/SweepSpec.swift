/// A sweep specification: what `dptrain sweep SPEC` reads (YAML; JSON is valid YAML too).
///
/// ```yaml
/// seed: 1
/// repeats: 1                  # seeds per configuration (trial seed = seed + repeat)
/// metric: val_accuracy        # val_accuracy (maximised) | val_loss | val_cost (minimised)
/// base:                       # any `dptrain train` option, by its flag name
///   hidden: "50"
///   epochs: 1
///   train-limit: 5000
/// search:                     # parameter -> exactly one domain
///   eta:    { log_uniform: [1.0e-5, 1.0e-1] }
///   lambda: { log_uniform: [1.0e-6, 1.0e-1] }
///   batch-size: { grid: [50, 100] }
/// strategy: { kind: random, trials: 8 }
/// final: { validation: 1000, epochs: 10 }   # optional: retrain the best, report test accuracy
/// ```
public struct SweepSpec: Codable, Sendable, Equatable {
  /// Options of `dptrain train` shared by every trial, keyed by flag name without `--`
  /// (`_` is accepted for `-`). Validated by the command line, not here.
  public var base: [String: ParameterValue]
  /// The searched parameters in file order (the order in which random values are drawn).
  public var parameters: [SearchParameter]
  public var strategy: Strategy
  /// Seeds per configuration; trial `r` of a configuration trains with seed `seed + r`.
  public var repeats: Int
  public var metric: Metric
  public var seed: UInt64
  /// Retrain the best configuration with these `train` options changed (default: validation
  /// 1000, the course's 49,000/1,000), then report its test accuracy. nil: no final run.
  public var final: [String: ParameterValue]?

  public init(
    base: [String: ParameterValue], parameters: [SearchParameter], strategy: Strategy, repeats: Int = 1,
    metric: Metric = .validationAccuracy, seed: UInt64 = 1, final: [String: ParameterValue]? = nil
  ) {
    self.base = base
    self.parameters = parameters
    self.strategy = strategy
    self.repeats = repeats
    self.metric = metric
    self.seed = seed
    self.final = final
  }
}

/// A value of a `train` option: what a trial sets.
public enum ParameterValue: Hashable, Sendable, Codable, CustomStringConvertible {
  case number(Double)
  case integer(Int)
  case string(String)
  case bool(Bool)
  /// Hidden layer widths, e.g. `[50, 30]`.
  case list([Int])

  /// As `dptrain train` takes it: `0.001`, `100`, `he`, `true`, `50,30`.
  public var description: String {
    switch self {
    case .number(let x): "\(x)"
    case .integer(let n): "\(n)"
    case .string(let s): s
    case .bool(let b): "\(b)"
    case .list(let l): l.map(String.init).joined(separator: ",")
    }
  }

  /// The numeric value of `.number` and `.integer`.
  public var doubleValue: Double? {
    switch self {
    case .number(let x): x
    case .integer(let n): Double(n)
    default: nil
    }
  }

  // Plain JSON values: 0.001, 100, "he", true, [50, 30].
  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let b = try? c.decode(Bool.self) {
      self = .bool(b)
    } else if let n = try? c.decode(Int.self) {
      self = .integer(n)
    } else if let x = try? c.decode(Double.self) {
      self = .number(x)
    } else if let s = try? c.decode(String.self) {
      self = .string(s)
    } else {
      self = .list(try c.decode([Int].self))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .number(let x): try c.encode(x)
    case .integer(let n): try c.encode(n)
    case .string(let s): try c.encode(s)
    case .bool(let b): try c.encode(b)
    case .list(let l): try c.encode(l)
    }
  }
}

/// A trial's settings of the searched parameters: name -> value.
public typealias ParameterSet = [String: ParameterValue]

/// A searched parameter and where its values come from.
public struct SearchParameter: Codable, Sendable, Equatable {
  /// A `train` option name (`eta`, `lambda`, `batch-size`, `momentum`, `hidden`, `batch-norm`,
  /// `init`, ...) or one of the cyclical schedule's parts `eta-min`, `eta-max`, `n-s`.
  public var name: String
  public var domain: Domain
  public init(name: String, domain: Domain) {
    self.name = name
    self.domain = domain
  }
}

/// Where a parameter's values come from.
public enum Domain: Codable, Sendable, Equatable {
  /// `exp(uniform(log low, log high))`, 0 < low < high.
  case logUniform(low: Double, high: Double)
  /// Uniform in [low, high), low < high.
  case uniform(low: Double, high: Double)
  /// Uniform over the integers low...high (both included).
  case intUniform(low: Int, high: Int)
  /// One of the values, uniformly at random (in a grid search: every value).
  case choice([ParameterValue])
  /// Every value, in a grid search (in a random search: one of them, uniformly).
  case grid([ParameterValue])
}

/// How trials are chosen.
public enum Strategy: Codable, Sendable, Equatable {
  /// Every combination of the `grid`/`choice` values, once each, in file order (the last
  /// parameter varies fastest).
  case grid
  /// `trials` independent draws from the domains, seeded.
  case random(trials: Int)
  /// `stages` rounds of `trials` random draws. After each stage every log/uniform/int range
  /// becomes the span of the `topK` best configurations so far (diverged ones excluded),
  /// widened on each side by `margin` times that span (on the log scale for log ranges; by
  /// `margin` times the original span if the span is 0) and clipped to the original range;
  /// the next stage samples the narrowed ranges (`SweepPlanner.ranges(after:)`).
  /// Spec defaults: 2 stages, top_k 5, margin 0.1. (On a log-space bowl, 3 stages of 20 trials
  /// kept the optimum inside the narrowed ranges for 89 of 100 seeds with top_k 5, against 47
  /// with the course's top 3.)
  case coarseToFine(stages: Int, trials: Int, topK: Int, margin: Double)
  /// Successive halving (Jamieson & Talwalkar 2016): `trials` random configurations on
  /// `minBudget` epochs (or cycles); the best 1/`reduction` advance to `reduction` times the
  /// budget, up to `maxBudget`. Promoted configurations are trained anew with the larger budget.
  case successiveHalving(trials: Int, minBudget: Int, maxBudget: Int, reduction: Int, unit: BudgetUnit)
  /// Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
  /// Tuning", MLSys 2020), on the same rungs: a configuration is promoted from rung k as soon as
  /// it is in the top 1/`reduction` of the results completed at rung k, so no group waits for a
  /// rung to fill (`AsyncHalving`). Its choices depend on the order in which trials finish.
  case asha(trials: Int, minBudget: Int, maxBudget: Int, reduction: Int, unit: BudgetUnit)

  /// The rungs of successive halving, synchronous or asynchronous.
  public struct Halving: Sendable, Equatable {
    public var trials: Int
    public var minBudget: Int
    public var maxBudget: Int
    public var reduction: Int
    public var unit: BudgetUnit
    public var asynchronous: Bool
  }

  /// The fields of `successiveHalving` and `asha`; nil for the other strategies.
  public var halving: Halving? {
    switch self {
    case .successiveHalving(let n, let lo, let hi, let r, let unit):
      Halving(trials: n, minBudget: lo, maxBudget: hi, reduction: r, unit: unit, asynchronous: false)
    case .asha(let n, let lo, let hi, let r, let unit):
      Halving(trials: n, minBudget: lo, maxBudget: hi, reduction: r, unit: unit, asynchronous: true)
    default: nil
    }
  }

  /// For the sweep's status and report: "coarse-to-fine (2 stages of 12, top 3, margin 0.1)".
  public var summary: String {
    switch self {
    case .grid: "grid"
    case .random(let n): "random (\(n) trials)"
    case .coarseToFine(let stages, let n, let k, let margin): "coarse-to-fine (\(stages) stages of \(n), top \(k), margin \(margin))"
    case .successiveHalving, .asha:
      halving.map {
        "\($0.asynchronous ? "asynchronous successive halving (ASHA)" : "successive halving") (\($0.trials) trials, "
          + "\($0.minBudget)..\($0.maxBudget) \($0.unit.rawValue), keep 1/\($0.reduction))"
      } ?? ""
    }
  }
}

/// What a successive-halving budget counts.
public enum BudgetUnit: String, Codable, Sendable {
  case epochs, cycles
}

/// The number a sweep ranks configurations by.
public enum Metric: String, Codable, Sendable, CaseIterable {
  case validationAccuracy = "val_accuracy"
  case validationLoss = "val_loss"
  case validationCost = "val_cost"

  public var higherIsBetter: Bool { self == .validationAccuracy }
  /// The value to maximise: the metric, or its negative for losses.
  public func score(_ value: Double) -> Double { higherIsBetter ? value : -value }
}
