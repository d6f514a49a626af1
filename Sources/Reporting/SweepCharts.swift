import Foundation

/// A point of a scatter plot: position, the value that colours it (nil: diverged or failed,
/// drawn as a gray cross), and its group (a stage or rung: the marker's shape).
public struct ScatterPoint: Sendable {
  public var x: Double
  public var y: Double
  public var value: Double?
  public var group: Int
  public var label: String
  public init(x: Double, y: Double, value: Double?, group: Int, label: String) {
    self.x = x
    self.y = y
    self.value = value
    self.group = group
    self.label = label
  }
}

/// Scatter plot coloured by a value (with a colour bar), one marker shape per group.
public struct ScatterChart: Sendable {
  public var id: String
  public var title: String
  public var xLabel: String, yLabel: String
  public var xScale: Scale.Kind, yScale: Scale.Kind
  public var valueLabel: String
  public var groupNames: [String]
  public var points: [ScatterPoint]
  public var width = 680.0, height = 420.0

  public init(
    id: String, title: String, xLabel: String, yLabel: String, xScale: Scale.Kind, yScale: Scale.Kind, valueLabel: String,
    groupNames: [String], points: [ScatterPoint]
  ) {
    self.id = id
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.xScale = xScale
    self.yScale = yScale
    self.valueLabel = valueLabel
    self.groupNames = groupNames
    self.points = points
  }

  /// Marker of group g centred at (x, y).
  static func marker(_ g: Int, _ x: Double, _ y: Double, fill: String) -> String {
    let (cx, cy) = (Markup.n(x), Markup.n(y))
    switch g % 4 {
    case 0: return "<circle class=\"point\" cx=\"\(cx)\" cy=\"\(cy)\" r=\"4.5\" fill=\"\(fill)\" stroke=\"#222\" stroke-width=\"0.6\"/>"
    case 1:
      return
        "<rect class=\"point\" x=\"\(Markup.n(x - 4))\" y=\"\(Markup.n(y - 4))\" width=\"8\" height=\"8\" fill=\"\(fill)\" stroke=\"#222\" stroke-width=\"0.6\"/>"
    case 2:
      return
        "<polygon class=\"point\" points=\"\(cx),\(Markup.n(y - 5)) \(Markup.n(x + 5)),\(Markup.n(y + 4)) \(Markup.n(x - 5)),\(Markup.n(y + 4))\" fill=\"\(fill)\" stroke=\"#222\" stroke-width=\"0.6\"/>"
    default:
      return
        "<polygon class=\"point\" points=\"\(cx),\(Markup.n(y - 5)) \(Markup.n(x + 5)),\(cy) \(cx),\(Markup.n(y + 5)) \(Markup.n(x - 5)),\(cy)\" fill=\"\(fill)\" stroke=\"#222\" stroke-width=\"0.6\"/>"
    }
  }

