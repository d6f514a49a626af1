import Foundation

/// A named sequence of (x, y) points.
public struct Series: Sendable, Equatable {
  public var name: String
  public var points: [(x: Double, y: Double)]
  public var dashed: Bool
  public var color: String?

  public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false, color: String? = nil) {
    self.name = name
    self.points = points
    self.dashed = dashed
    self.color = color
  }

  public static func == (a: Series, b: Series) -> Bool {
    a.name == b.name && a.dashed == b.dashed && a.color == b.color && a.points.count == b.points.count
      && zip(a.points, b.points).allSatisfy { $0.x == $1.x && $0.y == $1.y }
  }

  /// At most `limit` points that keep the shape: the series is cut into `limit / 2` runs of
  /// consecutive points and each run keeps its lowest and highest point, in x order (so peaks
  /// and the overall range survive; 10,000 points draw as a few hundred).
  public func thinned(to limit: Int) -> Series {
    guard points.count > limit, limit >= 4 else { return self }
    let buckets = limit / 2
    var kept: [(x: Double, y: Double)] = []
    kept.reserveCapacity(limit)
    for b in 0..<buckets {
      let lo = b * points.count / buckets
      let hi = (b + 1) * points.count / buckets
      guard lo < hi else { continue }
      let run = points[lo..<hi]
      let minI = run.indices.min { run[$0].y < run[$1].y }!
      let maxI = run.indices.max { run[$0].y < run[$1].y }!
      for i in Set([minI, maxI]).sorted() { kept.append(points[i]) }
    }
    var s = self
    s.points = kept
    return s
  }
}

/// A line chart as an `<svg>` element: axes with ticks and labels, one polyline per series, a
/// legend. Marked `data-chart`, `data-series` and `data-points` (drawn points per series) so
/// tests and scripts can check what was drawn.
public struct LineChart: Sendable {
  public var id: String
  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var yScale: Scale.Kind
  public var series: [Series]
  public var width: Double = 640
  public var height: Double = 300
  /// Points drawn per series at most (`Series.thinned`).
  public var maxPoints = 800
  /// Fixed x domain (charts stacked over one x axis share it).
  public var xDomain: ClosedRange<Double>?
  public var yDomain: ClosedRange<Double>?
  /// Draw a dot at every point (few points).
  public var markers: Bool?

  public init(id: String, title: String, xLabel: String, yLabel: String, yScale: Scale.Kind = .linear, series: [Series]) {
    self.id = id
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.yScale = yScale
    self.series = series
  }

  static let margin = (left: 64.0, right: 16.0, top: 28.0, bottom: 42.0)

  public func svg() -> String {
    let m = Self.margin
    let drawn = series.map { $0.thinned(to: maxPoints) }
    let xs = drawn.flatMap { $0.points.map(\.x) }
    let ys = drawn.flatMap { $0.points.map(\.y) }
    let x =
      xDomain.map { Scale(kind: .linear, domain: $0, range: m.left...(width - m.right)) }
      ?? Scale.fitting(xs, kind: .linear, range: m.left...(width - m.right))
    let y =
      yDomain.map { Scale(kind: yScale, domain: $0, range: m.top...(height - m.bottom), flipped: true) }
      ?? Scale.fitting(ys, kind: yScale, range: m.top...(height - m.bottom), flipped: true)
    var out = Markup.chartOpening(
      id: id, title: title, series: drawn.count, points: drawn.map { String($0.points.count) }.joined(separator: ","), width: width,
      height: height, titleX: m.left)
    out += Self.axes(x: x, y: y, width: width, height: height, xLabel: xLabel, yLabel: yLabel)
    let showMarkers = markers ?? (drawn.map(\.points.count).max() ?? 0 <= 40)
    for (i, s) in drawn.enumerated() {
      let color = s.color ?? Palette.color(i)
      let usable = s.points.filter { $0.x.isFinite && $0.y.isFinite && (yScale == .linear || $0.y > 0) }
      let path = usable.map { "\(Markup.n(x($0.x))),\(Markup.n(y($0.y)))" }.joined(separator: " ")
      out +=
        "<polyline class=\"series\" data-name=\"\(Markup.escape(s.name))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"\(s.dashed ? " stroke-dasharray=\"6 3\"" : "") points=\"\(path)\"/>\n"
      if showMarkers {
        for p in usable { out += "<circle cx=\"\(Markup.n(x(p.x)))\" cy=\"\(Markup.n(y(p.y)))\" r=\"2.5\" fill=\"\(color)\"/>\n" }
      }
    }
    out += Self.legend(
      drawn.enumerated().map { ($0.element.name, $0.element.color ?? Palette.color($0.offset), $0.element.dashed) }, right: width - m.right,
      top: m.top)
    out += "</svg>\n"
    return out
  }

