import Foundation

/// Markup helpers. Reports are XHTML-compatible (every element closed, only XML entities) so
/// that an XML parser can check them, and readable by any browser.
public enum Markup {
  /// Text or attribute value with `& < > " '` escaped.
  public static func escape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(c)
      }
    }
    return out
  }

  /// The opening of every chart: an `<svg>` element marked `data-chart` (its id), `data-series`
  /// and `data-points` (what was drawn, for tests and scripts), its `<title>`, and the visible
  /// title at (`titleX`, 16). Close it with `</svg>`.
  static func chartOpening(id: String, title: String, series: Int, points: String, width: Double, height: Double, titleX: Double) -> String
  {
    """
    <svg xmlns="http://www.w3.org/2000/svg" class="chart" id="\(escape(id))" data-chart="\(escape(id))" \
    data-series="\(series)" data-points="\(points)" width="\(n(width))" height="\(n(height))" \
    viewBox="0 0 \(n(width)) \(n(height))" role="img">
    <title>\(escape(title))</title>
    <text x="\(n(titleX))" y="16" class="chart-title">\(escape(title))</text>

    """
  }

  /// A coordinate with at most 2 decimals.
  static func n(_ x: Double) -> String {
    guard x.isFinite else { return "0" }
    let r = (x * 100).rounded() / 100
    return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
  }
}

/// The colours of series, in order (colour-blind-safe, after Okabe & Ito 2008).
public enum Palette {
  public static let series = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
  public static func color(_ i: Int) -> String { series[i % series.count] }

  /// A sequential colour for t in [0, 1] (dark blue -> yellow, viridis-like).
  public static func sequential(_ t: Double) -> String {
    let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    let x = min(max(t.isFinite ? t : 0, 0), 1) * Double(stops.count - 1)
    let i = min(Int(x), stops.count - 2)
    let f = x - Double(i)
    let (a, b) = (stops[i], stops[i + 1])
    func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
    return String(format: "#%02X%02X%02X", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
  }
}
