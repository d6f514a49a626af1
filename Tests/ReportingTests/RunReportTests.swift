import Datasets
import Distributed
import Files
import Foundation
import LinearAlgebra
import NeuralNetwork
import Reporting
import TestSupport
import Testing
import Training

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Collects every `<svg data-chart=...>` and `<img>` of a report while checking it is well formed.
final class ReportScanner: NSObject, XMLParserDelegate {
  struct Chart {
    var id: String
    var series: Int
    var points: [Int]
    var polylines = 0
    var bars = 0
  }
  var charts: [Chart] = []
  var images: [String] = []
  var tables = 0
  private var inChart = false

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]
  ) {
    switch name {
    case "svg":
      if let id = attributes["data-chart"] {
        charts.append(
          Chart(
            id: id, series: Int(attributes["data-series"] ?? "") ?? -1,
            points: (attributes["data-points"] ?? "").split(separator: ",").compactMap { Int($0) }))
        inChart = true
      }
    case "polyline" where inChart: charts[charts.count - 1].polylines += 1
    case "rect" where inChart && attributes["class"] == "bar": charts[charts.count - 1].bars += 1
    case "img": images.append(attributes["src"] ?? "")
    case "table": tables += 1
    default: break
    }
  }

  func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
    if name == "svg" { inChart = false }
  }

  static func scan(_ html: String) throws -> ReportScanner {
    let scanner = ReportScanner()
    let parser = XMLParser(data: Data(html.utf8))
    parser.delegate = scanner
    guard parser.parse() else {
      throw FileError(.malformed, path: "report", problem: "not well formed: \(parser.parserError.map { "\($0)" } ?? "?")")
    }
    return scanner
  }
}

@Suite("Run report")
struct RunReportTests {
  /// Trains a 36-16-3 (BatchNorm) or 36-3 network for 3 epochs on 300 random 6x6 images and
  /// writes the run directory as `train` does.
  static func runDirectory(hidden: [Int]) throws -> String {
    let all = try syntheticImages(count: 300, height: 6, width: 6, seed: 3, noise: 180, signal: 70)
    let train = all.prefix(240)
    let validation = all.suffix(60)
    let normalization = FeatureNormalization(computingOver: train)
    var configuration = TrainingConfiguration()
    configuration.data = .idx(directory: "synthetic")
    configuration.validation = .last(60)
    configuration.seed = 5
    configuration.batchSize = 20
    configuration.lambda = 1e-3
    configuration.schedule = .cyclical(etaMin: 1e-3, etaMax: 5e-2, stepSize: 12)
    configuration.epochs = 3
    configuration.evalEvery = 4
    configuration.architecture = ArchitectureSettings(hidden: hidden, batchNorm: !hidden.isEmpty)
    configuration.architecture.inputSize = all.features
    configuration.architecture.classes = 3
    let architecture = configuration.architecture.resolved!
    let dir = NSTemporaryDirectory() + "dptrain-report-\(UUID().uuidString)"
    let directory = try RunDirectory(path: dir, configuration: configuration)
    let trainer = Trainer<Float>(
      configuration: configuration, model: MLP(architecture: architecture, initialization: .he, seed: 5), train: train,
      validation: validation, normalization: normalization, communicator: SingleProcessCommunicator())
    final class Rows: TrainingObserver {
      let directory: RunDirectory
      init(_ d: RunDirectory) { directory = d }
      func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {}
      func trainingDidEvaluate(_ row: MetricsRow) { try? directory.append(row) }
    }
    let result = try trainer.run(observer: Rows(directory))
    let histograms = try trainer.weightGradients().map { Histogram(name: $0.name, values: $0.values) }
    try RunDirectory.writeJSON(histograms, to: dir + "/" + ReportFiles.gradients)
    try ModelFile.save(trainer.model, normalization: normalization, imageShape: all.shape, to: directory.modelPath)
    var summary = RunSummary(
      status: "finished", divergedAtStep: nil, test: nil, last: result.metrics.last, epochs: result.epochs, steps: result.steps,
      ranks: 2, trainSeconds: result.trainSeconds, samplesPerSecond: result.samplesPerSecond, communicationSeconds: 0.1,
      perRank: ([0.1, 0.8], [1.0, 1.0]))
    summary.hosts = ["a", "b"]
    summary.slowRanks = SlowRank.find(compute: [0.9, 0.2], hosts: ["a", "b"], firstStep: 1, lastStep: 36)
    try directory.writeSummary(summary)
    return dir
  }

  @Test("a run's report is well formed, with every figure: 3 curves of 2 series, the rate, weight tiles, histograms, timing")
  func run() throws {
    let dir = try Self.runDirectory(hidden: [16])
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let report = try RunReport(directory: dir)
    let scan = try ReportScanner.scan(report.html())
    // 3 epochs of 12 steps, evaluated every 4 steps and at epoch ends: 9 points per curve.
    let rows = report.metrics.count
    #expect(rows == 9)
    let byID = Dictionary(uniqueKeysWithValues: scan.charts.map { ($0.id, $0) })
    for id in ["cost", "loss", "accuracy"] {
      let chart = try #require(byID[id], "chart \(id)")
      #expect(chart.series == 2 && chart.points == [rows, rows] && chart.polylines == 2, "\(chart)")
    }
    let rate = try #require(byID["learning-rate"])
    #expect(rate.series == 1 && rate.points == [36], "one point per update step")
    let gradients = scan.charts.filter { $0.id.hasPrefix("gradient-") }
    #expect(gradients.count == 2, "one histogram per weight matrix (36-16-3)")
    #expect(gradients.allSatisfy { $0.points == [40] && $0.bars > 0 })
    #expect(scan.images.count == 16, "the first hidden units (16 < 64)")
    #expect(scan.images.allSatisfy { $0.hasPrefix("data:image/png;base64,") })
    let html = report.html()
    #expect(html.contains("rank 1 (host b): computing, and in collectives"))
    #expect(html.contains("0.20 s computing, 0.80 s in collectives: 80.0% of its step time"))
    #expect(html.contains("rank 0 (host a) computed 4.50x the other ranks&#39; median time per step"))
    // Self-contained: no scripts, nothing fetched.
    #expect(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("url(http"))
  }

  @Test("a 1-layer network shows one weight picture per class")
  func oneLayer() throws {
    let dir = try Self.runDirectory(hidden: [])
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let scan = try ReportScanner.scan(try RunReport(directory: dir).html())
    #expect(scan.images.count == 3)
    #expect(scan.charts.filter { $0.id.hasPrefix("gradient-") }.count == 1)
  }

  @Test("a directory that is not a run names the file")
  func notARun() throws {
    do {
      _ = try RunReport(directory: "/nonexistent-run")
      Issue.record("expected an error")
    } catch {
      #expect((error as? FileError)?.kind == .unreadable, "\(type(of: error)): \(error)")
      #expect("\(error)".contains("/nonexistent-run/config.json"))
    }
  }
}
