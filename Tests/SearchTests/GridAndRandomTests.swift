import Foundation
import LinearAlgebra
import Search
import Testing

@Suite("Grid and random search")
struct GridAndRandomTests {
  static let gridSpec = spec(
    [
      SearchParameter(name: "a", domain: .grid([.integer(1), .integer(2), .integer(3)])),
      SearchParameter(name: "b", domain: .choice([.string("x"), .list([100, 50])])),
      SearchParameter(name: "c", domain: .grid([.number(0.1), .number(0.2), .number(0.3), .number(0.4)])),
    ], .grid)

  @Test("a grid covers every combination exactly once, the last parameter varying fastest")
  func gridCoversAll() throws {
    let planner = SweepPlanner(spec: Self.gridSpec)
    let round = try #require(planner.nextRound(after: []))
    #expect(round.index == 0 && round.label == "grid" && planner.roundCount == 1)
    #expect(round.configurations.count == 24)
    #expect(round.configurations.map(\.key) == Array(0..<24))
    #expect(round.configurations.allSatisfy { $0.budget == nil })
    let sets = round.configurations.map(\.parameters)
    #expect(Set(sets).count == 24)
    var all = Set<ParameterSet>()
    for a in [1, 2, 3] {
      for b: ParameterValue in [.string("x"), .list([100, 50])] {
        for c in [0.1, 0.2, 0.3, 0.4] { all.insert(["a": .integer(a), "b": b, "c": .number(c)]) }
      }
    }
    #expect(Set(sets) == all)
    #expect(sets[0] == ["a": .integer(1), "b": .string("x"), "c": .number(0.1)])
    #expect(sets[1] == ["a": .integer(1), "b": .string("x"), "c": .number(0.2)])
    #expect(sets[4] == ["a": .integer(1), "b": .list([100, 50]), "c": .number(0.1)])
    #expect(sets[8] == ["a": .integer(2), "b": .string("x"), "c": .number(0.1)])
    #expect(planner.nextRound(after: [outcome(round) { _ in 0.5 }]) == nil)
  }

  @Test("repeated grid values are rejected, numbers compared by value")
  func duplicates() throws {
    for values in ["[50, 100, 50]", "[1, 1.0]", "[he, xavier, he]", "[[50], [100], [50]]"] {
      let error = try #require(throws: SpecError.self) {
        try SweepSpec.parse("search: { x: { grid: \(values) } }\nstrategy: grid\n", file: "g.yaml")
      }
      #expect(error.field == "search.x.grid" && error.problem.contains("listed twice"), "\(error)")
    }
  }

  static let randomParameters = [
    SearchParameter(name: "eta", domain: .logUniform(low: 1e-5, high: 1e-1)),
    SearchParameter(name: "momentum", domain: .uniform(low: 0.5, high: 0.99)),
    SearchParameter(name: "n-s", domain: .intUniform(low: 2, high: 8)),
    SearchParameter(name: "hidden", domain: .choice([.list([50]), .list([100, 50]), .string("50,30")])),
  ]

  @Test("random search: one round of draws inside the domains, a pure function of the seed")
  func randomIsSeeded() throws {
    let planner = SweepPlanner(spec: spec(Self.randomParameters, .random(trials: 50)))
    let round = try #require(planner.nextRound(after: []))
    #expect(round.label == "random" && round.configurations.count == 50 && planner.roundCount == 1)
    #expect(planner.nextRound(after: [outcome(round) { _ in 0 }]) == nil)
    for c in round.configurations {
      guard case .number(let eta)? = c.parameters["eta"], case .number(let m)? = c.parameters["momentum"],
        case .integer(let n)? = c.parameters["n-s"], let hidden = c.parameters["hidden"]
      else {
        Issue.record("unexpected value kinds in \(c.parameters)")
        continue
      }
      #expect(eta >= 1e-5 && eta <= 1e-1 && m >= 0.5 && m < 0.99 && (2...8).contains(n))
      #expect([.list([50]), .list([100, 50]), .string("50,30")].contains(hidden))
    }
    // Every integer and every choice turns up in 50 draws (chance of missing one < 1e-3).
    #expect(Set(round.configurations.compactMap { $0.parameters["n-s"] }).count == 7)
    #expect(Set(round.configurations.compactMap { $0.parameters["hidden"] }).count == 3)

    let again = SweepPlanner(spec: spec(Self.randomParameters, .random(trials: 50))).nextRound(after: [])
    #expect(again == round)
    let other = SweepPlanner(spec: spec(Self.randomParameters, .random(trials: 50), seed: 2)).nextRound(after: [])
    #expect(other != round)
    let otherEtas = Set(other?.configurations.map { number($0, "eta") } ?? [])
    #expect(otherEtas.count == 50 && otherEtas.isDisjoint(with: round.configurations.map { number($0, "eta") }))
  }

  @Test("the documented derivation: round 0 draws from generator(seed:round: 0), parameters in file order")
  func documentedDraw() throws {
    let round = try #require(SweepPlanner(spec: spec(Self.randomParameters, .random(trials: 2), seed: 9)).nextRound(after: []))
    var g = SweepPlanner.generator(seed: 9, round: 0)
    #expect(g == SeededGenerator(seed: 9, stream: SweepPlanner.samplingStreamBase))
    for c in round.configurations {
      let eta = exp(log(1e-5) + g.nextUnit() * (log(1e-1) - log(1e-5)))
      let momentum = 0.5 + g.nextUnit() * (0.99 - 0.5)
      let n = 2 + g.nextBelow(7)
      let hidden = g.nextBelow(3)
      #expect(c.parameters["eta"] == .number(eta))
      #expect(c.parameters["momentum"] == .number(momentum))
      #expect(c.parameters["n-s"] == .integer(n))
      #expect(c.parameters["hidden"] == Self.randomParameters[3].domain.choiceValues?[hidden])
    }
  }

  @Test("log-uniform draws are uniform in log10: half below the geometric mean, a quarter in the lowest of four decades")
  func logUniformShape() throws {
    let planner = SweepPlanner(
      spec: spec([SearchParameter(name: "eta", domain: .logUniform(low: 1e-6, high: 1e-2))], .random(trials: 4000)))
    let round = try #require(planner.nextRound(after: []))
    let exponents = round.configurations.map { log10(number($0, "eta")) }
    let below = Double(exponents.filter { $0 < -4 }.count) / 4000
    #expect(abs(below - 0.5) < 0.03)  // binomial sd 0.008
    let lowestDecade = Double(exponents.filter { $0 < -5 }.count) / 4000
    #expect(abs(lowestDecade - 0.25) < 0.03)
  }
}

extension Domain {
  var choiceValues: [ParameterValue]? {
    switch self {
    case .choice(let v), .grid(let v): v
    default: nil
    }
  }
}
