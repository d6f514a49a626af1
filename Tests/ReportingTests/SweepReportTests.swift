import Foundation
import Reporting
import Search
import Testing

@Suite("Sweep report")
struct SweepReportTests {
  /// A successive-halving sweep written straight into a store: 9 configurations in rung 0
  /// (1 diverged), 3 in rung 1, 1 in rung 2, each trial with per-epoch metrics, on 2 ranks.
  static func sweepDirectory() throws -> String {
    let spec = SweepSpec(
      base: ["hidden": .string("50")],
      parameters: [
        SearchParameter(name: "eta", domain: .logUniform(low: 1e-4, high: 1e-1)),
        SearchParameter(name: "lambda", domain: .logUniform(low: 1e-6, high: 1e-1)),
        SearchParameter(name: "batch-norm", domain: .choice([.bool(true), .bool(false)])),
      ],
      strategy: .successiveHalving(trials: 9, minBudget: 1, maxBudget: 9, reduction: 3, unit: .epochs), seed: 4)
    let dir = NSTemporaryDirectory() + "dptrain-sweep-report-\(UUID().uuidString)"
    let store = try SweepStore(directory: dir, create: true)
    try store.writeHeader(spec: spec, specFile: "sh.yaml", specText: "", ranks: 2, ranksPerTrial: 1)
    let planner = SweepPlanner(spec: spec)
    var outcomes: [RoundOutcome] = []
    var id = 0
    while let round = planner.nextRound(after: outcomes) {
      var trials: [TrialRecord] = []
      for c in round.configurations {
        id += 1
        trials.append(
          TrialRecord(
            id: id, round: round.index, key: c.key, repeatIndex: 0, seed: 4, parameters: c.parameters, budget: c.budget, arguments: []))
      }
      try store.insert(round: round, trials: trials)
      var scores: [Int: Double?] = [:]
      for t in trials {
        try store.markRunning(id: t.id, ranks: [t.id % 2])
        let eta = t.parameters["eta"]!.doubleValue!
        let accuracy = 0.9 - 0.05 * abs(log10(eta) + 2) + 0.001 * Double(t.budget ?? 0)
        if round.index == 0 && t.key == 8 {
          try store.record(
            id: t.id, report: TrialReport(status: .diverged, metrics: [], divergedAtStep: 3, steps: 3, trainSeconds: 0, samplesPerSecond: 0)
          )
          scores[t.key] = .some(nil)
          continue
        }
        let rows = (1...(t.budget ?? 1)).map { e in
          EpochMetrics(
            step: 100 * e, epoch: Double(e), eta: eta, trainCost: 1, trainLoss: 1, trainAccuracy: accuracy,
            valCost: 1, valLoss: 1, valAccuracy: accuracy - 0.01 / Double(e))
        }
        try store.record(
          id: t.id, report: TrialReport(status: .finished, metrics: rows, steps: 100, trainSeconds: 0.1, samplesPerSecond: 1e4))
        scores[t.key] = rows.last!.valAccuracy
      }
      outcomes.append(RoundOutcome(round: round, scores: scores))
    }
    try store.record(rankTimes: [
      RankTime(trials: 1, coordination: 0.25, idle: 0.5, collectives: 0.4), RankTime(trials: 1.5, coordination: 0, idle: 0.25),
    ])
    return dir
  }

  @Test("every sweep figure is there with the right number of series and points; the page is well formed")
  func figures() throws {
    let dir = try Self.sweepDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try SweepReport(directory: dir, top: 3)
    let scan = try ReportScanner.scan(report.html())
    let charts = Dictionary(uniqueKeysWithValues: scan.charts.map { ($0.id, $0) })
    // One point per configuration (each listed at its highest rung): 9; 3 rungs as marker groups.
    let scatter = try #require(charts["search-scatter"])
    #expect(scatter.points == [9] && scatter.series == 3)
    // Finished configurations only (8 of 9), over eta, lambda, batch-norm and the metric.
    let parallel = try #require(charts["parallel-coordinates"])
    #expect(parallel.series == 8 && parallel.points == [4] && parallel.polylines == 8)
    // The best 3: the rung-2 configuration with 9 epochs of rows, then two of rung 1 with 3.
    let curves = try #require(charts["best-curves"])
    #expect(curves.series == 3 && curves.points == [9, 3, 3])
    // Successive halving: one line per configuration across the rungs it reached (8 finished:
    // 1 reached rung 2 with 3 points, 2 more reached rung 1 with 2, 5 stayed in rung 0).
    let rungs = try #require(charts["rungs"])
    #expect(rungs.series == 8 && rungs.points.sorted() == [1, 1, 1, 1, 1, 2, 2, 3])
    // When each rung's results arrived: one series per rung, a point per trial with a metric (the
    // diverged one has none): 8, 3 and 1.
    let arrivals = try #require(charts["rung-arrivals"])
    #expect(arrivals.series == 3 && arrivals.points == [8, 3, 1])
    #expect(
      report.html().contains(
        "time per rank: rank 0 1.0 s in trials (0.4 s of them in collectives), 0.25 s coordinating, 0.50 s idle; rank 1 1.5 s in trials (0.0 s"
      ))
    // Every trial on the ranks that ran it: 9 + 3 + 1 trials, 2 ranks.
    let timeline = try #require(charts["timeline"])
    #expect(timeline.series == 2 && timeline.points == [13] && timeline.bars == 13)
    #expect(scan.tables == 0 && report.html().contains("top 3 of 9 configuration(s)"))
  }
}
