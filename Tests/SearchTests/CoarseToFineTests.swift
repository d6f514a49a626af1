import Foundation
import Search
import Testing

/// Coarse-to-fine on a synthetic objective: no training, the score is a bowl in log space.
@Suite("Coarse-to-fine search")
struct CoarseToFineTests {
  static let etaStar = pow(10, -2.5), lambdaStar = 1e-4

  /// Peak 0 at (eta*, lambda*), falling quadratically in decades away from it.
  static func bowl(_ c: PlannedConfiguration) -> Double? {
    let de = log10(number(c, "eta")) - log10(etaStar)
    let dl = log10(number(c, "lambda")) - log10(lambdaStar)
    return -(de * de + dl * dl)
  }

  static let parameters = [
    SearchParameter(name: "eta", domain: .logUniform(low: 1e-5, high: 1e-1)),
    SearchParameter(name: "lambda", domain: .logUniform(low: 1e-6, high: 1e-1)),
    SearchParameter(name: "batch-size", domain: .choice([.integer(50), .integer(100)])),
  ]

  /// Top 5 (the spec default) rather than the course's 3: on this bowl the top 3 of 20 draws
  /// often lie on one side of the optimum in one coordinate, and the narrowed range then
  /// excludes it (about half the seeds; with the top 5, about one seed in ten; see `manySeeds`).
  static func planner(seed: UInt64 = 1, topK: Int = 5) -> SweepPlanner {
    SweepPlanner(spec: spec(parameters, .coarseToFine(stages: 3, trials: 20, topK: topK, margin: 0.1), seed: seed))
  }

  /// Whether the three stages' ranges contain the optimum, shrink strictly (log10 width), and
  /// the best score of stages 2 and 3 each beat stage 1's.
  static func properties(_ planner: SweepPlanner) -> (contains: Bool, shrinks: Bool, improves: Bool) {
    let outcomes = runSweep(planner, score: bowl)
    let stages = (0..<3).map { planner.ranges(after: Array(outcomes.prefix($0))) }
    var contains = true
    var shrinks = true
    for (i, star) in [(0, etaStar), (1, lambdaStar)] {
      let widths = stages.map { logWidth($0[i].domain) }
      shrinks = shrinks && widths[0] > widths[1] && widths[1] > widths[2]
      contains = contains && stages.allSatisfy { bounds($0[i].domain).map { $0.low <= star && star <= $0.high } ?? false }
    }
    let best = outcomes.map { $0.round.configurations.compactMap(bowl).max() ?? -.infinity }
    return (contains, shrinks, best[1] > best[0] && best[2] > best[0])
  }

  static func logWidth(_ d: Domain) -> Double {
    guard let (low, high) = bounds(d) else { return .nan }
    return log10(high) - log10(low)
  }

  @Test("the ranges narrow toward the optimum, contain it, and the best score improves")
  func narrows() throws {
    let planner = Self.planner()
    let outcomes = runSweep(planner, score: Self.bowl)
    #expect(outcomes.map(\.round.label) == ["stage 1 of 3", "stage 2 of 3", "stage 3 of 3"])
    #expect(outcomes.map(\.round.configurations.count) == [20, 20, 20] && planner.roundCount == 3)

    // The ranges each stage sampled: the spec's, then narrowed after stages 1 and 2.
    let stages = (0..<3).map { planner.ranges(after: Array(outcomes.prefix($0))) }
    #expect(stages[0] == Self.parameters)
    for (name, star) in [("eta", Self.etaStar), ("lambda", Self.lambdaStar)] {
      let domains = stages.map { $0.first { $0.name == name }!.domain }
      let widths = domains.map(Self.logWidth)
      #expect(widths[0] > widths[1] && widths[1] > widths[2], "\(name) log10 widths \(widths)")
      for d in domains {
        let (low, high) = try #require(bounds(d))
        #expect(low <= star && star <= high, "\(name) range [\(low), \(high)] misses \(star)")
      }
      // Every configuration of stage s lies in the range stage s sampled.
      for (s, outcome) in outcomes.enumerated() {
        let (low, high) = try #require(bounds(domains[s]))
        #expect(outcome.round.configurations.allSatisfy { (low...high).contains(number($0, name)) })
      }
    }
    #expect(stages.allSatisfy { $0[2].domain == Self.parameters[2].domain })  // choices untouched

    let best = outcomes.map { o in o.round.configurations.compactMap { Self.bowl($0) }.max() ?? -.infinity }
    #expect(best[1] > best[0] && best[2] > best[0], "best per stage \(best)")
  }

