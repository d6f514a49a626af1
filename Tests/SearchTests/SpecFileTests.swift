import Foundation
import Search
import Testing

/// Sweep spec files: what parses to what.
@Suite("Sweep spec files")
struct SpecFileTests {
  /// The ```yaml block of SweepSpec's doc comment, so the documented example is the tested one.
  static func documentedExample() throws -> String {
    let source = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Sources/Search/SweepSpec.swift")
    let lines = try String(contentsOf: source, encoding: .utf8).components(separatedBy: "\n")
    let start = try #require(lines.firstIndex(of: "/// ```yaml"))
    let end = try #require(lines[(start + 1)...].firstIndex(of: "/// ```"))
    return lines[(start + 1)..<end].map { String($0.dropFirst(4)) }.joined(separator: "\n")
  }

  @Test("the example in SweepSpec's doc comment parses to the spec it describes")
  func documented() throws {
    let spec = try SweepSpec.parse(try Self.documentedExample(), file: "example.yaml")
    let expected = SweepSpec(
      base: ["hidden": .string("50"), "epochs": .integer(1), "train-limit": .integer(5000)],
      parameters: [
        SearchParameter(name: "eta", domain: .logUniform(low: 1e-5, high: 1e-1)),
        SearchParameter(name: "lambda", domain: .logUniform(low: 1e-6, high: 1e-1)),
        SearchParameter(name: "batch-size", domain: .grid([.integer(50), .integer(100)])),
      ],
      strategy: .random(trials: 8), repeats: 1, metric: .validationAccuracy, seed: 1,
      final: ["validation": .integer(1000), "epochs": .integer(10)])
    #expect(spec == expected)
  }

  @Test("numbers without a dot (1e-5), defaults, `_` keys, every strategy's fields")
  func numbersAndDefaults() throws {
    let spec = try SweepSpec.parse(
      """
      base: { batch_size: 100, init: he, batch_norm: true, eta_min: 1e-5 }
      search:
        eta: { log_uniform: [1e-5, 1e-1] }
        momentum: { uniform: [0, 0.99] }
        n_s: { int_uniform: [2, 8] }
        hidden: { choice: [[50], [100, 50], "50,30"] }
      strategy: { kind: coarse_to_fine, trials: 20, top-k: 5 }
      final: true
      """, file: "t.yaml")
    #expect(spec.seed == 1 && spec.repeats == 1 && spec.metric == .validationAccuracy)
    #expect(
      spec.base == [
        "batch-size": .integer(100), "init": .string("he"), "batch-norm": .bool(true), "eta-min": .number(1e-5),
      ])
    #expect(spec.parameters.map(\.name) == ["eta", "momentum", "n-s", "hidden"])
    #expect(spec.parameters[0].domain == .logUniform(low: 1e-5, high: 0.1))
    #expect(spec.parameters[1].domain == .uniform(low: 0, high: 0.99))
    #expect(spec.parameters[2].domain == .intUniform(low: 2, high: 8))
    #expect(spec.parameters[3].domain == .choice([.list([50]), .list([100, 50]), .string("50,30")]))
    #expect(spec.strategy == .coarseToFine(stages: 2, trials: 20, topK: 5, margin: 0.1))
    #expect(spec.final == ["validation": .integer(1000)])
  }

  @Test("successive halving fields and defaults; strategy as a plain name; seed, repeats, metric")
  func successiveHalvingAndScalars() throws {
    let sh = try SweepSpec.parse(
      """
      seed: 42
      repeats: 3
      base: { hidden: [100, 50] }
      metric: val_loss
      search: { eta: { log_uniform: [1e-4, 1e-1] } }
      strategy: { kind: successive-halving, trials: 27, max_budget: 27, unit: cycles }
      final: { epochs: 20, validation: 5000 }
      """, file: "sh.yaml")
    #expect(sh.seed == 42 && sh.repeats == 3 && sh.metric == .validationLoss)
    #expect(sh.base == ["hidden": .list([100, 50])])
    #expect(sh.strategy == .successiveHalving(trials: 27, minBudget: 1, maxBudget: 27, reduction: 3, unit: .cycles))
    #expect(sh.final == ["epochs": .integer(20), "validation": .integer(5000)])
    let grid = try SweepSpec.parse("search: { hidden: { grid: [[50], [100]] } }\nstrategy: grid\n", file: "g.yaml")
    #expect(grid.strategy == .grid && grid.final == nil && grid.base.isEmpty)
  }

  @Test("JSON is YAML too: quoted strings stay strings, numbers are numbers")
  func json() throws {
    let spec = try SweepSpec.parse(
      """
      {"seed": 7, "base": {"hidden": "50", "epochs": 2},
       "search": {"eta": {"log_uniform": [1e-5, 0.1]}, "batch-size": {"grid": [50, 100]}},
       "strategy": {"kind": "random", "trials": 4}, "metric": "val_cost"}
      """, file: "spec.json")
    #expect(spec.seed == 7 && spec.metric == .validationCost)
    #expect(spec.base == ["hidden": .string("50"), "epochs": .integer(2)])
    #expect(spec.parameters.map(\.name) == ["eta", "batch-size"])
    #expect(spec.parameters[0].domain == .logUniform(low: 1e-5, high: 0.1))
    #expect(spec.strategy == .random(trials: 4))
  }

  @Test("load reads a file, and a missing file names the path")
  func load() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-spec-\(getpid()).yaml").path
    try "search: { eta: { uniform: [0.01, 0.1] } }\nstrategy: { kind: random, trials: 2 }\n"
      .write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(try SweepSpec.load(path: path).strategy == .random(trials: 2))

    let missing = path + ".missing"
    let error = try #require(throws: SpecError.self) { try SweepSpec.load(path: missing) }
    #expect(error.description == "\(missing): cannot read the sweep spec (no such file)")
  }
}
