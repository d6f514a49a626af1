import Search
import Testing

@Suite("Ranking for the final table")
struct RankingTests {
  static func round(_ index: Int, _ count: Int, budget: Int? = nil) -> Round {
    Round(
      index: index, label: "r\(index)",
      configurations: (0..<count).map {
        PlannedConfiguration(key: $0, parameters: ["x": .integer(100 * index + $0)], budget: budget)
      })
  }

  static func outcome(_ round: Round, _ scores: [Double?]) -> RoundOutcome {
    var s: [Int: Double?] = [:]
    for (k, v) in scores.enumerated() { s.updateValue(v, forKey: k) }
    return RoundOutcome(round: round, scores: s)
  }

  static func keys(_ ranked: [(round: Int, key: Int, score: Double?)]) -> [[Int]] {
    ranked.map { [$0.round, $0.key] }
  }

  @Test("by score, nil last, ties by round then key")
  func byScore() {
    let outcomes = [
      Self.outcome(Self.round(0, 5), [0.5, nil, 0.9, 0.5, 0.7]),
      Self.outcome(Self.round(1, 3), [0.9, .nan, 0.6]),
    ]
    let ranked = SweepPlanner.rank(outcomes, strategy: .coarseToFine(stages: 2, trials: 5, topK: 3, margin: 0.1))
    #expect(Self.keys(ranked) == [[0, 2], [1, 0], [0, 4], [1, 2], [0, 0], [0, 3], [0, 1], [1, 1]])
    #expect(ranked[0].score == 0.9 && ranked[6].score == nil && ranked[7].score == nil)  // NaN counts as nil
    // A key missing from the scores is ranked as diverged.
    let missing = RoundOutcome(round: Self.round(0, 2), scores: [1: 0.1])
    #expect(Self.keys(SweepPlanner.rank([missing], strategy: .random(trials: 2))) == [[0, 1], [0, 0]])
  }

  @Test("successive halving: higher rung first, each configuration once, at its highest rung")
  func successiveHalving() throws {
    let strategy = Strategy.successiveHalving(trials: 9, minBudget: 1, maxBudget: 9, reduction: 3, unit: .epochs)
    let planner = SweepPlanner(spec: spec([SearchParameter(name: "x", domain: .intUniform(low: 0, high: 1000))], strategy))
    let scores0: [Double?] = [0.1, 0.8, nil, 0.3, 0.95, 0.2, 0.6, 0.5, 0.4]
    let rung0 = try #require(planner.nextRound(after: []))
    let o0 = Self.outcome(rung0, scores0)
    let rung1 = try #require(planner.nextRound(after: [o0]))
    // Rung 1 holds rung 0's keys 4, 1, 6 (in that order); on 3 epochs 6 overtakes 1.
    let o1 = Self.outcome(rung1, [0.97, 0.7, 0.85])
    let ranked = SweepPlanner.rank([o0, o1], strategy: strategy)
    #expect(Self.keys(ranked) == [[1, 0], [1, 2], [1, 1], [0, 7], [0, 8], [0, 3], [0, 5], [0, 0], [0, 2]])
    #expect(ranked.count == 9)
    // After the last rung the winner leads and its lower-rung entry is gone.
    let rung2 = try #require(planner.nextRound(after: [o0, o1]))
    let o2 = Self.outcome(rung2, [0.5])
    let final = SweepPlanner.rank([o0, o1, o2], strategy: strategy)
    #expect(Self.keys(final).prefix(3) == [[2, 0], [1, 2], [1, 1]] && final.count == 9)
  }
}