  @Test("the narrowed range is the top-k span widened by the margin, clipped to the spec's")
  func rangeFormula() throws {
    let planner = SweepPlanner(
      spec: spec(
        [
          SearchParameter(name: "eta", domain: .logUniform(low: 1e-5, high: 1e-1)),
          SearchParameter(name: "m", domain: .uniform(low: 0, high: 1)),
          SearchParameter(name: "n", domain: .intUniform(low: 1, high: 100)),
        ], .coarseToFine(stages: 2, trials: 4, topK: 2, margin: 0.5)))
    let configurations: [ParameterSet] = [
      ["eta": .number(1e-3), "m": .number(0.2), "n": .integer(10)],  // score 3
      ["eta": .number(1e-2), "m": .number(0.4), "n": .integer(10)],  // score 2
      ["eta": .number(1e-5), "m": .number(0.0), "n": .integer(99)],  // score 1: not in the top 2
      ["eta": .number(1e-1), "m": .number(1.0), "n": .integer(1)],  // diverged
    ]
    let round = Round(
      index: 0, label: "stage 1 of 2",
      configurations: configurations.enumerated().map {
        PlannedConfiguration(key: $0.offset, parameters: $0.element)
      })
    let scores: [Double?] = [3, 2, 1, nil]
    let ranges = planner.ranges(after: [outcome(round) { scores[$0.key] }])
    guard case .logUniform(let el, let eh) = ranges[0].domain, case .uniform(let ml, let mh) = ranges[1].domain,
      case .intUniform(let nl, let nh) = ranges[2].domain
    else {
      Issue.record("unexpected domains \(ranges)")
      return
    }
    // eta: log10 span [-3, -2] widened by 0.5 decades -> [10^-3.5, 10^-1.5].
    #expect(abs(log10(el) + 3.5) < 1e-12 && abs(log10(eh) + 1.5) < 1e-12, "eta [\(el), \(eh)]")
    // m: [0.2, 0.4] widened by 0.1 -> [0.1, 0.5].
    #expect(abs(ml - 0.1) < 1e-12 && abs(mh - 0.5) < 1e-12, "m [\(ml), \(mh)]")
    // n: both 10, so widened by 0.5 * (100 - 1) on each side -> [-39.5, 59.5] -> [1, 60].
    #expect(nl == 1 && nh == 60)
  }

  @Test("over 40 seeds: ranges always shrink; they keep the optimum and the best improves in most")
  func manySeeds() {
    let runs = (1...40).map { Self.properties(Self.planner(seed: UInt64($0))) }
    let contain = runs.filter { $0.contains }.count
    let improve = runs.filter { $0.improves }.count
    #expect(runs.allSatisfy { $0.shrinks })
    // Measured over 100 seeds: 89 contain the optimum, 87 improve (top 3: 47 and 88).
    #expect(contain >= 30, "\(contain) of 40 contain the optimum")
    #expect(improve >= 30, "\(improve) of 40 improve")
  }

  @Test("same seed and outcomes give the same rounds; another seed does not")
  func reproducible() throws {
    let first = runSweep(Self.planner(), score: Self.bowl)
    let second = runSweep(Self.planner(), score: Self.bowl)
    #expect(first == second)
    // Resuming: a fresh planner given stage 1 and 2's outcomes plans the same stage 3.
    #expect(Self.planner().nextRound(after: Array(first.prefix(2))) == first[2].round)
    let other = runSweep(Self.planner(seed: 2), score: Self.bowl)
    #expect(other[0].round != first[0].round && other[2].round != first[2].round)
    // Different outcomes of stage 1 give a different stage 2.
    let flipped = outcome(first[0].round) { Self.bowl($0).map { -$0 } }
    #expect(Self.planner().nextRound(after: [flipped]) != first[1].round)
  }
}
