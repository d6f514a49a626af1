import Search
import Testing

/// Bad spec files: every error names the file, the field (dotted path) and, where the YAML
/// parser knows it, the line.
@Suite("Sweep spec errors")
struct SpecErrorTests {
  static let search = "search: { eta: { log_uniform: [1e-5, 1e-1] } }\n"
  static let random = "strategy: { kind: random, trials: 4 }\n"

  /// (spec text, expected field, a fragment of the problem, expected line or nil).
  static let cases: [(text: String, field: String?, fragment: String, line: Int?)] = [
    (
      "search:\n  eta: { log_uniform: [0.1, 0.01] }\n" + random, "search.eta.log_uniform",
      "expected two numbers [low, high] with 0 < low < high, got [0.1, 0.01]", 2
    ),
    ("search:\n  eta: { log_uniform: [0, 0.1] }\n" + random, "search.eta.log_uniform", "0 < low < high", 2),
    ("search:\n  eta: { log_uniform: [1e-5] }\n" + random, "search.eta.log_uniform", "got [1e-5]", 2),
    ("search:\n  eta: { uniform: [0.1, x] }\n" + random, "search.eta.uniform", "got [0.1, x]", 2),
    ("search:\n  n-s: { int_uniform: [2, 8.5] }\n" + random, "search.n-s.int_uniform", "two integers", 2),
    (
      "search:\n  batch_size: { grid: [50, 100, 50] }\nstrategy: grid\n", "search.batch-size.grid",
      "50 is listed twice", 2
    ),
    ("search:\n  hidden: { choice: [] }\n" + random, "search.hidden.choice", "non-empty list", 2),
    (
      "search:\n  eta: { log_uniform: [1e-5, 1e-1], grid: [0.1] }\n" + random, "search.eta",
      "exactly one of log_uniform", 2
    ),
    ("search:\n  eta: { normal: [0, 1] }\n" + random, "search.eta.normal", "unknown domain", 2),
    ("search:\n  eta: 0.1\n" + random, "search.eta", "expected one domain", 2),
    ("search: {}\n" + random, "search", "at least one parameter", 1),
    (random, "search", "at least one parameter", nil),
    ("base: { eta: 0.1 }\n" + search + random, "search.eta", "also set in base", 2),
    ("base: [1, 2]\n" + search + random, "base", "expected a mapping of train options", 1),
    ("base: { epochs: }\n" + search + random, "base.epochs", "got nothing", 1),
    ("base: { hidden: [50, wide] }\n" + search + random, "base.hidden", "list of integers", 1),
    (search + "strategy: grid\n", "search.eta", "a grid search needs listed values, got log_uniform", 1),
    (search + "strategy: random\n", "strategy.trials", "a random search needs trials", 2),
    (search + "strategy: { kind: random, trials: 0 }\n", "strategy.trials", "expected an integer >= 1", 2),
    (search + "strategy: { kind: random, trials: 4, top_k: 2 }\n", "strategy.top_k", "unknown field", 2),
    (search + "strategy: { kind: grid, trials: 4 }\n", "strategy.trials", "a grid search takes no fields", 2),
    (search + "strategy: { kind: annealing }\n", "strategy.kind", "unknown strategy annealing", 2),
    (search + "strategy: { trials: 4 }\n", "strategy.kind", "missing", 2),
    (search + "strategy: { kind: coarse-to-fine, trials: 5, margin: -1 }\n", "strategy.margin", "expected a number >= 0", 2),
    (search + "strategy: { kind: coarse-to-fine, trials: 5, top_k: 2, top-k: 3 }\n", "strategy.top-k", "same key as top_k", 2),
    (search + "strategy: { kind: successive-halving, trials: 9 }\n", "strategy.max_budget", "needs max_budget", 2),
    (
      search + "strategy: { kind: successive-halving, trials: 9, min_budget: 4, max_budget: 2 }\n",
      "strategy.max_budget", "expected an integer >= min_budget (4), got 2", 2
    ),
    (
      search + "strategy: { kind: successive-halving, trials: 9, max_budget: 9, reduction: 1 }\n",
      "strategy.reduction", "expected an integer >= 2", 2
    ),
    (
      search + "strategy: { kind: successive-halving, trials: 9, max_budget: 9, unit: steps }\n",
      "strategy.unit", "expected epochs or cycles, got steps", 2
    ),
    (search, "strategy", "missing", nil),
    ("seed: -1\n" + search + random, "seed", "non-negative integer, got -1", 1),
    ("repeats: 0\n" + search + random, "repeats", "expected an integer >= 1", 1),
    ("repeats: two\n" + search + random, "repeats", "got two", 1),
    ("metric: accuracy\n" + search + random, "metric", "val_accuracy, val_loss or val_cost", 1),
    ("final: maybe\n" + search + random, "final", "expected true, false or a mapping", 1),
    ("trials: 4\n" + search + random, "trials", "unknown key; expected one of seed, repeats", 1),
    (search + "strategy: { kind: random, trials: 10000000 }\n", "strategy", "plans 10000000 trials", 2),
    ("repeats: 3\n" + search + "strategy: { kind: coarse-to-fine, stages: 4, trials: 10000 }\n", "strategy", "plans 120000 trials", 3),
    (
      "search:\n" + (1...6).map { "  p\($0): { grid: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }\n" }.joined() + "strategy: grid\n",
      "strategy", "plans 1000000 trials (configurations x repeats); at most 100000", 8
    ),
  ]

