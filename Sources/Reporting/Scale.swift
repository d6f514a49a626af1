import Foundation

/// A map from data values to pixels along one axis: linear, or base-10 logarithmic (values
/// must then be > 0; non-positive ones are left out of the domain).
public struct Scale: Sendable, Equatable {
  public enum Kind: String, Sendable { case linear, log }
  public var kind: Kind
  public var domain: ClosedRange<Double>
  public var range: ClosedRange<Double>
  /// Pixels go the other way (a y axis: larger values higher up).
  public var flipped: Bool

  public init(kind: Kind, domain: ClosedRange<Double>, range: ClosedRange<Double>, flipped: Bool = false) {
    self.kind = kind
    self.domain = domain
    self.range = range
    self.flipped = flipped
  }

  /// A domain covering `values` (finite ones; positive ones for log), padded so that a
  /// constant series still gets a visible span, with "nice" ends for linear scales.
  public static func fitting(_ values: [Double], kind: Kind, range: ClosedRange<Double>, flipped: Bool = false, includeZero: Bool = false)
    -> Scale
  {
    let usable = values.filter { $0.isFinite && (kind == .linear || $0 > 0) }
    var lo = usable.min() ?? (kind == .log ? 0.1 : 0)
    var hi = usable.max() ?? (kind == .log ? 1 : 1)
    if includeZero && kind == .linear {
      lo = min(lo, 0)
      hi = max(hi, 0)
    }
    switch kind {
    case .linear:
      if hi - lo < 1e-12 * max(1, abs(hi)) {
        lo -= max(0.5, abs(lo) * 0.1)
        hi += max(0.5, abs(hi) * 0.1)
      }
      let step = Ticks.niceStep((hi - lo) / 5)
      lo = (lo / step).rounded(.down) * step
      hi = (hi / step).rounded(.up) * step
    case .log:
      if hi / lo < 1.0001 {
        lo /= 2
        hi *= 2
      }
      lo = pow(10, log10(lo).rounded(.down))
      hi = pow(10, log10(hi).rounded(.up))
    }
    return Scale(kind: kind, domain: lo...hi, range: range, flipped: flipped)
  }

  func transformed(_ v: Double) -> Double { kind == .log ? log10(v) : v }

  /// The pixel of `value` (clamped a little outside the range for values off the domain).
  public func callAsFunction(_ value: Double) -> Double {
    let a = transformed(domain.lowerBound)
    let b = transformed(domain.upperBound)
    var t = (transformed(value) - a) / (b - a)
    if !t.isFinite { t = 0 }
    t = min(max(t, -0.05), 1.05)
    if flipped { t = 1 - t }
    return range.lowerBound + t * (range.upperBound - range.lowerBound)
  }

  /// Tick values inside the domain.
  public var ticks: [Double] {
    switch kind {
    case .linear: Ticks.linear(domain)
    case .log: Ticks.log(domain)
    }
  }
}

/// Tick positions and labels.
public enum Ticks {
  /// 1, 2 or 5 times a power of ten, at least `rough`.
  public static func niceStep(_ rough: Double) -> Double {
    guard rough > 0, rough.isFinite else { return 1 }
    let power = pow(10, log10(rough).rounded(.down))
    let f = rough / power
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power
  }

  /// About 5 ticks at multiples of a nice step.
  public static func linear(_ domain: ClosedRange<Double>) -> [Double] {
    let step = niceStep((domain.upperBound - domain.lowerBound) / 5)
    var v = (domain.lowerBound / step).rounded(.up) * step
    var out: [Double] = []
    while v <= domain.upperBound + step * 1e-9 && out.count < 50 {
      out.append(abs(v) < step * 1e-9 ? 0 : v)
      v += step
    }
    return out
  }

  /// Powers of ten; with fewer than 3 decades, also 2x and 5x.
  public static func log(_ domain: ClosedRange<Double>) -> [Double] {
    let lo = Int(log10(domain.lowerBound).rounded(.down))
    let hi = Int(log10(domain.upperBound).rounded(.up))
    let decades = hi - lo
    let stride = max(1, decades / 8)
    var out: [Double] = []
    for e in Swift.stride(from: lo, through: hi, by: stride) {
      for m in decades < 3 ? [1.0, 2, 5] : [1.0] {
        let v = m * pow(10, Double(e))
        if v >= domain.lowerBound * (1 - 1e-9) && v <= domain.upperBound * (1 + 1e-9) { out.append(v) }
      }
    }
    return out
  }

  /// A short label: `0.25`, `1e-05`, `10`, `11000` (whole numbers below 10^7 in full).
  public static func label(_ v: Double) -> String {
    if v == 0 { return "0" }
    let a = abs(v)
    if a >= 1e4 && a < 1e7 && v == v.rounded() { return String(format: "%.0f", v) }
    if a >= 1e-3 && a < 1e4 {
      var s = String(format: "%.4g", v)
      if s.contains("e") { s = String(format: "%g", v) }
      return s
    }
    return String(format: "%.0e", v)
  }
}
