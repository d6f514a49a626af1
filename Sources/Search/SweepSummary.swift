import Files
import Foundation

/// One configuration of a sweep with its repeats: what the top-k table shows.
public struct ConfigurationSummary: Sendable {
  public var round: Int
  public var roundLabel: String
  public var key: Int
  public var parameters: ParameterSet
  public var budget: Int?
  public var trials: [TrialRecord]
  /// The metric of each finished repeat.
  public var values: [Double]
  public var mean: Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
  /// Sample standard deviation over repeats (n - 1); nil below 2 repeats.
  public var std: Double? {
    guard values.count >= 2, let m = mean else { return nil }
    return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
  }
  /// "finished", "diverged", "failed", "running", "queued", or counts when the repeats differ.
  public var status: String {
    let statuses = trials.map(\.status.rawValue)
    if Set(statuses).count == 1 { return statuses[0] }
    return TrialStatus.allCases.compactMap { s in
      let n = trials.filter { $0.status == s }.count
      return n > 0 ? "\(n) \(s.rawValue)" : nil
    }.joined(separator: ", ")
  }
}

/// A sweep read back from its database: progress, the ranking of configurations, CSV exports.
public struct SweepSummary: Sendable {
  public var header: SweepStore.Header
  public var rounds: [Round]
  public var trials: [TrialRecord]
  /// Every configuration, best first (successive halving: the highest rung reached first).
  public var ranked: [ConfigurationSummary]
  /// Every configuration of every round, in round and key order (a configuration promoted
  /// through successive-halving rungs appears once per rung).
  public var configurations: [ConfigurationSummary]
  /// The final retraining, when the spec asks for one and it has been planned.
  public var final: TrialRecord?
  /// Each rank's time in trials, coordination and idle, over the sessions that recorded one.
  public var rankTimes: [RankTime]

  public init(store: SweepStore) throws {
    guard let header = try store.header() else { throw FileError(.malformed, path: store.path, problem: "the sweep has no header row") }
    self.header = header
    rounds = try store.rounds()
    trials = try store.trials()
    rankTimes = try store.rankTimes()
    final = trials.first { $0.round == TrialRecord.finalRound }
    let spec = header.spec
    // Trials by (round, configuration) in one pass: a sweep may hold 100,000.
    let grouped = Dictionary(grouping: trials) { [$0.round, $0.key] }
    var byConfiguration: [Int: [Int: ConfigurationSummary]] = [:]
    for round in rounds {
      for c in round.configurations {
        let mine = grouped[[round.index, c.key]] ?? []
        byConfiguration[round.index, default: [:]][c.key] = ConfigurationSummary(
          round: round.index, roundLabel: round.label, key: c.key, parameters: c.parameters, budget: c.budget, trials: mine,
          values: mine.finishedValues(of: spec.metric))
      }
    }
    let outcomes = rounds.map { round in
      RoundOutcome(
        round: round,
        scores: Dictionary(
          round.configurations.map { c in (c.key, byConfiguration[round.index]?[c.key]?.mean.map { spec.metric.score($0) }) },
          uniquingKeysWith: { first, _ in first }))
    }
    ranked = SweepPlanner.rank(outcomes, strategy: spec.strategy).compactMap { byConfiguration[$0.round]?[$0.key] }
    configurations = rounds.flatMap { round in round.configurations.compactMap { byConfiguration[round.index]?[$0.key] } }
  }

  public func top(_ k: Int) -> [ConfigurationSummary] { Array(ranked.prefix(k)) }

  /// Trials by status.
  public var counts: [TrialStatus: Int] {
    Dictionary(grouping: trials.filter { $0.round != TrialRecord.finalRound }, by: \.status).mapValues(\.count)
  }

  /// `eta=1.23e-02 lambda=4.56e-04 hidden=50,30`, in spec order.
  public static func describe(_ parameters: ParameterSet, order: [String]) -> String {
    order.compactMap { name in parameters[name].map { "\(name)=\(format($0))" } }.joined(separator: " ")
  }

  /// Numbers with 3 significant digits (`0.0269`, `6.94e-05`), others as given (`""` for none).
  public static func format(_ value: ParameterValue) -> String {
    switch value {
    case .number(let x): String(format: "%.3g", x)
    case .string(""), .list([]): "\"\""
    default: value.description
    }
  }