  public func svg() -> String {
    let m = (left: 64.0, right: 150.0, top: 28.0, bottom: 42.0)
    let x = Scale.fitting(points.map(\.x), kind: xScale, range: m.left...(width - m.right))
    let y = Scale.fitting(points.map(\.y), kind: yScale, range: m.top...(height - m.bottom), flipped: true)
    let values = points.compactMap(\.value)
    let lo = values.min() ?? 0
    let hi = values.max() ?? 1
    func t(_ v: Double) -> Double { hi > lo ? (v - lo) / (hi - lo) : 1 }
    var out = Markup.chartOpening(
      id: id, title: title, series: Set(points.map(\.group)).count, points: "\(points.count)", width: width, height: height, titleX: m.left)
    // Axes drawn by LineChart's helper with this chart's margins.
    out += LineChart.axes(x: x, y: y, width: width - m.right + LineChart.margin.right, height: height, xLabel: xLabel, yLabel: yLabel)
    // Worse points first, so the best are on top.
    for p in points.sorted(by: { ($0.value ?? -.infinity) < ($1.value ?? -.infinity) }) {
      let (px, py) = (x(p.x), y(p.y))
      if let v = p.value {
        out += Self.marker(p.group, px, py, fill: Palette.sequential(t(v))) + "<title>\(Markup.escape(p.label))</title>\n"
      } else {
        out +=
          "<path class=\"point\" d=\"M\(Markup.n(px - 4)),\(Markup.n(py - 4))L\(Markup.n(px + 4)),\(Markup.n(py + 4))M\(Markup.n(px - 4)),\(Markup.n(py + 4))L\(Markup.n(px + 4)),\(Markup.n(py - 4))\" stroke=\"#999\" stroke-width=\"1.5\"/>\n"
      }
    }
    // Colour bar.
    let barX = width - m.right + 28
    let barTop = m.top + 10
    let barH = height - m.top - m.bottom - 60
    for i in 0..<40 {
      let f = Double(i) / 39
      out +=
        "<rect x=\"\(Markup.n(barX))\" y=\"\(Markup.n(barTop + (1 - f) * barH))\" width=\"14\" height=\"\(Markup.n(barH / 39 + 0.6))\" fill=\"\(Palette.sequential(f))\"/>"
    }
    out += "\n<text x=\"\(Markup.n(barX))\" y=\"\(Markup.n(barTop - 4))\" font-size=\"10\">\(Markup.escape(valueLabel))</text>"
    out += "<text x=\"\(Markup.n(barX + 18))\" y=\"\(Markup.n(barTop + 8))\" font-size=\"10\">\(String(format: "%.4g", hi))</text>"
    out += "<text x=\"\(Markup.n(barX + 18))\" y=\"\(Markup.n(barTop + barH))\" font-size=\"10\">\(String(format: "%.4g", lo))</text>\n"
    // Group legend.
    for (g, name) in groupNames.enumerated() {
      let yy = barTop + barH + 24 + Double(g) * 16
      out +=
        Self.marker(g, barX + 6, yy - 4, fill: "#ddd")
        + "<text x=\"\(Markup.n(barX + 16))\" y=\"\(Markup.n(yy))\" font-size=\"10\">\(Markup.escape(name))</text>\n"
    }
    return out + "</svg>\n"
  }
}

/// Parallel coordinates: one vertical axis per parameter (log, linear or categorical) and a last
/// one for the metric; one polyline per configuration, coloured by the metric.
public struct ParallelCoordinates: Sendable {
  public enum AxisKind: Sendable {
    case linear, log
    case categories([String])
  }
  public struct Axis: Sendable {
    public var name: String
    public var kind: AxisKind
    public init(name: String, kind: AxisKind) {
      self.name = name
      self.kind = kind
    }
  }
  public var id: String
  public var title: String
  public var axes: [Axis]
  /// Per line: one value per axis (categorical axes: the category's index), and the colour value.
  public var lines: [(values: [Double], color: Double?)]
  public var width = 900.0, height = 360.0

  public init(id: String, title: String, axes: [Axis], lines: [(values: [Double], color: Double?)]) {
    self.id = id
    self.title = title
    self.axes = axes
    self.lines = lines
  }

  public func svg() -> String {
    let top = 40.0
    let bottom = height - 36
    let left = 60.0
    let right = width - 60
    let step = axes.count > 1 ? (right - left) / Double(axes.count - 1) : 0
    let scales: [Scale] = axes.enumerated().map { i, axis in
      let column = lines.map { $0.values[i] }
      switch axis.kind {
      case .linear: return Scale.fitting(column, kind: .linear, range: top...bottom, flipped: true)
      case .log: return Scale.fitting(column, kind: .log, range: top...bottom, flipped: true)
      case .categories(let names):
        return Scale(kind: .linear, domain: -0.5...(Double(max(names.count, 1)) - 0.5), range: top...bottom, flipped: true)
      }
    }
    let colors = lines.compactMap(\.color)
    let lo = colors.min() ?? 0
    let hi = colors.max() ?? 1
    var out = Markup.chartOpening(
      id: id, title: title, series: lines.count, points: "\(axes.count)", width: width, height: height, titleX: left)
    for line in lines.sorted(by: { ($0.color ?? -.infinity) < ($1.color ?? -.infinity) }) {
      let path = line.values.enumerated().map { "\(Markup.n(left + Double($0.offset) * step)),\(Markup.n(scales[$0.offset]($0.element)))" }
        .joined(separator: " ")
      let color = line.color.map { Palette.sequential(hi > lo ? ($0 - lo) / (hi - lo) : 1) } ?? "#bbb"
      out +=
        "<polyline class=\"series\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.4\" stroke-opacity=\"0.85\" points=\"\(path)\"/>\n"
    }
    for (i, axis) in axes.enumerated() {
      let xx = left + Double(i) * step
      out += "<line x1=\"\(Markup.n(xx))\" y1=\"\(Markup.n(top))\" x2=\"\(Markup.n(xx))\" y2=\"\(Markup.n(bottom))\" stroke=\"#333\"/>"
      out +=
        "<text x=\"\(Markup.n(xx))\" y=\"\(Markup.n(top - 10))\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\">\(Markup.escape(axis.name))</text>\n"
      let ticks: [(Double, String)]
      switch axis.kind {
      case .categories(let names): ticks = names.enumerated().map { (Double($0.offset), $0.element) }
      default: ticks = scales[i].ticks.map { ($0, Ticks.label($0)) }
      }
      for (v, label) in ticks {
        out +=
          "<text x=\"\(Markup.n(xx - 4))\" y=\"\(Markup.n(scales[i](v) + 4))\" text-anchor=\"end\" font-size=\"10\" fill=\"#333\">\(Markup.escape(label))</text>"
      }
      out += "\n"
    }
    return out + "</svg>\n"
  }
}

