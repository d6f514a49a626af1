import Foundation
import LinearAlgebra

/// The collectives training needs, after Horovod's controller and MPI: every rank calls the
/// same collectives in the same order with buffers of the same length. Implementations: a single
/// process (`SingleProcessCommunicator`), threads of one process (`InProcessGroup`, for tests),
/// and Open MPI (`MPICommunicator` in DistributedMPI). Two capabilities come apart from it:
/// point-to-point messages (`MessagePassing`, the sweep's coordination) and reduction in shared
/// memory (`SharedMemoryReduction`, the trainer's fast path where ranks share a node).
///
/// Determinism contract: `allReduceSum` leaves the SAME bits on every rank, and for a given
/// size and buffer the same bits on every run; that keeps replicas bitwise identical.
public protocol Communicator: AnyObject {
  /// This process's rank in `0..<size`.
  var rank: Int { get }
  /// Number of ranks.
  var size: Int { get }
  /// Replaces `buffer` by the element-wise sum over all ranks.
  func allReduceSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws
  /// Replaces `buffer` on every rank by `root`'s.
  func broadcast<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws
  /// Replaces `bytes` on every rank by `root`'s (same length everywhere).
  func broadcastBytes(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
  /// Reduce-scatter: afterwards `buffer[segment(count: buffer.count, rank: rank)]` holds the
  /// element-wise sum over all ranks (summed in rank order, as `allReduceSum`); the rest of
  /// `buffer` is unspecified.
  func reduceScatterSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws
  /// All-gather: afterwards every rank's `buffer` holds, in each rank r's segment, rank r's values.
  func allGather<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws
  /// Returns when every rank has called it.
  func barrier() throws
  /// Sub-communicators: ranks passing the same `color` form one, ordered by `key` then rank.
  func split(color: Int, key: Int) throws -> any Communicator
  /// Ends the whole job now (every rank), after printing `message` on standard error.
  func abort(code: Int32, message: String) -> Never
}

/// Point-to-point messages between ranks (the sweep's coordination, not the training loop).
public protocol MessagePassing: Communicator {
  /// Sends `bytes` to `destination` (not this rank) under `tag` (>= 0). Returns once the
  /// message is on its way or delivered; messages from one rank to another under one tag
  /// arrive in the order sent.
  func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws
  /// A message for this rank under `tag` from any rank, oldest first: its source and bytes; nil
  /// at once when none has arrived. Never blocks, so that a waiting rank can sleep between
  /// polls instead of spinning on a core another rank needs.
  func receiveIfReady(tag: Int) throws -> (source: Int, bytes: [UInt8])?
}

/// A communicator whose ranks can reduce from memory they share (the ranks of one MPI node,
/// threads of one process): the trainer writes its gradient sums where every rank reads them
/// in place.
public protocol SharedMemoryReduction: Communicator {
  /// A zero-filled buffer of `count` elements for reductions, placed where this communicator
  /// reduces fastest (on an MPI node: shared memory, so that the other ranks' segments are read
  /// in place instead of copied). Collective: every rank calls it with the same count. Valid
  /// until the next call on this communicator.
  func makeReductionBuffer<T: Real>(count: Int) throws -> UnsafeMutableBufferPointer<T>
  /// Every rank's copy of `buffer` (which came from `makeReductionBuffer`), in rank order, after
  /// a synchronisation: what each rank wrote before the call can be read in place until this
  /// rank's next collective call (a fused reduction reads the others' gradient sums without
  /// copying them). nil, without communicating and alike on every rank, where the ranks do not
  /// share this memory (several nodes, another algorithm chosen).
  func reductionPeers<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> [UnsafePointer<T>]?
}

extension Communicator {
  /// The part of `0..<count` that `rank` owns in `reduceScatterSum` and `allGather`: `size`
  /// contiguous segments in rank order, with boundaries on multiples of 16 elements (64-byte
  /// cache lines of Float), as even as that allows.
  public func segment(count: Int, rank r: Int) -> Range<Int> {
    Self.segment(count: count, rank: r, size: size)
  }

  public static func segment(count: Int, rank r: Int, size: Int) -> Range<Int> {
    let blocks = (count + 15) / 16
    let base = blocks / size
    let extra = blocks % size
    let lower = min(count, 16 * (r * base + min(r, extra)))
    let upper = min(count, 16 * ((r + 1) * base + min(r + 1, extra)))
    return lower..<upper
  }

  /// The value of `root` on every rank.
  public func broadcast<T: Real>(_ value: T, root: Int) throws -> T {
    var v = [value]
    try v.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    return v[0]
  }

  /// Broadcasts `array` (same count on every rank) from `root`.
  public func broadcast<T: Real>(_ array: inout [T], root: Int) throws {
    try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
  }

  /// Element-wise sum over all ranks of `array` (same count on every rank).
  public func allReduceSum<T: Real>(_ array: inout [T]) throws {
    try array.withUnsafeMutableBufferPointer { try allReduceSum($0) }
  }
}

/// Private memory for reduction buffers, reused while big enough.
public final class ReductionStorage {
  private var pointer: UnsafeMutableRawPointer?
  private var bytes = 0
  public init() {}
  deinit { pointer?.deallocate() }
  public func buffer<T: Real>(count: Int) -> UnsafeMutableBufferPointer<T> {
    let needed = max(1, count * MemoryLayout<T>.stride)
    if needed > bytes {
      pointer?.deallocate()
      pointer = .allocate(byteCount: needed, alignment: 64)
      bytes = needed
    }
    pointer!.initializeMemory(as: UInt8.self, repeating: 0, count: needed)
    return UnsafeMutableBufferPointer(start: pointer!.assumingMemoryBound(to: T.self), count: count)
  }
}

/// The communicator of a plain process: size 1, every collective is the identity.
public final class SingleProcessCommunicator: MessagePassing {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func allReduceSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {}
  public func broadcast<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
    precondition(root == 0, "broadcast root \(root) outside a single process")
  }
  public func broadcastBytes(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
    precondition(root == 0, "broadcast root \(root) outside a single process")
  }
  public func reduceScatterSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {}
  public func allGather<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {}
  public func barrier() throws {}
  public func split(color: Int, key: Int) throws -> any Communicator { SingleProcessCommunicator() }
  public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
    preconditionFailure("send to rank \(destination) in a single process (size 1 has no other rank)")
  }
  public func receiveIfReady(tag: Int) throws -> (source: Int, bytes: [UInt8])? { nil }
  public func abort(code: Int32, message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(code)
  }
}
