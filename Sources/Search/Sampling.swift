import Foundation
import LinearAlgebra

/// Random draws from the search domains. Every draw consumes the generator in a fixed way, so a
/// round is a pure function of its generator's seed and stream.
extension Domain {
  /// One value, from `u = g.nextUnit()` in [0, 1) or `g.nextBelow(n)`:
  /// - logUniform: `exp(log low + u (log high - log low))`, clamped to [low, high] against the
  ///   rounding of `exp(log x)`; a `.number`.
  /// - uniform: `low + u (high - low)`; a `.number`.
  /// - intUniform: `low + nextBelow(high - low + 1)`; an `.integer`.
  /// - choice / grid: `values[nextBelow(count)]`, as given.
  ///
  /// A range narrowed to a point (`low == high`) returns that point.
  func sample(_ g: inout SeededGenerator) -> ParameterValue {
    switch self {
    case .logUniform(let low, let high):
      let a = log(low)
      let b = log(high)
      let x = exp(a + g.nextUnit() * (b - a))
      return .number(Swift.min(Swift.max(x, low), high))
    case .uniform(let low, let high):
      return .number(low + g.nextUnit() * (high - low))
    case .intUniform(let low, let high):
      return .integer(low + g.nextBelow(high - low + 1))
    case .choice(let values), .grid(let values):
      return values[g.nextBelow(values.count)]
    }
  }
}

extension SweepPlanner {
  /// Added to the round index to form the sampling stream, so the search's draws never share a
  /// stream with a trial's own generators (seed `spec.seed + r`; stream `epoch + 1` for the
  /// batch order, `0x1417` for the initial weights). The bytes spell "SWEEP".
  public static let samplingStreamBase: UInt64 = 0x5357_4545_5000_0000

  /// The generator of round `round`: `SeededGenerator(seed: spec.seed,
  /// stream: samplingStreamBase + round)`.
  public static func generator(seed: UInt64, round: Int) -> SeededGenerator {
    precondition(round >= 0, "round index must be non-negative, got \(round)")
    return SeededGenerator(seed: seed, stream: samplingStreamBase &+ UInt64(round))
  }

  /// `count` configurations drawn one after another, each drawing its parameters in the given
  /// (file) order.
  static func sample(
    _ parameters: [SearchParameter], count: Int, generator g: inout SeededGenerator
  ) -> [ParameterSet] {
    (0..<count).map { _ in
      var set = ParameterSet()
      for p in parameters { set[p.name] = p.domain.sample(&g) }
      return set
    }
  }
}