  /// Frame, grid lines, ticks and axis labels.
  static func axes(x: Scale, y: Scale, width: Double, height: Double, xLabel: String, yLabel: String) -> String {
    let m = margin
    var out = "<g class=\"axes\" font-size=\"11\" fill=\"#333\">\n"
    out +=
      "<rect x=\"\(Markup.n(m.left))\" y=\"\(Markup.n(m.top))\" width=\"\(Markup.n(width - m.left - m.right))\" height=\"\(Markup.n(height - m.top - m.bottom))\" fill=\"none\" stroke=\"#999\"/>\n"
    for t in x.ticks {
      let px = Markup.n(x(t))
      out += "<line x1=\"\(px)\" y1=\"\(Markup.n(m.top))\" x2=\"\(px)\" y2=\"\(Markup.n(height - m.bottom))\" stroke=\"#eee\"/>"
      out += "<text x=\"\(px)\" y=\"\(Markup.n(height - m.bottom + 14))\" text-anchor=\"middle\" class=\"tick\">\(Ticks.label(t))</text>\n"
    }
    for t in y.ticks {
      let py = Markup.n(y(t))
      out += "<line x1=\"\(Markup.n(m.left))\" y1=\"\(py)\" x2=\"\(Markup.n(width - m.right))\" y2=\"\(py)\" stroke=\"#eee\"/>"
      out += "<text x=\"\(Markup.n(m.left - 5))\" y=\"\(Markup.n(y(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(Ticks.label(t))</text>\n"
    }
    out +=
      "<text x=\"\(Markup.n((m.left + width - m.right) / 2))\" y=\"\(Markup.n(height - 8))\" text-anchor=\"middle\" class=\"axis-label\">\(Markup.escape(xLabel))</text>\n"
    let cy = (m.top + height - m.bottom) / 2
    out +=
      "<text x=\"14\" y=\"\(Markup.n(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(Markup.n(cy)))\" class=\"axis-label\">\(Markup.escape(yLabel))</text>\n"
    out += "</g>\n"
    return out
  }

  /// Legend entries stacked at the top right, inside the plot.
  static func legend(_ entries: [(name: String, color: String, dashed: Bool)], right: Double, top: Double) -> String {
    guard !entries.isEmpty else { return "" }
    let w = 12 + 7 * Double(entries.map(\.name.count).max() ?? 0) + 30
    var out =
      "<g class=\"legend\" font-size=\"11\">\n<rect x=\"\(Markup.n(right - w - 4))\" y=\"\(Markup.n(top + 4))\" width=\"\(Markup.n(w))\" height=\"\(Markup.n(Double(entries.count) * 16 + 6))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n"
    for (i, e) in entries.enumerated() {
      let yy = top + 16 + Double(i) * 16
      out +=
        "<line x1=\"\(Markup.n(right - w + 2))\" y1=\"\(Markup.n(yy - 4))\" x2=\"\(Markup.n(right - w + 24))\" y2=\"\(Markup.n(yy - 4))\" stroke=\"\(e.color)\" stroke-width=\"2\"\(e.dashed ? " stroke-dasharray=\"6 3\"" : "")/>"
      out += "<text x=\"\(Markup.n(right - w + 30))\" y=\"\(Markup.n(yy))\">\(Markup.escape(e.name))</text>\n"
    }
    return out + "</g>\n"
  }
}
