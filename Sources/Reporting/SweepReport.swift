import Foundation
import Search

/// `SWEEPDIR/report.html`: the search at a glance.
/// - a scatter of the first two numeric searched parameters (eta and lambda when searched), on
///   log axes for log-uniform ones, coloured by the metric, one marker shape per stage or rung;
/// - parallel coordinates over every searched parameter and the metric;
/// - the top-k table;
/// - the learning curves (validation metric vs step) of the best trials, overlaid;
/// - successive halving: each configuration's metric across the rungs' budgets, and when each
///   rung's results arrived (ASHA's rungs overlap in time; synchronous rungs follow each other);
/// - a timeline of which ranks ran which trials.
public struct SweepReport {
  public var directory: String
  public var summary: SweepSummary
  /// Metrics rows of the trials drawn as curves (the best configurations' first repeats).
  public var curves: [(label: String, points: [(x: Double, y: Double)])]
  public var top: Int

  public init(directory: String, top: Int = 5) throws {
    self.directory = directory
    self.top = top
    let store = try SweepStore(directory: directory, create: false)
    let summary = try SweepSummary(store: store)
    self.summary = summary
    let metric = summary.header.spec.metric
    let order = summary.header.spec.parameters.map(\.name)
    curves = try summary.top(top).compactMap { c in
      guard let trial = c.trials.first(where: { $0.status == .finished }) else { return nil }
      let rows = try store.metrics(trial: trial.id)
      let label = "#\(trial.id) " + SweepSummary.describe(c.parameters, order: order)
      return (label, rows.compactMap { r in r.value(of: metric).map { (Double(r.step), $0) } })
    }
  }

  var spec: SweepSpec { summary.header.spec }

  static func numeric(_ v: ParameterValue?) -> Double? { v?.doubleValue }

  /// Parameters drawn on numeric axes: every log/uniform/int domain, and choices of numbers.
  var numericParameters: [SearchParameter] {
    spec.parameters.filter { p in
      switch p.domain {
      case .logUniform, .uniform, .intUniform: true
      case .choice(let values), .grid(let values): values.allSatisfy { $0.doubleValue != nil }
      }
    }
  }

  static func isLog(_ p: SearchParameter) -> Bool {
    switch p.domain {
    case .logUniform: return true
    case .choice(let v), .grid(let v):
      let xs = v.compactMap(\.doubleValue)
      return xs.allSatisfy { $0 > 0 } && (xs.max() ?? 1) / (xs.min() ?? 1) >= 100
    default: return false
    }
  }

  public func charts() -> [String] {
    var charts: [String] = []
    let configurations = summary.ranked
    let metric = spec.metric
    let rounds = summary.rounds
    // Scatter: eta and lambda if both searched, else the first two numeric parameters.
    let numeric = numericParameters
    let preferred = ["eta", "lambda"].compactMap { n in numeric.first { $0.name == n } }
    let pair = preferred.count == 2 ? preferred : Array(numeric.prefix(2))
    if pair.count == 2 {
      let points = configurations.compactMap { c -> ScatterPoint? in
        guard let x = Self.numeric(c.parameters[pair[0].name]), let y = Self.numeric(c.parameters[pair[1].name]) else { return nil }
        return ScatterPoint(
          x: x, y: y, value: c.mean, group: c.round,
          label: "\(c.roundLabel): \(metric.rawValue) \(c.mean.map { String(format: "%.4f", $0) } ?? c.status)")
      }
      charts.append(
        ScatterChart(
          id: "search-scatter", title: "\(pair[0].name) vs \(pair[1].name), coloured by \(metric.rawValue)",
          xLabel: pair[0].name + (Self.isLog(pair[0]) ? " (log)" : ""), yLabel: pair[1].name + (Self.isLog(pair[1]) ? " (log)" : ""),
          xScale: Self.isLog(pair[0]) ? .log : .linear, yScale: Self.isLog(pair[1]) ? .log : .linear,
          valueLabel: metric.rawValue, groupNames: rounds.map(\.label), points: points
        ).svg())
    }
    // Parallel coordinates over every searched parameter, then the metric.
    var axes: [ParallelCoordinates.Axis] = spec.parameters.map { p in
      if numeric.contains(where: { $0.name == p.name }) { return .init(name: p.name, kind: Self.isLog(p) ? .log : .linear) }
      let values: [ParameterValue]
      switch p.domain {
      case .choice(let v), .grid(let v): values = v
      default: values = []
      }
      return .init(name: p.name, kind: .categories(values.map(SweepSummary.format)))
    }
    axes.append(.init(name: metric.rawValue, kind: .linear))
    let finished = configurations.filter { $0.mean != nil }
    let lines: [(values: [Double], color: Double?)] = finished.map { c in
      var values = spec.parameters.map { p -> Double in
        if let x = Self.numeric(c.parameters[p.name]), numeric.contains(where: { $0.name == p.name }) { return x }
        switch p.domain {
        case .choice(let v), .grid(let v): return Double(v.firstIndex(of: c.parameters[p.name] ?? .bool(false)) ?? 0)
        default: return 0
        }
      }
      values.append(c.mean!)
      return (values, c.mean)
    }
    if !lines.isEmpty {
      charts.append(
        ParallelCoordinates(
          id: "parallel-coordinates", title: "Every finished configuration, coloured by \(metric.rawValue)", axes: axes, lines: lines
        ).svg())
    }
    // Learning curves of the best.
    if !curves.isEmpty {
      var chart = LineChart(
        id: "best-curves", title: "\(metric.rawValue) of the best \(curves.count) configuration(s) during training", xLabel: "update step",
        yLabel: metric.rawValue, series: curves.map { Series(name: $0.label, points: $0.points) })
      chart.width = 900
      chart.height = 340
      charts.append(chart.svg())
    }
    // Successive halving: metric vs budget, one line per configuration across rungs.
    if let halving = spec.strategy.halving {
      var byParameters: [String: [(x: Double, y: Double)]] = [:]
      for c in summary.configurations {
        guard let mean = c.mean, let budget = c.budget else { continue }
        byParameters[SweepSummary.describe(c.parameters, order: spec.parameters.map(\.name)), default: []].append((Double(budget), mean))
      }
      let series = byParameters.sorted { $0.key < $1.key }.map {
        Series(name: $0.key, points: $0.value.sorted { $0.x < $1.x }, color: "#4477AA")
      }
      var chart = LineChart(
        id: "rungs",
        title:
          "\(halving.asynchronous ? "Asynchronous successive halving" : "Successive halving"): \(metric.rawValue) per rung (\(spec.budgetUnit.rawValue))",
        xLabel: spec.budgetUnit.rawValue, yLabel: metric.rawValue, series: series)
      chart.markers = true
      chart.width = 900
      charts.append(chart.svg().replacingOccurrences(of: "<g class=\"legend\"", with: "<g class=\"legend\" display=\"none\""))
      charts.append(contentsOf: rungArrivals())
    }
    // Timeline of ranks.
    let trials = summary.trials.filter { $0.startedAt != nil }
    if let start = trials.compactMap(\.startedAt).min() {
      var rows: [String] = []
      var rowOf: [String: Int] = [:]
      for t in trials.sorted(by: { ($0.ranks ?? "").localizedStandardCompare($1.ranks ?? "") == .orderedAscending }) {
        let key = t.ranks ?? "?"
        if rowOf[key] == nil {
          rowOf[key] = rows.count
          rows.append("rank \(key)")
        }
      }
      let now = Date().timeIntervalSince1970
      let bars = trials.map { t in
        Timeline.Bar(
          row: rowOf[t.ranks ?? "?"]!, start: t.startedAt! - start, end: (t.finishedAt ?? now) - start,
          label: "#\(t.id) \(t.status.rawValue)", status: t.status.rawValue)
      }
      charts.append(Timeline(id: "timeline", title: "Which ranks ran which trials", rows: rows, bars: bars).svg())
    }
    return charts
  }

