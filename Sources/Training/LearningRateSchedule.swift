import Foundation

/// The learning rate as a pure function of the global update step `t` (0-based) and the epoch
/// `e` (0-based) it falls in, so that any rank, or a resumed run, computes the same rate.
public enum LearningRateSchedule: Codable, Sendable, Equatable {
  /// `eta` at every step.
  case constant(eta: Double)
  /// `eta * decay^e`: the course's per-epoch decay (e.g. `--eta 0.02 --decay 0.9`).
  case decay(eta: Double, factor: Double)
  /// Triangular cyclical learning rate (Smith 2017): with cycle `l = floor(t / 2 n_s)`,
  ///     eta_t = eta_min + (t - 2 l n_s) / n_s * (eta_max - eta_min)          for 2 l n_s <= t <= (2l+1) n_s
  ///     eta_t = eta_max - (t - (2l+1) n_s) / n_s * (eta_max - eta_min)      for (2l+1) n_s <= t <= 2(l+1) n_s
  /// so `eta_min` at t = 0, 2 n_s, 4 n_s, ... and `eta_max` at t = n_s, 3 n_s, ...
  case cyclical(etaMin: Double, etaMax: Double, stepSize: Int)

  public func rate(step t: Int, epoch e: Int) -> Double {
    switch self {
    case .constant(let eta):
      return eta
    case .decay(let eta, let factor):
      return eta * Foundation.pow(factor, Double(e))
    case .cyclical(let lo, let hi, let ns):
      let position = t % (2 * ns)
      if position <= ns {
        return lo + Double(position) / Double(ns) * (hi - lo)
      }
      return hi - Double(position - ns) / Double(ns) * (hi - lo)
    }
  }

  public var description: String {
    switch self {
    case .constant(let eta): "constant eta=\(eta)"
    case .decay(let eta, let factor): "eta=\(eta) decay=\(factor)/epoch"
    case .cyclical(let lo, let hi, let ns): "cyclical [\(lo), \(hi)] n_s=\(ns)"
    }
  }
}
