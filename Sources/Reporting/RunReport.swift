import Files
import Foundation
import NeuralNetwork
import Training

/// What a run directory holds besides config.json, metrics.csv and summary.json: written by
/// `train` for the report.
public enum ReportFiles {
  /// Histograms of the cost's gradient per weight matrix at the end of training.
  public static let gradients = "gradients.json"
  /// `dptrain gradcheck --out DIR`'s table.
  public static let gradientCheck = "gradcheck.json"
  public static let report = "report.html"
}

/// A gradient check's table, as `dptrain gradcheck --out DIR` writes it.
public struct GradientCheckRecord: Codable, Sendable {
  public var network: String
  public var lambda: Double
  public var samples: Int
  public var method: String
  public var h: Double
  public var eps: Double
  public var tolerance: Double
  public var entries: [GradientCheckEntry]
  public var passed: Bool
  public init(
    network: String, lambda: Double, samples: Int, method: String, h: Double, eps: Double, tolerance: Double, entries: [GradientCheckEntry],
    passed: Bool
  ) {
    self.network = network
    self.lambda = lambda
    self.samples = samples
    self.method = method
    self.h = h
    self.eps = eps
    self.tolerance = tolerance
    self.entries = entries
    self.passed = passed
  }
}

/// `DIR/report.html` for a run directory: one self-contained XHTML file (inline SVG and
/// PNG data, no scripts, no network) with
/// - cost, loss and accuracy vs update step for training and validation, and the learning
///   rate of every step under them on the same x axis;
/// - the final figures and the resolved configuration;
/// - the first layer's weights as pictures (one per class for a 1-layer network, the first 64
///   hidden units otherwise), contrast-stretched per tile;
/// - histograms of the cost's gradient per weight matrix at the end of training;
/// - the gradient-check table, when `gradcheck.json` is there;
/// - timing: samples/s, and each rank's share of step time in collectives.
public struct RunReport {
  public var directory: String
  public var configuration: TrainingConfiguration
  public var metrics: [MetricsRow]
  public var summary: RunSummary?
  public var firstLayer: (values: [Double], rows: Int, shape: (height: Int, width: Int, planar: Bool))?
  public var gradients: [Histogram]
  public var gradientCheck: GradientCheckRecord?

  /// Reads the run directory; only config.json and metrics.csv are required.
  public init(directory: String) throws {
    self.directory = directory
    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
    configuration = try Self.decode(TrainingConfiguration.self, path("config.json"))
    // A hand-edited configuration out of range is named, not drawn (or trapped on).
    do { try configuration.validate() } catch { throw FileError(.malformed, path: path("config.json"), problem: "\(error)") }
    metrics = try Self.readMetrics(path("metrics.csv"))
    summary = FileManager.default.fileExists(atPath: path("summary.json")) ? try Self.decode(RunSummary.self, path("summary.json")) : nil
    gradients =
      FileManager.default.fileExists(atPath: path(ReportFiles.gradients))
      ? try Self.decode([Histogram].self, path(ReportFiles.gradients)) : []
    gradientCheck =
      FileManager.default.fileExists(atPath: path(ReportFiles.gradientCheck))
      ? try Self.decode(GradientCheckRecord.self, path(ReportFiles.gradientCheck)) : nil
    let model = path("model.safetensors")
    if FileManager.default.fileExists(atPath: model) {
      let file = try SafeTensors.read(model)
      if let w = file.tensors["layer1.weight"], w.shape.count == 2, let shape = file.metadata["image_shape"] {
        let parts = shape.split(separator: ",").map(String.init)
        if parts.count == 4, let h = Int(parts[0]), let wd = Int(parts[1]), let c = Int(parts[2]), h * wd * c == w.shape[1],
          c == 1 || c == 3
        {
          firstLayer = (w.values, w.shape[0], (h, wd, c == 3))
        }
      }
    }
  }

