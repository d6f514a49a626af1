import Foundation

/// How much of the sweep's wall time each rank spent inside trials, from the trial records
/// (their ranks, start and finish): the measure of a sweep in which no rank should wait.
public struct BusyShares: Sendable, Equatable {
  /// From the first trial's start to the last one's finish (or `now` while trials run).
  public var wallSeconds: Double
  /// Each world rank's seconds inside trials, rank 0 first.
  public var busySeconds: [Double]
  /// Rank r's busy seconds over the wall time.
  public var shares: [Double] { busySeconds.map { wallSeconds > 0 ? $0 / wallSeconds : 0 } }
  /// The ranks' busy seconds over theirs: the share of the cluster's rank-time that trained.
  public var sweep: Double { wallSeconds > 0 ? busySeconds.reduce(0, +) / (wallSeconds * Double(busySeconds.count)) : 0 }

  /// `busy: rank 0 96.1%, rank 1 92.3% of 22.9 s; the sweep 94.2%`.
  public var description: String {
    let ranks = shares.enumerated().map { String(format: "rank %d %.1f%%", $0.offset, 100 * $0.element) }.joined(separator: ", ")
    return String(format: "busy: %@ of %.1f s; the sweep %.1f%%", ranks, wallSeconds, 100 * sweep)
  }
}

extension BusyShares {
  /// The shares of `trials` over `ranks` world ranks, nil before any trial started. A trial still
  /// running counts until `now`.
  public init?(trials: [TrialRecord], ranks: Int, now: Double = Date().timeIntervalSince1970) {
    guard let first = trials.compactMap(\.startedAt).min() else { return nil }
    var busy = [Double](repeating: 0, count: max(1, ranks))
    var last = first
    for trial in trials {
      guard let start = trial.startedAt, let ranks = trial.ranks else { continue }
      let end = trial.finishedAt ?? (trial.status == .running ? now : start)
      last = max(last, end)
      for r in ranks.split(separator: ",").compactMap({ Int($0) }) where r < busy.count { busy[r] += end - start }
    }
    self.init(wallSeconds: last - first, busySeconds: busy)
  }
}

extension RankTime {
  /// `time per rank: rank 0 38.1 s in trials (2.3 s of them in collectives), 0.2 s
  /// coordinating, 0.9 s idle; rank 1 ...`: the collectives are where a rank waited for the
  /// other ranks of its trials' groups (a slow rank makes the others' grow).
  public static func describe(_ times: [RankTime]) -> String {
    "time per rank: "
      + times.enumerated().map {
        String(
          format: "rank %d %.1f s in trials (%.1f s of them in collectives), %.2f s coordinating, %.2f s idle", $0.offset,
          $0.element.trials, $0.element.collectives, $0.element.coordination, $0.element.idle)
      }.joined(separator: "; ")
  }
}

extension SweepSummary {
  /// The ranks' busy shares over the sweep's ranks (the header's).
  public func busy(now: Double = Date().timeIntervalSince1970) -> BusyShares? {
    BusyShares(trials: trials, ranks: header.ranks, now: now)
  }
}
