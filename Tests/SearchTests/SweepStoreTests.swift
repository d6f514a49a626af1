import Files
import Foundation
import GRDB
import Testing

@testable import Search

@Suite("The sweep database")
struct SweepStoreTests {
  static func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "dptrain-store-\(UUID().uuidString)"
    return path
  }

  static let spec = SweepSpec(
    base: ["hidden": .string("50"), "epochs": .integer(1)],
    parameters: [SearchParameter(name: "lambda", domain: .logUniform(low: 1e-5, high: 1e-1))],
    strategy: .random(trials: 2), repeats: 2, seed: 7)

  static func round() -> Round {
    Round(
      index: 0, label: "random",
      configurations: [
        PlannedConfiguration(key: 0, parameters: ["lambda": .number(1e-3)]),
        PlannedConfiguration(key: 1, parameters: ["lambda": .number(2e-2)]),
      ])
  }

  static func trials() -> [TrialRecord] {
    var id = 0
    return round().configurations.flatMap { c in
      (0..<2).map { r in
        id += 1
        return TrialRecord(
          id: id, round: 0, key: c.key, repeatIndex: r, seed: 7 + UInt64(r), parameters: c.parameters, budget: nil,
          arguments: ["--lambda", c.parameters["lambda"]!.description, "--seed", "\(7 + r)"])
      }
    }
  }

  static func report(_ accuracy: Double) -> TrialReport {
    TrialReport(
      status: .finished,
      metrics: [
        EpochMetrics(
          step: 50, epoch: 0.5, eta: 0.01, trainCost: 1.2, trainLoss: 1.1, trainAccuracy: 0.6, valCost: 1.3, valLoss: 1.2,
          valAccuracy: accuracy - 0.1),
        EpochMetrics(
          step: 100, epoch: 1, eta: 0.02, trainCost: 0.9, trainLoss: 0.8, trainAccuracy: 0.7, valCost: 1.0, valLoss: 0.9,
          valAccuracy: accuracy),
      ],
      steps: 100, trainSeconds: 0.5, samplesPerSecond: 2e4)
  }

  @Test("rounds, trials, results and metrics survive closing and reopening; resume re-queues running trials")
  func roundTrip() throws {
    let dir = Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
      let store = try SweepStore(directory: dir, create: true)
      try store.writeHeader(spec: Self.spec, specFile: "s.yaml", specText: "text", ranks: 3, ranksPerTrial: 1)
      try store.insert(round: Self.round(), trials: Self.trials())
      try store.markRunning(id: 1, ranks: [2])
      try store.record(id: 1, report: Self.report(0.81))
      try store.markRunning(id: 2, ranks: [0])
      try store.markRunning(id: 3, ranks: [1])
      try store.record(
        id: 3, report: TrialReport(status: .diverged, metrics: [], divergedAtStep: 17, steps: 17, trainSeconds: 0, samplesPerSecond: 0))
    }
    let store = try SweepStore(directory: dir, create: false)
    let header = try #require(try store.header())
    #expect(header.spec == Self.spec)
    #expect(header.ranks == 3 && header.sessions == 1)
    #expect(try store.rounds() == [Self.round()])
    var trials = try store.trials()
    #expect(trials.map(\.status) == [.finished, .running, .diverged, .queued])
    #expect(trials[0].last?.valAccuracy == 0.81)
    #expect(trials[0].ranks == "2")
    #expect(trials[2].divergedAtStep == 17)
    #expect(trials[1].arguments == Self.trials()[1].arguments)
    #expect(try store.metrics(trial: 1) == Self.report(0.81).metrics)

    #expect(try store.resume(ranks: 2, ranksPerTrial: 1) == 1)
    trials = try store.trials()
    #expect(trials.map(\.status) == [.finished, .queued, .diverged, .queued])
    #expect(try store.header()?.sessions == 2)
  }

  @Test("the top table and CSV rank configurations by their mean over repeats")
  func summary() throws {
    let dir = Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try SweepStore(directory: dir, create: true)
    try store.writeHeader(spec: Self.spec, specFile: "s.yaml", specText: "", ranks: 1, ranksPerTrial: 1)
    try store.insert(round: Self.round(), trials: Self.trials())
    for (id, accuracy) in [(1, 0.70), (2, 0.72), (3, 0.80), (4, 0.84)] { try store.record(id: id, report: Self.report(accuracy)) }
    let summary = try SweepSummary(store: store)
    #expect(summary.ranked.map(\.key) == [1, 0])
    let best = summary.ranked[0]
    #expect(abs(best.mean! - 0.82) < 1e-12)
    #expect(abs(best.std! - (0.02 * 0.02 * 2).squareRoot()) < 1e-12)
    let table = summary.table(top: 1)
    #expect(table.contains("0.8200") && table.contains("#3,#4") && !table.contains("#1"))
    let csv = summary.configurationsCSV().split(separator: "\n")
    #expect(csv.count == 3)
    #expect(csv[1].hasPrefix("1,0.82"))
    #expect(summary.trialsCSV().split(separator: "\n").count == 5)
  }

  @Test("a sweep database of the first schema gets the gemm column when opened, keeps its trials, and records kernels")
  func migratesTheFirstSchema() throws {
    let directory = Self.temporaryDirectory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    do {
      let old = try DatabaseQueue(path: (directory as NSString).appendingPathComponent(SweepStore.fileName))
      try SweepStore.migrator.migrate(old, upTo: "v1")
      #expect(try old.read { try $0.columns(in: "trial").map(\.name) }.contains("gemm") == false)
    }
    do {
      let store = try SweepStore(directory: directory, create: false)
      try store.writeHeader(spec: Self.spec, specFile: "spec.yaml", specText: "", ranks: 1, ranksPerTrial: 1)
      try store.insert(round: Self.round(), trials: Self.trials())
      #expect(try store.trials().allSatisfy { $0.gemm == nil })
      var report = Self.report(0.8)
      report.gemm = "oneDNN 2.6.3 (avx2 kernels)"
      try store.record(id: 2, report: report)
    }
    let reopened = try SweepStore(directory: directory, create: false)
    #expect(try reopened.trials().map(\.gemm) == [nil, "oneDNN 2.6.3 (avx2 kernels)", nil, nil])
  }

  @Test("opening a directory without a sweep names the file")
  func missing() throws {
    let dir = Self.temporaryDirectory()
    do {
      _ = try SweepStore(directory: dir, create: false)
      Issue.record("expected an error")
    } catch {
      #expect((error as? FileError)?.kind == .missing, "\(type(of: error)): \(error)")
      #expect("\(error)".contains(dir) && "\(error)".contains("no sweep database"))
    }
  }
}
