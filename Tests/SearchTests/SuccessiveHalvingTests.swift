import Foundation
import Search
import Testing

@Suite("Successive halving")
struct SuccessiveHalvingTests {
  /// Best at eta = 1e-3; a longer budget helps a little, as more epochs would.
  static func score(_ c: PlannedConfiguration) -> Double? {
    -abs(log10(number(c, "eta")) + 3) + Double(c.budget ?? 0) * 0.001
  }

  static func planner(trials: Int = 9, minBudget: Int = 1, maxBudget: Int = 9, reduction: Int = 3, unit: BudgetUnit = .epochs)
    -> SweepPlanner
  {
    SweepPlanner(
      spec: spec(
        [
          SearchParameter(name: "eta", domain: .logUniform(low: 1e-5, high: 1e-1)),
          SearchParameter(name: "init", domain: .choice([.string("he"), .string("xavier")])),
        ],
        .successiveHalving(trials: trials, minBudget: minBudget, maxBudget: maxBudget, reduction: reduction, unit: unit)))
  }

  /// `round`'s parameter sets best first by `score`, ties by key.
  static func ranked(_ o: RoundOutcome) -> [ParameterSet] {
    o.round.configurations.sorted {
      let a = o.scores[$0.key] ?? nil
      let b = o.scores[$1.key] ?? nil
      if a != b { return (a ?? -.infinity) > (b ?? -.infinity) }
      return $0.key < $1.key
    }.map(\.parameters)
  }

  @Test("9 trials, reduction 3, budgets 1 to 9: rungs of 9, 3, 1; the top third advances")
  func promotesTopThird() throws {
    let planner = Self.planner()
    let outcomes = runSweep(planner, score: Self.score)
    #expect(planner.roundCount == 3)
    #expect(outcomes.map(\.round.configurations.count) == [9, 3, 1])
    #expect(outcomes.map { Set($0.round.configurations.map(\.budget)) } == [[1], [3], [9]])
    #expect(outcomes.map(\.round.label) == ["rung 0 (1 epoch)", "rung 1 (3 epochs)", "rung 2 (9 epochs)"])
    #expect(outcomes.map(\.round.index) == [0, 1, 2])
    for r in 1..<3 {
      let expected = Array(Self.ranked(outcomes[r - 1]).prefix(outcomes[r].round.configurations.count))
      #expect(outcomes[r].round.configurations.map(\.parameters) == expected)  // in rank order
      #expect(outcomes[r].round.configurations.map(\.key) == Array(0..<expected.count))
    }
    // The winner is the rung-0 configuration closest to eta = 1e-3.
    let closest = outcomes[0].round.configurations.min { abs(log10(number($0, "eta")) + 3) < abs(log10(number($1, "eta")) + 3) }
    #expect(outcomes[2].round.configurations.first?.parameters == closest?.parameters)
    #expect(planner.nextRound(after: outcomes) == nil)
  }

  @Test("a diverged (nil) configuration never advances over a finite one")
  func divergedStaysBehind() throws {
    let planner = Self.planner()
    let rung0 = try #require(planner.nextRound(after: []))
    // The best configuration diverges: the next three advance instead.
    let plain = outcome(rung0, score: Self.score)
    let best = try #require(Self.ranked(plain).first)
    let diverged = outcome(rung0) { $0.parameters == best ? nil : Self.score($0) }
    let rung1 = try #require(planner.nextRound(after: [diverged]))
    #expect(!rung1.configurations.contains { $0.parameters == best })
    #expect(rung1.configurations.map(\.parameters) == Array(Self.ranked(plain)[1...3]))

    // Only key 5 is finite: it leads, and the places left go to diverged ones by key.
    let mostlyDiverged = outcome(rung0) { $0.key == 5 ? -1 : nil }
    let promoted = try #require(planner.nextRound(after: [mostlyDiverged]))
    let keyOf = Dictionary(uniqueKeysWithValues: rung0.configurations.map { ($0.parameters, $0.key) })
    #expect(promoted.configurations.map { keyOf[$0.parameters] } == [5, 0, 1])
  }

  @Test("budgets are min * reduction^r capped at max; rung sizes ceil(n / reduction), at least 1")
  func budgets() throws {
    #expect(SweepPlanner.rungBudgets(minBudget: 1, maxBudget: 9, reduction: 3) == [1, 3, 9])
    #expect(SweepPlanner.rungBudgets(minBudget: 2, maxBudget: 10, reduction: 3) == [2, 6, 10])
    #expect(SweepPlanner.rungBudgets(minBudget: 4, maxBudget: 4, reduction: 2) == [4])
    #expect(SweepPlanner.rungBudgets(minBudget: 1, maxBudget: Int.max, reduction: Int.max / 2).count == 3)

    let planner = Self.planner(trials: 5, minBudget: 2, maxBudget: 10, unit: .cycles)
    let outcomes = runSweep(planner, score: Self.score)
    #expect(outcomes.map(\.round.configurations.count) == [5, 2, 1])
    #expect(outcomes.map(\.round.label) == ["rung 0 (2 cycles)", "rung 1 (6 cycles)", "rung 2 (10 cycles)"])

    // One configuration left early still runs up to the full budget.
    let single = runSweep(Self.planner(trials: 2, maxBudget: 27), score: Self.score)
    #expect(single.map(\.round.configurations.count) == [2, 1, 1, 1])
    #expect(single.map { $0.round.configurations[0].budget } == [1, 3, 9, 27])
  }

  @Test("replaying stored rungs re-plans the same rungs")
  func reproducible() throws {
    let first = runSweep(Self.planner(), score: Self.score)
    #expect(runSweep(Self.planner(), score: Self.score) == first)
    #expect(Self.planner().nextRound(after: Array(first.prefix(2))) == first[2].round)
  }
}
