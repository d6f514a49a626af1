import Training

/// The checks a spec must pass before it is planned, whether it came from a file (`parse`
/// runs them and adds line numbers) or was built in code or decoded from a sweep store.
extension SweepSpec {
  /// Throws a `SpecError` naming the first invalid field (in file order: `repeats`, `search`,
  /// `strategy`) and the fix. `SweepPlanner(spec:)` requires a spec that passes.
  ///
  /// Checked: `repeats >= 1`; at least one searched parameter, each named once and not also
  /// set in `base`; every domain well formed (`0 < low < high` for log ranges, `low < high`
  /// finite for uniform ranges, `low <= high` for integer ranges, non-empty value lists without
  /// repeats); strategy counts in range; a grid search over `grid`/`choice` parameters only.
  public func validate(file: String = "sweep spec") throws {
    if let first = problems().first {
      throw SpecError(file: file, field: first.field, problem: first.problem)
    }
  }

  /// Every problem, in file order, as (dotted field path, message).
  func problems() -> [(field: String, problem: String)] {
    var found: [(field: String, problem: String)] = []
    if repeats < 1 {
      found.append(("repeats", "expected an integer >= 1 (seeds per configuration), got \(repeats)"))
    }
    if parameters.isEmpty {
      found.append(("search", "expected at least one parameter, e.g. eta: { log_uniform: [1.0e-5, 1.0e-1] }"))
    }
    var seen = Set<String>()
    for p in parameters {
      let field = "search.\(p.name)"
      if !seen.insert(p.name).inserted {
        found.append((field, "the parameter is listed twice; list it once"))
      }
      if base[p.name] != nil {
        found.append((field, "also set in base; set it in one place (base fixes a value, search varies it)"))
      }
      if let problem = p.domain.problem() {
        found.append(("\(field).\(p.domain.kindName)", problem))
      }
    }
    found += strategyProblems()
    if found.isEmpty, (plannedTrials ?? Int.max) > Self.maximumTrials {
      let planned = plannedTrials.map(String.init) ?? "more than \(Int.max)"
      found.append(
        (
          "strategy",
          "plans \(planned) trials (configurations x repeats); at most \(Self.maximumTrials) fit one sweep: narrow the grid or lower trials/repeats"
        ))
    }
    return found
  }

  /// The most trials one sweep may plan (a typo such as `trials: 10000000` or an eight-way grid
  /// of 20 values each is refused before anything is allocated).
  public static let maximumTrials = 100_000

  /// Trials the search will train at most (configurations x repeats, all rounds; successive
  /// halving counts every rung), or nil beyond `Int.max`.
  var plannedTrials: Int? {
    var configurations: Int
    switch strategy {
    case .grid:
      configurations = 1
      for p in parameters {
        let n: Int
        switch p.domain {
        case .grid(let values), .choice(let values): n = values.count
        default: n = 1
        }
        let (product, overflow) = configurations.multipliedReportingOverflow(by: n)
        if overflow { return nil }
        configurations = product
      }
    case .random(let trials): configurations = trials
    case .coarseToFine(let stages, let trials, _, _):
      let (product, overflow) = stages.multipliedReportingOverflow(by: trials)
      if overflow { return nil }
      configurations = product
    case .successiveHalving(let trials, _, _, _, _): configurations = trials > Int.max / 2 ? Int.max : 2 * trials  // rungs shrink by >= 2
    case .asha(let trials, let minBudget, let maxBudget, let reduction, _):
      // Each configuration is promoted at most once from each rung.
      let rungs =
        minBudget >= 1 && maxBudget >= minBudget && reduction >= 2
        ? SweepPlanner.rungBudgets(minBudget: minBudget, maxBudget: maxBudget, reduction: reduction).count : 1
      let (product, overflow) = trials.multipliedReportingOverflow(by: rungs)
      if overflow { return nil }
      configurations = product
    }
    let (total, overflow) = configurations.multipliedReportingOverflow(by: repeats)
    return overflow ? nil : total
  }

  private func strategyProblems() -> [(field: String, problem: String)] {
    var found: [(field: String, problem: String)] = []
    func atLeast(_ value: Int, _ minimum: Int, _ field: String, _ meaning: String, maximum: Int? = nil) {
      if value < minimum {
        found.append(("strategy.\(field)", "expected an integer >= \(minimum) (\(meaning)), got \(value)"))
      } else if let maximum, value > maximum {
        found.append(("strategy.\(field)", "expected an integer <= \(maximum) (\(meaning)), got \(value)"))
      }
    }
    let budgets = TrainingConfiguration.Limits.epochs
    switch strategy {
    case .grid:
      for p in parameters {
        switch p.domain {
        case .grid, .choice: continue
        default:
          found.append(
            (
              "search.\(p.name)",
              "a grid search needs listed values, got \(p.domain.kindName); write grid: [...] or choice: [...], "
                + "or use strategy random, coarse-to-fine or successive-halving"
            ))
        }
      }
    case .random(let trials):
      atLeast(trials, 1, "trials", "configurations to sample")
    case .coarseToFine(let stages, let trials, let topK, let margin):
      atLeast(stages, 1, "stages", "rounds of sampling", maximum: 1000)
      atLeast(trials, 1, "trials", "configurations per stage")
      atLeast(topK, 1, "top_k", "best configurations that define the next ranges", maximum: 100_000)
      if !(margin.isFinite && margin >= 0) {
        let expecting = "a number >= 0 (fraction of the span added on each side)"
        found.append(("strategy.margin", "expected \(expecting), got \(margin)"))
      }
    case .successiveHalving(let trials, let minBudget, let maxBudget, let reduction, _),
      .asha(let trials, let minBudget, let maxBudget, let reduction, _):
      atLeast(trials, 1, "trials", "configurations in the first rung")
      atLeast(minBudget, 1, "min_budget", "budget of the first rung", maximum: budgets)
      if maxBudget < minBudget {
        found.append(("strategy.max_budget", "expected an integer >= min_budget (\(minBudget)), got \(maxBudget)"))
      } else if maxBudget > budgets {
        found.append(("strategy.max_budget", "expected an integer <= \(budgets) (epochs or cycles of the last rung), got \(maxBudget)"))
      }
      atLeast(reduction, 2, "reduction", "keep 1/reduction of each rung", maximum: 1000)
    }
    return found
  }
}

