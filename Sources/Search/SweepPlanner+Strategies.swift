/// Plans a sweep's rounds: a pure function of the spec and the outcomes of the rounds so far.
///
/// A sweep runs `nextRound(after: [])`, trains its configurations, appends the outcome and
/// asks again until the planner returns nil. Because nothing else goes in (no clock, no
/// global random state), an interrupted sweep resumes by replaying the stored outcomes: the
/// same spec and the same outcomes give the same rounds, bit for bit.
///
/// Round `i` draws from `SweepPlanner.generator(seed: spec.seed, round: i)`, configurations one
/// after another and each configuration's parameters in file order.
///
/// - grid: one round, "grid": every combination of the `grid`/`choice` values, the last
///   parameter varying fastest.
/// - random: one round, "random": `trials` draws from the domains.
/// - coarse-to-fine: `stages` rounds, "stage s of S": stage 1 draws from the spec's domains,
///   later stages from `ranges(after:)` (the domains narrowed around the best so far).
/// - successive halving: rounds are rungs, "rung r (B epochs)": see
///   `successiveHalvingRound(_:after:)`.
/// - asynchronous successive halving: round 0 is rung 0, as for successive halving; the rungs
///   above are not planned here but filled by promotions as results arrive (`AsyncHalving`).
public struct SweepPlanner: Sendable {
  public let spec: SweepSpec

  /// - Precondition: `spec` passes `SweepSpec.validate()` (`SweepSpec.parse` ensures it; check
  ///   a spec built or decoded elsewhere with `validate()` first).
  public init(spec: SweepSpec) {
    if let problem = spec.problems().first {
      preconditionFailure(
        "SweepPlanner needs a valid spec (call SweepSpec.validate() first): \(problem.field): \(problem.problem)")
    }
    self.spec = spec
  }

  /// The number of rounds the search will run (all current strategies know it in advance);
  /// nil would mean it depends on the results.
  public var roundCount: Int? {
    switch spec.strategy {
    case .grid, .random: 1
    case .coarseToFine(let stages, _, _, _): stages
    case .successiveHalving, .asha: rungBudgets.count
    }
  }

  /// The round that follows `completed` (rounds 0..<completed.count, in order), or nil when the
  /// search is over.
  public func nextRound(after completed: [RoundOutcome]) -> Round? {
    for (position, outcome) in completed.enumerated() {
      precondition(
        outcome.round.index == position,
        "completed rounds must be in order 0..<\(completed.count); position \(position) holds round "
          + "\(outcome.round.index)")
    }
    let index = completed.count
    switch spec.strategy {
    case .grid:
      return index == 0 ? gridRound() : nil
    case .random(let trials):
      guard index == 0 else { return nil }
      var g = Self.generator(seed: spec.seed, round: 0)
      return Self.round(0, "random", Self.sample(spec.parameters, count: trials, generator: &g))
    case .coarseToFine(let stages, let trials, _, _):
      guard index < stages else { return nil }
      var g = Self.generator(seed: spec.seed, round: index)
      let sets = Self.sample(ranges(after: completed), count: trials, generator: &g)
      return Self.round(index, "stage \(index + 1) of \(stages)", sets)
    case .successiveHalving:
      return successiveHalvingRound(index, after: completed)
    case .asha:
      // Rung 0 only: the rungs above grow one promotion at a time (`SweepScheduler`).
      return index == 0 ? successiveHalvingRound(0, after: []) : nil
    }
  }

  /// Every combination of the listed values, in file order with the last parameter varying
  /// fastest (an odometer); `validate` guarantees only `grid`/`choice` domains here.
  func gridRound() -> Round {
    let lists: [[ParameterValue]] = spec.parameters.map {
      switch $0.domain {
      case .grid(let values), .choice(let values): values
      default: preconditionFailure("a grid search over \($0.name) needs grid or choice values, got \($0.domain)")
      }
    }
    let total = lists.reduce(1) { $0 * $1.count }
    var digits = [Int](repeating: 0, count: lists.count)
    var sets: [ParameterSet] = []
    sets.reserveCapacity(total)
    for _ in 0..<total {
      var set = ParameterSet()
      for (p, (list, digit)) in zip(spec.parameters, zip(lists, digits)) { set[p.name] = list[digit] }
      sets.append(set)
      var position = lists.count - 1
      while position >= 0 {
        digits[position] += 1
        if digits[position] < lists[position].count { break }
        digits[position] = 0
        position -= 1
      }
    }
    return Self.round(0, "grid", sets)
  }

  static func round(_ index: Int, _ label: String, _ sets: [ParameterSet], budget: Int? = nil) -> Round {
    Round(
      index: index, label: label,
      configurations: sets.enumerated().map {
        PlannedConfiguration(key: $0.offset, parameters: $0.element, budget: budget)
      })
  }
}
