/// Asynchronous successive halving's promotion rule (Li et al., "A System for Massively Parallel
/// Hyperparameter Tuning", MLSys 2020, Algorithm 2): a configuration is promoted from rung k to
/// rung k + 1 as soon as it is among the top `completed / reduction` (rounded down) of the
/// configurations completed at rung k, so no group waits for a rung to fill.
///
/// dptrain decides promotions when results arrive, not when a group asks: every decision is
/// stored at once, and a resumed sweep continues from the stored decisions. Because a rung's
/// "completed so far" depends on which trials finished first, ASHA's choices depend on the
/// completion order (unlike the synchronous strategies, a pure function of the results).
public enum AsyncHalving {
  /// A promotion: the configuration `key` of rung `rung` trains again on rung `rung + 1`.
  public struct Promotion: Sendable, Equatable {
    public var rung: Int
    public var key: Int
    public init(rung: Int, key: Int) {
      self.rung = rung
      self.key = key
    }
  }

  /// The next promotion, from the highest rung below the top down (ASHA prefers the deepest):
  /// the best not yet promoted configuration of rung k with a finite score among the top
  /// `completed_k / reduction` of rung k's completed configurations (score descending, ties by
  /// key), or nil when no rung has one.
  ///
  /// - Parameter rungs: rung r at position r; its `scores` hold the completed configurations
  ///   only (nil: every repeat diverged or failed, ranked last and never promoted); a rung's
  ///   configurations name the configuration they were promoted from (`promotedFrom`).
  public static func nextPromotion(_ rungs: [RoundOutcome], reduction: Int) -> Promotion? {
    precondition(reduction >= 2, "reduction must be >= 2, got \(reduction)")
    guard rungs.count >= 2 else { return nil }
    for k in stride(from: rungs.count - 2, through: 0, by: -1) {
      let promoted = Set(rungs[k + 1].round.configurations.compactMap(\.promotedFrom))
      var completed = rungs[k]
      completed.round.configurations.removeAll { completed.scores[$0.key] == nil }
      let ranked = SweepPlanner.scored([completed]).sorted(by: SweepPlanner.byScore)
      let top = ranked.prefix(ranked.count / reduction)
      if let next = top.first(where: { $0.score != nil && !promoted.contains($0.key) }) {
        return Promotion(rung: k, key: next.key)
      }
    }
    return nil
  }
}
