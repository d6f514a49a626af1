import LinearAlgebra

/// Per-feature standardization of pixels scaled to [0, 1]: `x' = (x / 255 - mean[j]) * invStd[j]`.
///
/// `mean` and `std` (`[features]`, Double) are computed over the TRAINING split only (after
/// the validation samples are carved off and `--train-limit` is applied), with the population
/// (biased, divide-by-n) standard deviation. Sums of pixel values and of their squares are
/// accumulated exactly in `UInt64` over unsafe pointers (the variance is `n*Q - S^2` in exact
/// integers when it fits, Double otherwise) and converted to `Double` once, so the result does
/// not depend on summation order or on how the set was sharded.
///
/// Constant features: where `std < FeatureNormalization.constantThreshold` (1e-6) — e.g. a
/// border pixel that is 0 in every training image — `invStd` is 1 instead of `1/std`, so that
/// feature is only centered, never divided by (nearly) zero.
public struct FeatureNormalization: Sendable, Codable, Equatable {
  /// `[features]`, mean of `pixel / 255`.
  public let mean: [Double]
  /// `[features]`, population standard deviation of `pixel / 255`.
  public let std: [Double]

  /// Standard deviations below this count as zero: the feature gets `invStd == 1`.
  public static let constantThreshold = 1e-6

  /// Features normalized.
  public var features: Int { mean.count }

  /// From saved values (e.g. a model file). `mean` and `std` must have the same, positive
  /// length and every `std` must be finite and `>= 0`; every `mean` must be finite.
  public init(mean: [Double], std: [Double]) throws {
    guard !mean.isEmpty, mean.count == std.count else {
      throw DatasetError(
        .invalidOption, "normalization has \(mean.count) means and \(std.count) standard deviations, expected the same positive count")
    }
    if let j = mean.firstIndex(where: { !$0.isFinite }) {
      throw DatasetError(.invalidOption, "normalization mean[\(j)] is \(mean[j]), expected a finite number")
    }
    if let j = std.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
      throw DatasetError(.invalidOption, "normalization std[\(j)] is \(std[j]), expected a finite number >= 0")
    }
    self.mean = mean
    self.std = std
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    try self.init(mean: c.decode([Double].self, forKey: .mean), std: c.decode([Double].self, forKey: .std))
  }

  private init(unchecked mean: [Double], std: [Double]) {
    self.mean = mean
    self.std = std
  }

  /// Mean and population standard deviation of `pixel / 255` per feature over all samples of
  /// `set` (one pass over the bytes). An empty set gives mean 0 and std 0 for every feature.
  public init(computingOver set: ImageSet) {
    let f = set.features
    let n = set.count
    var sums = [UInt64](repeating: 0, count: f)
    var squares = [UInt64](repeating: 0, count: f)
    set.pixels.withUnsafeBufferPointer { px in
      sums.withUnsafeMutableBufferPointer { sb in
        squares.withUnsafeMutableBufferPointer { qb in
          guard let p = px.baseAddress, let s = sb.baseAddress, let q = qb.baseAddress else { return }
          for i in 0..<n {
            let row = p + i * f
            for j in 0..<f {
              let v = UInt64(row[j])
              s[j] &+= v
              q[j] &+= v &* v
            }
          }
        }
      }
    }
    var mean = [Double](repeating: 0, count: f)
    var std = [Double](repeating: 0, count: f)
    if n > 0 {
      let dn = Double(n)
      for j in 0..<f {
        let m = Double(sums[j]) / dn  // in pixel units
        // n^2 * variance = n * Q - S^2, exact in integers when it fits (n below ~1.6e7 samples).
        let (nq, o1) = UInt64(n).multipliedReportingOverflow(by: squares[j])
        let (ss, o2) = sums[j].multipliedReportingOverflow(by: sums[j])
        let variance: Double
        if !o1 && !o2 && nq >= ss {
          variance = Double(nq - ss) / (dn * dn)
        } else {
          variance = max(0, Double(squares[j]) / dn - m * m)
        }
        mean[j] = m / 255
        std[j] = variance.squareRoot() / 255
      }
    }
    self.init(unchecked: mean, std: std)
  }

  /// `1 / std[j]`, or 1 where `std[j] < constantThreshold` (constant feature: centered only).
  public var invStd: [Double] {
    std.map { $0 < Self.constantThreshold ? 1 : 1 / $0 }
  }

  /// `mean` converted to `T`, `[features]`.
  public func mean<T: Real>(as: T.Type) -> [T] { mean.map { T($0) } }

  /// `invStd` converted to `T`, `[features]` (constant-feature rule included).
  public func invStd<T: Real>(as: T.Type) -> [T] { invStd.map { T($0) } }
}