  static func decode<V: Decodable>(_: V.Type, _ path: String) throws -> V {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw FileError(.unreadable, path: path, problem: "cannot read the file; is this a dptrain run directory?")
    }
    do { return try JSONDecoder().decode(V.self, from: data) } catch {
      throw FileError(.malformed, path: path, problem: "not the JSON dptrain writes: \(error)")
    }
  }

  static func readMetrics(_ path: String) throws -> [MetricsRow] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw FileError(.unreadable, path: path, problem: "cannot read the metrics file; is this a dptrain run directory?")
    }
    var rows: [MetricsRow] = []
    for (i, line) in text.split(separator: "\n").enumerated() where i > 0 {
      let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
      guard f.count == 9, let epoch = Double(f[0]), let step = Int(f[1]), let eta = Double(f[2]),
        let tc = Double(f[3]), let tl = Double(f[4]), let ta = Double(f[5])
      else { throw FileError(.malformed, path: path, problem: "line \(i + 1): expected \(MetricsRow.csvHeader)") }
      let validation = Double(f[6]).flatMap { vc in
        Double(f[7]).flatMap { vl in Double(f[8]).map { SplitMetrics(loss: vl, cost: vc, accuracy: $0) } }
      }
      rows.append(
        MetricsRow(epoch: epoch, step: step, eta: eta, train: SplitMetrics(loss: tl, cost: tc, accuracy: ta), validation: validation))
    }
    return rows
  }

  /// The learning rate of every update step 0..<steps (thinned by the chart), from the schedule.
  var schedulePoints: [(x: Double, y: Double)] {
    let steps = summary?.steps ?? metrics.last?.step ?? 0
    guard steps > 0, let perEpoch = metrics.first(where: { $0.epoch > 0 }).map({ Double($0.step) / $0.epoch }) else { return [] }
    let schedule = configuration.learningRate(stepsPerEpoch: Int(perEpoch.rounded()))
    return (0..<steps).map { s -> (x: Double, y: Double) in
      (Double(s + 1), schedule.rate(step: s, epoch: Int(Double(s) / perEpoch.rounded())))
    }
  }

  /// Cost, loss and accuracy curves, and the learning rate when the schedule gives one.
  func learningCharts() -> [String] {
    var charts: [String] = []
    let steps = Double(max(1, summary?.steps ?? metrics.last?.step ?? 1))
    func curve(_ id: String, _ title: String, _ label: String, _ value: (SplitMetrics) -> Double) -> String {
      var series = [Series(name: "training", points: metrics.map { (Double($0.step), value($0.train)) })]
      if metrics.contains(where: { $0.validation != nil }) {
        series.append(Series(name: "validation", points: metrics.compactMap { r in r.validation.map { (Double(r.step), value($0)) } }))
      }
      var chart = LineChart(id: id, title: title, xLabel: "update step", yLabel: label, series: series)
      chart.xDomain = 0...steps
      return chart.svg()
    }
    charts.append(curve("cost", "Cost (loss + lambda sum ||W||^2)", "cost", \.cost))
    charts.append(curve("loss", "Loss", "loss", \.loss))
    charts.append(curve("accuracy", "Accuracy", "accuracy", \.accuracy))
    let rates = schedulePoints
    if !rates.isEmpty {
      var chart = LineChart(
        id: "learning-rate", title: "Learning rate: \(configuration.schedule.description)", xLabel: "update step", yLabel: "eta",
        yScale: rates.allSatisfy { $0.y > 0 } && (rates.map(\.y).max()! / rates.map(\.y).min()! > 20) ? .log : .linear,
        series: [Series(name: "eta", points: rates, color: "#555555")])
      chart.xDomain = 0...steps
      chart.height = 180
      chart.markers = false
      charts.append(chart.svg())
    }
    return charts
  }

  /// One histogram per weight matrix.
  func gradientCharts() -> [String] {
    gradients.enumerated().map { i, h in h.svg(id: "gradient-\(i + 1)", title: "\(h.name): cost gradient", logCounts: true) }
  }

  /// The weight tiles as `<img>` elements with their captions.
  public func weightTiles() -> [Image] {
    guard let first = firstLayer else { return [] }
    let oneLayer = configuration.architecture.hidden.isEmpty
    return WeightImages.tiles(
      weights: first.values, rows: first.rows, height: first.shape.height, width: first.shape.width,
      layout: first.shape.planar ? .planarRGB : .grayscale, count: oneLayer ? first.rows : 64)
  }

  public func html() -> String {
    let name = (directory as NSString).lastPathComponent
    let c = configuration
    let a = c.architecture
    let shape = a.resolved?.shapeDescription ?? a.hidden.map(String.init).joined(separator: "-")
    let network = ([shape] + (a.batchNorm ? ["BatchNorm"] : [])).joined(separator: " ")
    var body = "<h1>dptrain run \(Markup.escape(name))</h1>\n"
    body +=
      "<p class=\"lead\">\(Markup.escape(network)), \(Markup.escape(a.loss.rawValue)), \(Markup.escape(c.schedule.description)), batch \(c.batchSize), lambda \(c.lambda), \(c.ranks ?? 1) rank(s)</p>\n"
    body += figures()
    body += "<h2>Learning curves</h2>\n<div class=\"stack\">\n" + learningCharts().joined() + "</div>\n"
    let tiles = weightTiles()
    if !tiles.isEmpty {
      let what = a.hidden.isEmpty ? "one image per class" : "the first \(tiles.count) hidden units"
      body +=
        "<h2>First-layer weights</h2>\n<p>\(what), each stretched from its own minimum (black) to maximum (white).</p>\n<div class=\"tiles\" data-tiles=\"\(tiles.count)\">\n"
      for (i, t) in tiles.enumerated() {
        let scale = max(2, 96 / max(t.width, 1))
        body +=
          "<figure><img alt=\"weights of unit \(i + 1)\" width=\"\(t.width * scale)\" height=\"\(t.height * scale)\" src=\"\(PNG.dataURI(t))\"/><figcaption>\(a.hidden.isEmpty ? "class \(i)" : "unit \(i + 1)")</figcaption></figure>\n"
      }
      body += "</div>\n"
    }
    if !gradients.isEmpty {
      body +=
        "<h2>Gradients at the end of training</h2>\n<p>The cost's gradient on one batch of \(c.batchSize), per weight matrix (counts on a log axis).</p>\n<div class=\"grid\">\n"
      body += gradientCharts().joined() + "</div>\n"
      body += table(
        ["matrix", "entries", "min", "max", "mean", "std"],
        gradients.map { h in
          [
            h.name, "\(h.count)", String(format: "%.3e", h.min), String(format: "%.3e", h.max), String(format: "%.3e", h.mean),
            String(format: "%.3e", h.std),
          ]
        })
    }
    if let g = gradientCheck {
      body +=
        "<h2>Gradient check</h2>\n<p>\(Markup.escape(g.network)), lambda \(g.lambda), \(g.samples) samples, \(g.method) differences, h \(g.h), eps \(g.eps): \(g.passed ? "passed" : "FAILED") (tolerance \(g.tolerance)).</p>\n"
      body += table(
        ["tensor", "checked", "max rel", "mean rel", "var rel", "max |a-n|"],
        g.entries.map { e in
          [
            e.name, "\(e.checked)/\(e.total)", String(format: "%.3e", e.maxRelative), String(format: "%.3e", e.meanRelative),
            String(format: "%.3e", e.varianceRelative), String(format: "%.3e", e.maxAbsolute),
          ]
        })
    }
    body += timing()
    body += "<h2>Configuration</h2>\n" + table(["setting", "value"], configurationRows())
    return Self.page(title: "dptrain run \(name)", body: body)
  }

  func figures() -> String {
    var rows: [[String]] = []
    if let s = summary {
      rows.append(["status", s.status + (s.divergedAtStep.map { " at step \($0)" } ?? "")])
      if let t = s.testAccuracy { rows.append(["test accuracy", String(format: "%.4f", t)]) }
      if let t = s.testLoss { rows.append(["test loss", String(format: "%.4f", t)]) }
      rows.append(["epochs / steps", String(format: "%.2f / %d", s.epochs, s.steps)])
    }
    if let last = metrics.last {
      rows.append([
        "final training cost / loss / accuracy",
        String(format: "%.4f / %.4f / %.4f", last.train.cost, last.train.loss, last.train.accuracy),
      ])
      if let v = last.validation {
        rows.append(["final validation cost / loss / accuracy", String(format: "%.4f / %.4f / %.4f", v.cost, v.loss, v.accuracy)])
      }
    }
    return rows.isEmpty ? "" : "<h2>Result</h2>\n" + table(["", ""], rows)
  }

  func timing() -> String {
    guard let s = summary else { return "" }
    var rows: [[String]] = [
      ["training time (update steps)", String(format: "%.2f s", s.trainSeconds)],
      ["samples per second", String(format: "%.0f", s.samplesPerSecond)],
    ]
    if let gemm = s.gemm ?? configuration.gemmKernel?.description {
      rows.append(["matrix products", "\(gemm), \(configuration.blasThreads ?? 1) thread(s) per rank"])
    }
    if let cpu = s.cpu { rows.append(["CPU", cpu]) }
    if let comm = s.communicationSecondsPerRank, let train = s.trainSecondsPerRank, comm.count == train.count, comm.count > 1 {
      for (r, (c, t)) in zip(comm, train).enumerated() {
        let host = s.hosts.flatMap { r < $0.count ? " (host \($0[r]))" : nil } ?? ""
        rows.append([
          "rank \(r)\(host): computing, and in collectives (waiting for the others included)",
          String(
            format: "%.2f s computing, %.2f s in collectives: %.1f%% of its step time", t - c, c,
            100 * c / max(t, 1e-9)),
        ])
      }
    }
    for slow in s.slowRanks ?? [] { rows.append(["slow rank", slow.description]) }
    return "<h2>Timing</h2>\n" + table(["", ""], rows)
  }

  /// Every option as `dptrain train` takes it, then what the run recorded when it started.
  func configurationRows() -> [[String]] {
    let c = configuration
    var rows = TrainingConfiguration.optionNames.compactMap { name in c.optionValue(name).map { [name, $0] } }
    if let network = c.architecture.resolved { rows.append(["network", network.shapeDescription]) }
    rows.append(["ranks", "\(c.ranks ?? 1)"])
    if let kernel = c.gemmKernel { rows.append(["matrix products", kernel.description]) }
    rows.append(["dptrain version", c.version])
    return rows
  }

  func table(_ head: [String], _ rows: [[String]]) -> String {
    var out = "<table>\n"
    if head.contains(where: { !$0.isEmpty }) { out += "<tr>" + head.map { "<th>\(Markup.escape($0))</th>" }.joined() + "</tr>\n" }
    for r in rows { out += "<tr>" + r.map { "<td>\(Markup.escape($0))</td>" }.joined() + "</tr>\n" }
    return out + "</table>\n"
  }

  /// The page around `body`: XHTML-compatible, printable, no scripts.
  public static func page(title: String, body: String) -> String {
    """
    <!DOCTYPE html>
    <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
    <head>
    <meta charset="utf-8"/>
    <title>\(Markup.escape(title))</title>
    <style>
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1340px; color: #222; }
    h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
    .lead { color: #555; }
    .stack svg, .grid svg { display: inline-block; margin: 4px; }
    .chart-title { font-size: 13px; font-weight: 600; fill: #222; }
    table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
    td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
    th { background: #f4f4f4; }
    .tiles { display: flex; flex-wrap: wrap; gap: 6px; }
    figure { margin: 0; text-align: center; font-size: 11px; }
    img { image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid #ccc; }
    @media print { body { margin: 0; } svg { break-inside: avoid; } }
    </style>
    </head>
    <body>
    \(body)
    <p class="footer">dptrain \(dptrainVersion)</p>
    </body>
    </html>

    """
  }
}
