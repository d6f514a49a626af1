import Foundation

/// Coarse-to-fine random search (the DD2424 assignments' recipe for eta and lambda): sample the
/// whole range, then sample again around the best configurations found so far.
extension SweepPlanner {
  /// The domains the next coarse-to-fine stage samples, in file order. For the other
  /// strategies, and before any stage has finished: the spec's own domains.
  ///
  /// All configurations of all `completed` stages are ranked (`byScore`: score descending,
  /// ties by round, then key); the best `topK` with a finite score define the new ranges.
  /// Diverged configurations never do (a diverged corner is not where to look); with no finite
  /// score at all the ranges stay as they are. For each range parameter with top-k values
  /// `v_min <= v_max`:
  ///
  ///     span  = v_max - v_min                 (log v_max - log v_min for log ranges)
  ///     width = margin * span                 (margin * the spec range's span if span == 0,
  ///                                            so a range never collapses to a point)
  ///     new   = [v_min - width, v_max + width] ∩ the spec's range
  ///
  /// on the log scale for log ranges, rounded outwards (floor, ceil) for integer ranges.
  /// Choice and grid parameters keep all their values.
  public func ranges(after completed: [RoundOutcome]) -> [SearchParameter] {
    guard case .coarseToFine(_, _, let topK, let margin) = spec.strategy, !completed.isEmpty else {
      return spec.parameters
    }
    let best = Self.scored(completed).filter { $0.score != nil }.sorted(by: Self.byScore).prefix(topK)
    guard !best.isEmpty else { return spec.parameters }
    return spec.parameters.map { p in
      let values = best.compactMap { $0.parameters[p.name]?.doubleValue }
      return SearchParameter(name: p.name, domain: p.domain.narrowed(around: values, margin: margin))
    }
  }
}

extension Domain {
  /// This range narrowed to `values`' span widened by `margin` (see `SweepPlanner.ranges`);
  /// lists, and any domain when `values` is empty, are returned unchanged.
  func narrowed(around values: [Double], margin: Double) -> Domain {
    guard let lo = values.min(), let hi = values.max() else { return self }
    switch self {
    case .logUniform(let low, let high):
      let a = log(lo)
      let b = log(hi)
      let width = margin * (b > a ? b - a : log(high) - log(low))
      return .logUniform(low: Swift.max(low, exp(a - width)), high: Swift.min(high, exp(b + width)))
    case .uniform(let low, let high):
      let width = margin * (hi > lo ? hi - lo : high - low)
      return .uniform(low: Swift.max(low, lo - width), high: Swift.min(high, hi + width))
    case .intUniform(let low, let high):
      let width = margin * (hi > lo ? hi - lo : Double(high) - Double(low))
      let a = (lo - width).rounded(.down)
      let b = (hi + width).rounded(.up)
      // Compare as Doubles first: Int(b) would trap beyond Int.max.
      return .intUniform(low: a <= Double(low) ? low : Int(a), high: b >= Double(high) ? high : Int(b))
    case .choice, .grid:
      return self
    }
  }
}
