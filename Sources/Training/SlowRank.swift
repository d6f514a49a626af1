import Distributed
import Foundation

/// Per-rank compute time (a step's work on its own shard) against the time spent in
/// collectives, waiting for the others included: what names a slow rank before it stalls.
public struct SlowRank: Codable, Sendable, Equatable {
  public var rank: Int
  public var host: String
  /// Steps `firstStep...lastStep` (1-based) of the interval measured.
  public var firstStep: Int
  public var lastStep: Int
  /// This rank's compute time per step, and the median of the other ranks', in seconds.
  public var secondsPerStep: Double
  public var othersMedianSecondsPerStep: Double

  /// `secondsPerStep / othersMedianSecondsPerStep`.
  public var ratio: Double

  enum CodingKeys: String, CodingKey {
    case rank, host, ratio
    case firstStep = "first_step"
    case lastStep = "last_step"
    case secondsPerStep = "seconds_per_step"
    case othersMedianSecondsPerStep = "others_median_seconds_per_step"
  }
  public init(rank: Int, host: String, firstStep: Int, lastStep: Int, secondsPerStep: Double, othersMedianSecondsPerStep: Double) {
    self.rank = rank
    self.host = host
    self.firstStep = firstStep
    self.lastStep = lastStep
    self.secondsPerStep = secondsPerStep
    self.othersMedianSecondsPerStep = othersMedianSecondsPerStep
    ratio = secondsPerStep / max(othersMedianSecondsPerStep, 1e-12)
  }

  /// "rank 1 (host b) computed 2.10x the other ranks' median time per step (3.40 ms vs 1.62 ms,
  /// steps 201-400): the others wait for it".
  public var description: String {
    String(
      format:
        "rank %d (host %@) computed %.2fx the other ranks' median time per step (%.2f ms vs %.2f ms, steps %d-%d): the others wait for it",
      rank, host, ratio, 1e3 * secondsPerStep, 1e3 * othersMedianSecondsPerStep, firstStep, lastStep)
  }

  /// A rank is slow when its compute time per step is above `threshold` x the median of the
  /// other ranks' over the same steps (and the interval holds at least `minimumSeconds` of its
  /// compute, so that a handful of short steps does not warn).
  public static let threshold = 1.5
  public static let minimumSeconds = 0.05

  /// The slow ranks of an interval: `compute[r]` is rank r's compute seconds over `steps` steps.
  public static func find(compute: [Double], hosts: [String], firstStep: Int, lastStep: Int) -> [SlowRank] {
    let steps = Double(lastStep - firstStep + 1)
    guard compute.count > 1, steps > 0 else { return [] }
    return compute.indices.compactMap { r in
      let others = compute.enumerated().filter { $0.offset != r }.map(\.element).sorted()
      let median = others.count % 2 == 1 ? others[others.count / 2] : (others[others.count / 2 - 1] + others[others.count / 2]) / 2
      guard compute[r] >= minimumSeconds, compute[r] > threshold * median else { return nil }
      return SlowRank(
        rank: r, host: r < hosts.count ? hosts[r] : "?", firstStep: firstStep, lastStep: lastStep, secondsPerStep: compute[r] / steps,
        othersMedianSecondsPerStep: median / steps)
    }
  }

  /// Every rank's host name, in rank order (a collective: each rank broadcasts its name).
  public static func hostNames(_ communicator: any Communicator) throws -> [String] {
    let mine = Array(hostName.utf8.prefix(63))
    return try (0..<communicator.size).map { root in
      var bytes = [UInt8](repeating: 0, count: 64)
      if root == communicator.rank { bytes.replaceSubrange(0..<mine.count, with: mine) }
      try bytes.withUnsafeMutableBytes { try communicator.broadcastBytes($0, root: root) }
      return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
  }

  /// This machine's name (gethostname: no lookup).
  public static let hostName: String = {
    var name = [CChar](repeating: 0, count: 256)
    guard gethostname(&name, name.count - 1) == 0 else { return "?" }
    return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }()
}