extension Domain {
  /// The spec file's key for this kind of domain.
  var kindName: String {
    switch self {
    case .logUniform: "log_uniform"
    case .uniform: "uniform"
    case .intUniform: "int_uniform"
    case .choice: "choice"
    case .grid: "grid"
    }
  }

  /// What is wrong with the bounds or values, nil when the domain can be sampled.
  func problem() -> String? {
    switch self {
    case .logUniform(let low, let high):
      guard low.isFinite, high.isFinite, low > 0, low < high else {
        return "expected two numbers [low, high] with 0 < low < high, got [\(low), \(high)]"
      }
    case .uniform(let low, let high):
      guard low.isFinite, high.isFinite, low < high else {
        return "expected two finite numbers [low, high] with low < high, got [\(low), \(high)]"
      }
    case .intUniform(let low, let high):
      guard low <= high else {
        return "expected two integers [low, high] with low <= high, got [\(low), \(high)]"
      }
      // nextBelow(high - low + 1) must not overflow.
      let (span, overflow) = high.subtractingReportingOverflow(low)
      if overflow || span == Int.max {
        return "the range [\(low), \(high)] is too wide; expected high - low < \(Int.max)"
      }
    case .choice(let values), .grid(let values):
      guard !values.isEmpty else { return "expected a non-empty list of values, e.g. [50, 100]" }
      if let repeated = Domain.firstRepeat(values) {
        return "\(repeated) is listed twice; list each value once (a grid would train it twice)"
      }
    }
    return nil
  }

  /// The first value equal to an earlier one, numbers compared by value (`1` repeats `1.0`).
  static func firstRepeat(_ values: [ParameterValue]) -> ParameterValue? {
    var seen = Set<ParameterValue>()
    for v in values {
      let canonical: ParameterValue = v.doubleValue.map { .number($0) } ?? v
      if !seen.insert(canonical).inserted { return v }
    }
    return nil
  }
}

extension SweepSpec {
  /// Checks the trials' configurations before any work starts, as `dptrain train` checks its
  /// options: the base alone, with every searched parameter at the low and at the high end of
  /// its range, with each listed value, and the final run's; so that a typo or an impossible
  /// value is named at once (`file: search.eta = 2.0: --eta ...`), not in trial 37.
  public func checkTrials(file: String) throws {
    if let v = base["validation"], v.description == "0" {
      throw SpecError(
        file: file, field: "base.validation", problem: "a sweep ranks trials by validation metrics; expected a validation split > 0")
    }
    func attempt(_ parameters: ParameterSet, overrides: [String: ParameterValue] = [:], budget: Int? = nil, field: String) throws {
      do {
        _ = try TrialConfiguration.make(
          base: base, overrides: overrides, parameters: parameters, searchOrder: self.parameters.map(\.name), budget: budget,
          unit: budgetUnit, seed: seed)
      } catch {
        throw SpecError(file: file, field: field, problem: "\(error)")
      }
    }
    try attempt([:], field: "base")
    let ends = parameters.map { p -> [ParameterValue] in
      switch p.domain {
      case .logUniform(let lo, let hi), .uniform(let lo, let hi): [.number(lo), .number(hi)]
      case .intUniform(let lo, let hi): [.integer(lo), .integer(hi)]
      case .choice(let values), .grid(let values): values
      }
    }
    let low = Dictionary(uniqueKeysWithValues: zip(parameters.map(\.name), ends.map { $0.first! }))
    let high = Dictionary(uniqueKeysWithValues: zip(parameters.map(\.name), ends.map { $0.last! }))
    try attempt(low, field: "search (every parameter at its low end)")
    try attempt(high, field: "search (every parameter at its high end)")
    for (p, values) in zip(parameters, ends) {
      for v in values {
        var parameters = low
        parameters[p.name] = v
        try attempt(parameters, field: "search.\(p.name) = \(v)")
      }
    }
    if let final { try attempt(low, overrides: final, field: "final") }
    // The rungs' budgets replace the base's length: the first and the last rung's must train.
    if let halving = strategy.halving {
      try attempt(low, budget: halving.minBudget, field: "strategy.min_budget (\(halving.minBudget) \(halving.unit.rawValue))")
      try attempt(high, budget: halving.maxBudget, field: "strategy.max_budget (\(halving.maxBudget) \(halving.unit.rawValue))")
    }
  }
}