  @Test("each bad field is named, with the line when known", arguments: 0..<cases.count)
  func namesTheField(index: Int) throws {
    let c = Self.cases[index]
    let error = try #require(throws: SpecError.self) { try SweepSpec.parse(c.text, file: "bad.yaml") }
    #expect(error.field == c.field, "\(error)")
    #expect(error.problem.contains(c.fragment), "\(error)")
    #expect(error.line == c.line, "\(error)")
    let place = c.line.map { "bad.yaml:\($0)" } ?? "bad.yaml"
    #expect(error.description.hasPrefix("\(place): \(c.field.map { "\($0): " } ?? "")"), "\(error)")
  }

  @Test("the message reads FILE:LINE: FIELD: problem")
  func format() throws {
    let error = try #require(throws: SpecError.self) {
      try SweepSpec.parse("search:\n  eta: { log_uniform: [0.1, 0.01] }\n" + Self.random, file: "quick.yaml")
    }
    #expect(
      error.description
        == "quick.yaml:2: search.eta.log_uniform: expected two numbers [low, high] with 0 < low < high, got [0.1, 0.01]")
  }

  @Test("YAML syntax errors and duplicate keys give a line")
  func syntax() throws {
    let unclosed = try #require(throws: SpecError.self) {
      try SweepSpec.parse("search: { eta: { uniform: [0, 1] }\nstrategy: grid\n", file: "s.yaml")
    }
    #expect(unclosed.line != nil && unclosed.problem.hasPrefix("not valid YAML"), "\(unclosed)")
    let twice = try #require(throws: SpecError.self) {
      try SweepSpec.parse("seed: 1\nseed: 2\n" + Self.search + Self.random, file: "s.yaml")
    }
    #expect(twice.problem.contains("seed") && twice.problem.contains("twice"), "\(twice)")
    let empty = try #require(throws: SpecError.self) { try SweepSpec.parse("", file: "s.yaml") }
    #expect(empty.description == "s.yaml: the sweep spec is empty; expected a mapping with search and strategy")
  }

  @Test("validate() checks specs built in code, naming the field")
  func validateInCode() throws {
    let spec = SweepSpec(
      base: [:], parameters: [SearchParameter(name: "eta", domain: .uniform(low: 1, high: 1))],
      strategy: .coarseToFine(stages: 0, trials: 3, topK: 1, margin: 0.1))
    let error = try #require(throws: SpecError.self) { try spec.validate(file: "store") }
    #expect(error.description.hasPrefix("store: search.eta.uniform: expected two finite numbers"), "\(error)")
    var fixed = spec
    fixed.parameters[0].domain = .uniform(low: 0, high: 1)
    let stages = try #require(throws: SpecError.self) { try fixed.validate() }
    #expect(stages.field == "strategy.stages", "\(stages)")
    fixed.strategy = .coarseToFine(stages: 2, trials: 3, topK: 1, margin: 0.1)
    try fixed.validate()
  }
}
