import Yams

/// `strategy:` as a name (`grid`) or a mapping with `kind` and that kind's fields.
extension SpecReader {
  static let strategyKinds = "grid, random, coarse-to-fine, successive-halving or asha"

  /// Fields each kind takes (normalised spelling); `grid` takes none.
  static let strategyFields: [String: [String]] = [
    "grid": [],
    "random": ["trials"],
    "coarse-to-fine": ["stages", "trials", "top-k", "margin"],
    "successive-halving": ["trials", "min-budget", "max-budget", "reduction", "unit"],
    "asha": ["trials", "min-budget", "max-budget", "reduction", "unit"],
  ]

  mutating func strategy(_ node: Node) throws -> Strategy {
    let field = "strategy"
    let kind: String
    let kindNode: Node
    var fields: [String: Node] = [:]
    if case .scalar = node, !isNull(node) {
      kind = try text(node, field, expecting: Self.strategyKinds)
      kindNode = node
    } else {
      let expecting = "\(Self.strategyKinds), or a mapping such as { kind: random, trials: 20 }"
      let all = try entries(node, field, expecting: expecting)
      guard let k = all.first(where: { $0.key == "kind" }) else {
        throw error(node, "strategy.kind", "missing; expected \(Self.strategyKinds)")
      }
      note(k.value, "strategy.kind")
      kind = try text(k.value, "strategy.kind", expecting: Self.strategyKinds)
      kindNode = k.value
      for entry in all where entry.key != "kind" {
        let allowed = Self.strategyFields[kind.replacingOccurrences(of: "_", with: "-")]
        if let allowed, !allowed.contains(entry.key) {
          let expected =
            allowed.isEmpty
            ? "a grid search takes no fields (it trains every combination once)"
            : "a \(kind) search takes \(allowed.map(Self.display).joined(separator: ", "))"
          throw error(entry.keyNode, "strategy.\(entry.written)", "unknown field; \(expected)")
        }
        let path = "strategy.\(Self.display(entry.key))"
        note(entry.value, path)
        fields[entry.key] = entry.value
      }
    }

    func int(_ key: String, default fallback: Int?, _ meaning: String) throws -> Int {
      let path = "strategy.\(Self.display(key))"
      guard let node = fields[key] else {
        guard let fallback else {
          throw error(kindNode, path, "missing; a \(kind) search needs \(Self.display(key)): N (\(meaning))")
        }
        return fallback
      }
      return try integer(node, path, expecting: "an integer (\(meaning))")
    }

    switch kind.replacingOccurrences(of: "_", with: "-") {
    case "grid":
      return .grid
    case "random":
      return .random(trials: try int("trials", default: nil, "configurations to sample"))
    case "coarse-to-fine":
      let stages = try int("stages", default: 2, "rounds of sampling")
      let trials = try int("trials", default: nil, "configurations per stage")
      let topK = try int("top-k", default: 5, "best configurations that define the next ranges")
      let margin =
        try fields["margin"].map {
          try number($0, "strategy.margin", expecting: "a number >= 0 (fraction of the span added on each side)")
        } ?? 0.1
      return .coarseToFine(stages: stages, trials: trials, topK: topK, margin: margin)
    case "successive-halving", "asha":
      let trials = try int("trials", default: nil, "configurations in the first rung")
      let minBudget = try int("min-budget", default: 1, "epochs or cycles of the first rung")
      let maxBudget = try int("max-budget", default: nil, "epochs or cycles of the last rung")
      let reduction = try int("reduction", default: 3, "keep 1/reduction of each rung")
      var unit = BudgetUnit.epochs
      if let node = fields["unit"] {
        let t = try text(node, "strategy.unit", expecting: "epochs or cycles")
        guard let u = BudgetUnit(rawValue: t) else {
          throw error(node, "strategy.unit", "expected epochs or cycles, got \(t)")
        }
        unit = u
      }
      return kind == "asha"
        ? .asha(trials: trials, minBudget: minBudget, maxBudget: maxBudget, reduction: reduction, unit: unit)
        : .successiveHalving(trials: trials, minBudget: minBudget, maxBudget: maxBudget, reduction: reduction, unit: unit)
    default:
      let path = node == kindNode ? field : "strategy.kind"
      throw error(kindNode, path, "unknown strategy \(kind); expected \(Self.strategyKinds)")
    }
  }
}
