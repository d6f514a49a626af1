/// Successive halving (Jamieson & Talwalkar 2016, "Non-stochastic Best Arm Identification and
/// Hyperparameter Optimization"): train many configurations briefly, keep the best
/// 1/reduction, train those longer, and so on up to the full budget.
extension SweepPlanner {
  /// The budget of each rung: `b_r = min(minBudget * reduction^r, maxBudget)`, ending with the
  /// first rung at `maxBudget`. E.g. min 1, max 9, reduction 3: [1, 3, 9]; min 2, max 10: [2, 6, 10].
  public static func rungBudgets(minBudget: Int, maxBudget: Int, reduction: Int) -> [Int] {
    precondition(
      minBudget >= 1 && maxBudget >= minBudget && reduction >= 2,
      "need 1 <= minBudget <= maxBudget and reduction >= 2, got \(minBudget), \(maxBudget), \(reduction)")
    var budgets = [minBudget]
    var budget = minBudget
    while budget < maxBudget {
      let (next, overflow) = budget.multipliedReportingOverflow(by: reduction)
      budget = overflow ? maxBudget : min(next, maxBudget)
      budgets.append(budget)
    }
    return budgets
  }

  /// The budgets of the spec's rungs (successive halving, synchronous or not); empty otherwise.
  public var rungBudgets: [Int] {
    guard let h = spec.strategy.halving else { return [] }
    return Self.rungBudgets(minBudget: h.minBudget, maxBudget: h.maxBudget, reduction: h.reduction)
  }

  /// "rung 1 (3 epochs)", "rung 0 (1 cycle)".
  public func rungLabel(_ index: Int) -> String {
    let budget = rungBudgets[index]
    let unit = spec.budgetUnit.rawValue
    return "rung \(index) (\(budget) \(budget == 1 ? String(unit.dropLast()) : unit))"
  }

  /// How many of a rung's `count` configurations advance: `max(1, ceil(count / reduction))`.
  public static func promotionCount(_ count: Int, reduction: Int) -> Int {
    max(1, (count + reduction - 1) / reduction)
  }

  /// The keys of `outcome`'s configurations that advance to the next rung, best first (score
  /// descending, nil last, ties by key): a diverged configuration advances only when fewer
  /// finite scores than places remain.
  static func promotedKeys(_ outcome: RoundOutcome, reduction: Int) -> [Int] {
    let ranked = scored([outcome]).sorted(by: byScore)
    return ranked.prefix(promotionCount(ranked.count, reduction: reduction)).map(\.key)
  }

  /// Rung `index`: rung 0 draws `trials` configurations with budget `b_0`; rung r + 1 retrains
  /// the configurations `promotedKeys` picks from rung r, in that order (key = rank), with
  /// budget `b_(r+1)`. Labels: "rung 0 (1 epoch)", "rung 1 (3 epochs)", "rung 2 (9 cycles)".
  /// Nil after the rung at `maxBudget`.
  func successiveHalvingRound(_ index: Int, after completed: [RoundOutcome]) -> Round? {
    guard let halving = spec.strategy.halving, index < rungBudgets.count else { return nil }
    let label = rungLabel(index)
    let budget = rungBudgets[index]
    if index == 0 {
      var g = Self.generator(seed: spec.seed, round: 0)
      return Self.round(0, label, Self.sample(spec.parameters, count: halving.trials, generator: &g), budget: budget)
    }
    let previous = completed[index - 1]
    let parameters = Dictionary(
      previous.round.configurations.map { ($0.key, $0.parameters) }, uniquingKeysWith: { first, _ in first })
    let sets = Self.promotedKeys(previous, reduction: halving.reduction).compactMap { parameters[$0] }
    return Self.round(index, label, sets, budget: budget)
  }
}
