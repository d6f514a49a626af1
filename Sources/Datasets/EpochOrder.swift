import LinearAlgebra

/// The order in which an epoch visits the training samples, and how it is cut into global
/// batches and per-rank shards. Everything is a pure function of `(seed, epoch)`, so any rank
/// — or a run resumed from a checkpoint — recomputes the same order without communication.
///
/// - Epochs are numbered from 0. With shuffling, the order of epoch `e` is
///   `SeededGenerator(seed: seed, stream: UInt64(e) + 1).permutation(count)` (stream 0 is left
///   for other uses such as weight initialization); without (`--no-shuffle`) it is `0..<count`.
/// - Global batch `b` of size `B` covers `order[b*B ..< min((b+1)*B, count)]`, and an epoch has
///   `ceil(count / B)` batches: unlike the course code's `n / B`, the partial last batch is
///   KEPT (it is smaller than `B`), so every sample is visited once per epoch.
/// - A global batch is split over `size` ranks into contiguous shards (`shard(of:rank:size:)`).
public struct EpochOrder: Sendable, Equatable, Codable {
  /// Samples in the training set.
  public let count: Int
  public let seed: UInt64
  /// False for `--no-shuffle`: every epoch visits `0..<count` in order.
  public let shuffle: Bool

  public init(count: Int, seed: UInt64, shuffle: Bool = true) {
    precondition(count >= 0, "sample count must be >= 0, got \(count)")
    self.count = count
    self.seed = seed
    self.shuffle = shuffle
  }

  /// The sample order of epoch `epoch` (0-based): a permutation of `0..<count`, `[count]`.
  public func order(epoch: Int) -> [Int] {
    Self.order(count: count, seed: seed, epoch: epoch, shuffle: shuffle)
  }

  /// The sample order of epoch `epoch` (0-based) for `seed`: a permutation of `0..<count`.
  public static func order(count: Int, seed: UInt64, epoch: Int, shuffle: Bool = true) -> [Int] {
    guard shuffle else { return Array(0..<count) }
    var g = SeededGenerator(seed: seed, stream: UInt64(truncatingIfNeeded: epoch) &+ 1)
    return g.permutation(count)
  }

  /// Batches per epoch, `ceil(count / batchSize)` (the last one may be smaller).
  public func batchCount(batchSize: Int) -> Int {
    Self.batchCount(count: count, batchSize: batchSize)
  }

  /// `ceil(count / batchSize)`; `batchSize` must be positive.
  public static func batchCount(count: Int, batchSize: Int) -> Int {
    precondition(batchSize > 0, "batch size must be > 0, got \(batchSize)")
    return (count + batchSize - 1) / batchSize
  }

  /// Positions in the epoch order covered by global batch `batch`:
  /// `batch*batchSize ..< min((batch+1)*batchSize, count)`.
  public func batchRange(_ batch: Int, batchSize: Int) -> Range<Int> {
    Self.batchRange(batch, batchSize: batchSize, count: count)
  }

  /// `batch*batchSize ..< min((batch+1)*batchSize, count)`; `batch` must be in
  /// `0..<batchCount(count:batchSize:)`.
  public static func batchRange(_ batch: Int, batchSize: Int, count: Int) -> Range<Int> {
    let n = batchCount(count: count, batchSize: batchSize)
    precondition(batch >= 0 && batch < n, "batch \(batch) out of 0..<\(n)")
    let start = batch * batchSize
    return start..<min(start + batchSize, count)
  }

  /// Rank `rank`'s contiguous part of `range` when it is split over `size` ranks: the first
  /// `range.count % size` shards get one extra element, so lengths differ by at most one and
  /// the shards of ranks `0..<size` partition `range` in order. A shard may be empty when
  /// `range.count < size`.
  public static func shard(of range: Range<Int>, rank: Int, size: Int) -> Range<Int> {
    precondition(size > 0, "size must be > 0, got \(size)")
    precondition(rank >= 0 && rank < size, "rank \(rank) out of 0..<\(size)")
    let n = range.count
    let base = n / size
    let extra = n % size
    let start = range.lowerBound + rank * base + min(rank, extra)
    return start..<(start + base + (rank < extra ? 1 : 0))
  }
}