  /// The best `top` configurations as a text table: rank, the metric's mean and std over
  /// repeats, repeats finished, the searched parameters, the round, and the trial ids.
  public func table(top k: Int) -> String {
    let spec = header.spec
    let names = spec.parameters.map(\.name)
    // Columns that say nothing are left out: std and n with one repeat, budget without one.
    let repeats = spec.repeats > 1
    let budgets = ranked.contains { $0.budget != nil }
    var rows: [[String]] = []
    var head = ["rank", spec.metric.rawValue]
    if repeats { head += ["std", "n"] }
    head += names
    if budgets { head.append(spec.budgetUnit.rawValue) }
    rows.append(head + ["round", "trials", "status"])
    for (i, c) in top(k).enumerated() {
      var row: [String] = ["\(i + 1)", c.mean.map { String(format: "%.4f", $0) } ?? "-"]
      if repeats { row += [c.std.map { String(format: "%.4f", $0) } ?? "-", "\(c.values.count)/\(c.trials.count)"] }
      row += names.map { c.parameters[$0].map(Self.format) ?? "-" }
      if budgets { row.append(c.budget.map(String.init) ?? "-") }
      let ids: String = c.trials.map { "#\($0.id)" }.joined(separator: ",")
      row += [c.roundLabel, ids, c.status]
      rows.append(row)
    }
    let over = repeats ? " (mean and sample std over \(spec.repeats) repeats)" : ""
    let title = "top \(min(k, ranked.count)) of \(ranked.count) configuration(s) by \(spec.metric.rawValue)\(over)"
    return title + "\n" + Self.align(rows)
  }

  public func finalDescription(_ final: TrialRecord) -> String {
    switch final.status {
    case .finished:
      let val = final.last?.valAccuracy.map { String(format: ", holdout accuracy %.4f", $0) } ?? ""
      return String(format: "final run (#%d): test accuracy %.4f%@; %@", final.id, final.testAccuracy ?? .nan, val, final.command)
    default:
      return "final run (#\(final.id)): \(final.status.rawValue)\(final.error.map { ": \($0)" } ?? ""); \(final.command)"
    }
  }

  static func align(_ rows: [[String]]) -> String {
    let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { row in
      zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        .trimmingCharacters(in: .whitespaces)
    }.joined(separator: "\n")
  }

  // MARK: - CSV

  /// Every trial: id, round, key, repeat, seed, status, the searched parameters, budget, last
  /// metrics, test accuracy, diverged step, ranks, seconds, GEMM kernel, error, and the command.
  public func trialsCSV() -> String {
    let names = header.spec.parameters.map(\.name)
    var lines = [
      (["trial", "round", "round_label", "config", "repeat", "seed", "status"] + names
        + [
          "budget", "epoch", "train_cost", "train_accuracy", "val_cost", "val_loss", "val_accuracy", "test_accuracy",
          "diverged_at_step", "ranks", "train_seconds", "gemm", "error", "command",
        ]).joined(separator: ",")
    ]
    // First label per index (a hand-edited database may repeat one).
    let labels = Dictionary(rounds.map { ($0.index, $0.label) }, uniquingKeysWith: { first, _ in first })
    for t in trials {
      let l = t.last
      var fields: [String] = [
        "\(t.id)", "\(t.round)", labels[t.round] ?? "final", "\(t.key)", "\(t.repeatIndex)", "\(t.seed)", t.status.rawValue,
      ]
      fields += names.map { t.parameters[$0]?.description ?? "" }
      fields += [t.budget.map(String.init) ?? "", Self.number(l?.epoch), Self.number(l?.trainCost), Self.number(l?.trainAccuracy)]
      fields += [Self.number(l?.valCost), Self.number(l?.valLoss), Self.number(l?.valAccuracy), Self.number(t.testAccuracy)]
      fields += [
        t.divergedAtStep.map(String.init) ?? "", t.ranks ?? "", Self.number(t.trainSeconds), t.gemm ?? "", t.error ?? "", t.command,
      ]
      lines.append(fields.map(Self.csvField).joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Every configuration, best first: rank, mean, std, n, the searched parameters, budget, round.
  public func configurationsCSV(top k: Int? = nil) -> String {
    let names = header.spec.parameters.map(\.name)
    let metric = header.spec.metric.rawValue
    var lines = [
      (["rank", metric, "\(metric)_std", "repeats_finished", "repeats"] + names + ["budget", "round", "round_label", "trials", "status"])
        .joined(separator: ",")
    ]
    for (i, c) in (k.map { top($0) } ?? ranked).enumerated() {
      var fields: [String] = ["\(i + 1)", Self.number(c.mean), Self.number(c.std), "\(c.values.count)", "\(c.trials.count)"]
      fields += names.map { c.parameters[$0]?.description ?? "" }
      fields += [
        c.budget.map(String.init) ?? "", "\(c.round)", c.roundLabel, c.trials.map { String($0.id) }.joined(separator: " "), c.status,
      ]
      lines.append(fields.map(Self.csvField).joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  static func number(_ x: Double?) -> String { x.map { $0.isFinite ? "\($0)" : "" } ?? "" }

  static func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }
}
