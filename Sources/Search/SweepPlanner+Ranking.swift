/// Ordering trained configurations: one order for the planner's decisions (which ranges to
/// narrow to, which configurations to promote) and for the sweep's final table.
extension SweepPlanner {
  /// A trained configuration and its score (the metric to maximise; nil: diverged or failed).
  struct Scored {
    var round: Int
    var key: Int
    var score: Double?
    var parameters: ParameterSet
  }

  /// Every configuration of `outcomes`, with its score; a key missing from `scores` or a NaN
  /// score counts as nil.
  static func scored(_ outcomes: [RoundOutcome]) -> [Scored] {
    outcomes.flatMap { outcome in
      outcome.round.configurations.map { c in
        let score = (outcome.scores[c.key] ?? nil).flatMap { $0.isNaN ? nil : $0 }
        return Scored(round: outcome.round.index, key: c.key, score: score, parameters: c.parameters)
      }
    }
  }

  /// Whether score `a` ranks above `b` (higher first, nil below every number); nil on a tie.
  static func scoreOrder(_ a: Double?, _ b: Double?) -> Bool? {
    switch (a, b) {
    case (let x?, let y?): x == y ? nil : x > y
    case (.some, nil): true
    case (nil, .some): false
    case (nil, nil): nil
    }
  }

  /// Best first: by score (nil last), ties by round index, then key (earlier first), so the
  /// order is total and does not depend on how the outcomes were stored.
  static func byScore(_ a: Scored, _ b: Scored) -> Bool {
    if let order = scoreOrder(a.score, b.score) { return order }
    return (a.round, a.key) < (b.round, b.key)
  }

  /// The configurations of `outcomes` best first, for the sweep's table of the top k.
  ///
  /// For successive halving (synchronous or not) every configuration is listed once, at the highest rung it reached
  /// (its entries in lower rungs, from which it was promoted, are left out), and configurations
  /// that reached a higher rung come first: a score on more epochs outranks any score on fewer.
  /// Within a rung, and for the other strategies over all rounds: by score, nil (diverged)
  /// last, ties by round index, then key.
  public static func rank(_ outcomes: [RoundOutcome], strategy: Strategy) -> [(round: Int, key: Int, score: Double?)] {
    var entries = scored(outcomes)
    if let halving = strategy.halving {
      struct Slot: Hashable {
        var round: Int
        var key: Int
      }
      var promoted = Set<Slot>()
      if halving.asynchronous {
        // Each promotion names the configuration it came from.
        for outcome in outcomes {
          for c in outcome.round.configurations {
            if let from = c.promotedFrom { promoted.insert(Slot(round: outcome.round.index - 1, key: from)) }
          }
        }
      } else {
        let rounds = Set(outcomes.map(\.round.index))
        for outcome in outcomes where rounds.contains(outcome.round.index + 1) {
          for key in promotedKeys(outcome, reduction: halving.reduction) {
            promoted.insert(Slot(round: outcome.round.index, key: key))
          }
        }
      }
      entries.removeAll { promoted.contains(Slot(round: $0.round, key: $0.key)) }
      entries.sort { $0.round != $1.round ? $0.round > $1.round : byScore($0, $1) }
    } else {
      entries.sort(by: byScore)
    }
    return entries.map { (round: $0.round, key: $0.key, score: $0.score) }
  }
}