/// Which ranks ran which trials when: one row per rank, one bar per trial.
public struct Timeline: Sendable {
  public struct Bar: Sendable {
    public var row: Int
    public var start: Double
    public var end: Double
    public var label: String
    public var status: String
    public init(row: Int, start: Double, end: Double, label: String, status: String) {
      self.row = row
      self.start = start
      self.end = end
      self.label = label
      self.status = status
    }
  }
  public var id: String
  public var title: String
  public var rows: [String]
  public var bars: [Bar]
  public var width = 900.0

  public init(id: String, title: String, rows: [String], bars: [Bar]) {
    self.id = id
    self.title = title
    self.rows = rows
    self.bars = bars
  }

  public func svg() -> String {
    let rowHeight = 22.0
    let top = 28.0
    let left = 70.0
    let right = width - 16
    let height = top + Double(max(rows.count, 1)) * rowHeight + 42
    let end = max(bars.map(\.end).max() ?? 1, 1e-3)
    let x = Scale(kind: .linear, domain: 0...end, range: left...right)
    var out = Markup.chartOpening(
      id: id, title: title, series: rows.count, points: "\(bars.count)", width: width, height: height, titleX: left)
    for t in Ticks.linear(0...end) {
      out +=
        "<line x1=\"\(Markup.n(x(t)))\" y1=\"\(Markup.n(top))\" x2=\"\(Markup.n(x(t)))\" y2=\"\(Markup.n(height - 36))\" stroke=\"#eee\"/>"
      out +=
        "<text x=\"\(Markup.n(x(t)))\" y=\"\(Markup.n(height - 22))\" text-anchor=\"middle\" font-size=\"10\">\(Ticks.label(t))</text>\n"
    }
    out +=
      "<text x=\"\(Markup.n((left + right) / 2))\" y=\"\(Markup.n(height - 6))\" text-anchor=\"middle\" font-size=\"11\">seconds since the sweep started</text>\n"
    for (r, name) in rows.enumerated() {
      out +=
        "<text x=\"\(Markup.n(left - 6))\" y=\"\(Markup.n(top + Double(r) * rowHeight + 15))\" text-anchor=\"end\" font-size=\"11\">\(Markup.escape(name))</text>\n"
    }
    let colors = ["finished": Palette.color(0), "diverged": Palette.color(1), "failed": "#999999", "running": Palette.color(4)]
    for b in bars {
      let x0 = x(b.start)
      let x1 = max(x(b.end), x0 + 1)
      out +=
        "<rect class=\"bar\" x=\"\(Markup.n(x0))\" y=\"\(Markup.n(top + Double(b.row) * rowHeight + 3))\" width=\"\(Markup.n(x1 - x0))\" height=\"\(Markup.n(rowHeight - 6))\" fill=\"\(colors[b.status] ?? "#ccc")\" stroke=\"white\" stroke-width=\"0.5\"><title>\(Markup.escape(b.label))</title></rect>\n"
    }
    return out + "</svg>\n"
  }
}