  public func html() -> String {
    let h = summary.header
    let name = (directory as NSString).lastPathComponent
    let counts = summary.counts
    var body = "<h1>dptrain sweep \(Markup.escape(name))</h1>\n"
    body +=
      "<p class=\"lead\">\(Markup.escape(h.specFile)): \(Markup.escape(h.spec.strategy.summary)), metric \(h.spec.metric.rawValue), \(h.spec.repeats) repeat(s), \(h.ranks) rank(s) in groups of \(h.ranksPerTrial); \(h.status); trials: "
    body += TrialStatus.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ") + "</p>\n"
    body += "<h2>Best configurations</h2>\n<pre>\(Markup.escape(summary.table(top: top)))</pre>\n"
    if let final = summary.final { body += "<p>\(Markup.escape(summary.finalDescription(final)))</p>\n" }
    if let busy = summary.busy() { body += "<p class=\"busy\">\(Markup.escape(busy.description))</p>\n" }
    if !summary.rankTimes.isEmpty { body += "<p class=\"busy\">\(Markup.escape(RankTime.describe(summary.rankTimes)))</p>\n" }
    body += "<h2>The search</h2>\n<div class=\"grid\">\n" + charts().joined() + "</div>\n"
    return RunReport.page(title: "dptrain sweep \(name)", body: body)
  }

  /// Successive halving: each trial's metric at the time it finished, one series per rung, so
  /// that the rungs' overlap in time shows (ASHA promotes while rung 0 still trains).
  func rungArrivals() -> [String] {
    let spec = summary.header.spec
    let finished = summary.trials.filter { $0.round != TrialRecord.finalRound && $0.finishedAt != nil }
    guard let start = summary.trials.compactMap(\.startedAt).min(), !finished.isEmpty else { return [] }
    let labels = Dictionary(summary.rounds.map { ($0.index, $0.label) }, uniquingKeysWith: { first, _ in first })
    let series = Dictionary(grouping: finished, by: \.round).sorted { $0.key < $1.key }.map { rung, trials in
      Series(
        name: labels[rung] ?? "rung \(rung)",
        points: trials.compactMap { t in t.last?.value(of: spec.metric).map { (x: t.finishedAt! - start, y: $0) } }.sorted { $0.x < $1.x })
    }
    var chart = LineChart(
      id: "rung-arrivals", title: "When each rung's results arrived: \(spec.metric.rawValue) at each trial's finish",
      xLabel: "seconds since the sweep's first trial", yLabel: spec.metric.rawValue, series: series)
    chart.markers = true
    chart.width = 900
    return [chart.svg()]
  }
}
