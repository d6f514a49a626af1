import Foundation

/// Counts of values in equal-width bins over [min, max].
public struct Histogram: Codable, Sendable, Equatable {
  public var name: String
  public var count: Int
  public var min: Double
  public var max: Double
  public var mean: Double
  public var std: Double
  /// `bins + 1` edges from `min` to `max`.
  public var edges: [Double]
  public var counts: [Int]

  /// The histogram of the finite `values` in `bins` bins (a constant set gets one bin of
  /// width 1 around its value).
  public init(name: String, values: [Double], bins: Int = 40) {
    precondition(bins >= 1, "bins must be >= 1")
    let finite = values.filter(\.isFinite)
    self.name = name
    count = finite.count
    var lo = finite.min() ?? 0
    var hi = finite.max() ?? 0
    mean = finite.isEmpty ? 0 : finite.reduce(0, +) / Double(finite.count)
    let m = mean
    std = finite.isEmpty ? 0 : (finite.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(finite.count)).squareRoot()
    self.min = lo
    self.max = hi
    if hi <= lo {
      lo -= 0.5
      hi += 0.5
    }
    let width = (hi - lo) / Double(bins)
    edges = (0...bins).map { lo + Double($0) * width }
    edges[bins] = hi
    var counts = [Int](repeating: 0, count: bins)
    for v in finite { counts[Swift.min(bins - 1, Swift.max(0, Int((v - lo) / width)))] += 1 }
    self.counts = counts
  }

  /// A bar chart (`data-chart`, one series, one point per bin), counts on a linear or log axis.
  public func svg(id: String, title: String, logCounts: Bool = false, width: Double = 320, height: Double = 220) -> String {
    let m = LineChart.margin
    let x = Scale(kind: .linear, domain: edges.first!...edges.last!, range: m.left...(width - m.right))
    let top = Double(counts.max() ?? 1)
    let y =
      logCounts
      ? Scale.fitting(counts.map(Double.init).filter { $0 > 0 } + [1], kind: .log, range: m.top...(height - m.bottom), flipped: true)
      : Scale(kind: .linear, domain: 0...Swift.max(1, top * 1.05), range: m.top...(height - m.bottom), flipped: true)
    var out = Markup.chartOpening(
      id: id, title: title, series: 1, points: "\(counts.count)", width: width, height: height, titleX: m.left)
    out += LineChart.axes(x: x, y: y, width: width, height: height, xLabel: "value", yLabel: logCounts ? "count (log)" : "count")
    let base = y(logCounts ? y.domain.lowerBound : 0)
    for (i, c) in counts.enumerated() where c > 0 {
      let x0 = x(edges[i])
      let x1 = x(edges[i + 1])
      let yy = y(Double(c))
      out +=
        "<rect class=\"bar\" x=\"\(Markup.n(x0))\" y=\"\(Markup.n(yy))\" width=\"\(Markup.n(Swift.max(0.5, x1 - x0 - 0.5)))\" height=\"\(Markup.n(Swift.max(0, base - yy)))\" fill=\"\(Palette.color(0))\"/>\n"
    }
    return out + "</svg>\n"
  }
}
