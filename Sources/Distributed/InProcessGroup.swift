import Foundation
import LinearAlgebra

/// `size` ranks as threads of one process, for running N-rank training under `swift test`
/// (as swift-nio's EmbeddedEventLoop runs channels without sockets). Each rank gets its own
/// `InProcessGroup` handle from `InProcessGroup.make(size:)` and calls the collectives from its
/// own thread. Sums are taken in rank order by the last rank to arrive and copied to all, so
/// every rank gets the same bits.
public final class InProcessGroup: MessagePassing, SharedMemoryReduction, @unchecked Sendable {
  public let rank: Int
  public let size: Int
  /// Whether `reductionPeers` hands out the ranks' buffers (threads share all memory); false
  /// makes the group behave like ranks without shared memory. Same on every rank.
  public var sharesMemory = true
  private let shared: Shared
  private let storage = ReductionStorage()

  final class Shared: @unchecked Sendable {
    let size: Int
    let condition = NSCondition()
    var generation = 0
    var arrived = 0
    var buffers: [UnsafeMutableRawPointer?]
    var byteCounts: [Int]
    var failure: String?
    var splitRequests: [(color: Int, key: Int)]
    var splitResult: [Int: (group: Shared, rankOf: [Int: Int])] = [:]
    /// Point-to-point messages waiting for each rank, oldest first.
    var mailboxes: [[(source: Int, tag: Int, bytes: [UInt8])]]
    init(size: Int) {
      self.size = size
      buffers = Array(repeating: nil, count: size)
      byteCounts = Array(repeating: 0, count: size)
      splitRequests = Array(repeating: (0, 0), count: size)
      mailboxes = Array(repeating: [], count: size)
    }
  }

  /// One handle per rank, sharing one group.
  public static func make(size: Int) -> [InProcessGroup] {
    precondition(size >= 1, "group size must be >= 1")
    let shared = Shared(size: size)
    return (0..<size).map { InProcessGroup(rank: $0, shared: shared) }
  }

  init(rank: Int, shared: Shared) {
    self.rank = rank
    self.size = shared.size
    self.shared = shared
  }

  /// Runs `body(rank, group)` on `size` threads and returns the results in rank order. A rank
  /// that throws makes every rank's pending collective fail (as MPI_Abort ends an MPI job).
  public static func run<R>(size: Int, _ body: @escaping @Sendable (InProcessGroup) throws -> R) throws -> [R] {
    let groups = make(size: size)
    let results = Results<R>(count: size)
    // One thread per rank: a dispatch pool runs only as many blocking ranks at once as there
    // are cores, and ranks beyond that would never reach the collectives the others wait in.
    let done = DispatchGroup()
    for r in 0..<size {
      done.enter()
      let thread = Thread {
        do {
          results.set(r, .success(try body(groups[r])))
        } catch {
          groups[r].fail("rank \(r): \(error)")
          results.set(r, .failure(error))
        }
        done.leave()
      }
      thread.stackSize = 8 << 20
      thread.start()
    }
    done.wait()
    return try results.values.map { try $0!.get() }
  }

  final class Results<R>: @unchecked Sendable {
    var values: [Result<R, any Error>?]
    let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: Result<R, any Error>) {
      lock.lock()
      values[i] = v
      lock.unlock()
    }
  }

  struct GroupFailure: Error, CustomStringConvertible { var description: String }

  func fail(_ message: String) {
    shared.condition.lock()
    if shared.failure == nil { shared.failure = message }
    shared.condition.broadcast()
    shared.condition.unlock()
  }

  /// Every rank deposits `pointer`; the last to arrive runs `combine` over all deposits (in rank
  /// order); then every rank runs `finish` and leaves. Two phases, so buffers stay valid.
  private func collective(
    _ pointer: UnsafeMutableRawPointer?, bytes: Int, combine: ([UnsafeMutableRawPointer?]) -> Void, finish: () -> Void
  ) throws {
    let s = shared
    s.condition.lock()
    defer { s.condition.unlock() }
    if let f = s.failure { throw GroupFailure(description: "collective abandoned: \(f)") }
    let generation = s.generation
    s.buffers[rank] = pointer
    s.byteCounts[rank] = bytes
    s.arrived += 1
    if s.arrived == size {
      precondition(Set(s.byteCounts).count == 1, "ranks called a collective with different buffer sizes \(s.byteCounts)")
      combine(s.buffers)
      s.arrived = 0
      s.generation += 1
      s.condition.broadcast()
    } else {
      while s.generation == generation && s.failure == nil { s.condition.wait() }
      if s.generation == generation, let f = s.failure { throw GroupFailure(description: "collective abandoned: \(f)") }
    }
    finish()
    // Second barrier: no rank leaves (and reuses its buffer) before all have finished.
    let second = s.generation
    s.arrived += 1
    if s.arrived == size {
      s.arrived = 0
      s.generation += 1
      s.condition.broadcast()
    } else {
      while s.generation == second && s.failure == nil { s.condition.wait() }
      if s.generation == second, let f = s.failure { throw GroupFailure(description: "collective abandoned: \(f)") }
    }
  }

  public func allReduceSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
    let n = buffer.count
    var total = [T](repeating: 0, count: n)
    try total.withUnsafeMutableBufferPointer { t in
      try collective(
        UnsafeMutableRawPointer(buffer.baseAddress), bytes: n * MemoryLayout<T>.stride,
        combine: { all in
          guard n > 0 else { return }
          // Rank order: ((b0 + b1) + b2) + ...
          let first = all[0]!.assumingMemoryBound(to: T.self)
          for i in 0..<n { t[i] = first[i] }
          for r in 1..<all.count {
            let b = all[r]!.assumingMemoryBound(to: T.self)
            for i in 0..<n { t[i] += b[i] }
          }
          for r in 0..<all.count { all[r]!.assumingMemoryBound(to: T.self).update(from: t.baseAddress!, count: n) }
        }, finish: {})
    }
  }

  public func makeReductionBuffer<T: Real>(count: Int) throws -> UnsafeMutableBufferPointer<T> {
    storage.buffer(count: count)
  }

  public func reductionPeers<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> [UnsafePointer<T>]? {
    guard sharesMemory, buffer.count > 0 else { return nil }
    var peers: [UnsafePointer<T>] = []
    try collective(
      UnsafeMutableRawPointer(buffer.baseAddress), bytes: buffer.count * MemoryLayout<T>.stride, combine: { _ in },
      finish: {
        peers = shared.buffers.map { UnsafePointer($0!.assumingMemoryBound(to: T.self)) }
      })
    return peers
  }

  public func reduceScatterSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
    // The full sum is a valid reduce-scatter (every segment holds its sum).
    try allReduceSum(buffer)
  }

  public func allGather<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
    let n = buffer.count
    try collective(
      UnsafeMutableRawPointer(buffer.baseAddress), bytes: n * MemoryLayout<T>.stride,
      combine: { all in
        guard n > 0 else { return }
        for owner in 0..<all.count {
          let part = Self.segment(count: n, rank: owner, size: all.count)
          guard !part.isEmpty else { continue }
          let source = all[owner]!.assumingMemoryBound(to: T.self) + part.lowerBound
          for r in 0..<all.count where r != owner {
            (all[r]!.assumingMemoryBound(to: T.self) + part.lowerBound).update(from: source, count: part.count)
          }
        }
      }, finish: {})
  }

  public func broadcast<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
    try broadcastBytes(UnsafeMutableRawBufferPointer(buffer), root: root)
  }

  public func broadcastBytes(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
    precondition(root >= 0 && root < size, "broadcast root \(root) outside 0..<\(size)")
    try collective(
      bytes.baseAddress, bytes: bytes.count,
      combine: { all in
        guard bytes.count > 0 else { return }
        for r in 0..<all.count where r != root { all[r]!.copyMemory(from: all[root]!, byteCount: bytes.count) }
      }, finish: {})
  }

  public func barrier() throws {
    try collective(nil, bytes: 0, combine: { _ in }, finish: {})
  }

  public func split(color: Int, key: Int) throws -> any Communicator {
    let s = shared
    var mine: InProcessGroup?
    try collective(nil, bytes: 0, combine: { _ in }, finish: {})
    s.condition.lock()
    s.splitRequests[rank] = (color, key)
    s.condition.unlock()
    try collective(
      nil, bytes: 0,
      combine: { _ in
        var result: [Int: (group: Shared, rankOf: [Int: Int])] = [:]
        for c in Set(s.splitRequests.map(\.color)) {
          let members = (0..<s.size).filter { s.splitRequests[$0].color == c }
            .sorted { (s.splitRequests[$0].key, $0) < (s.splitRequests[$1].key, $1) }
          var rankOf: [Int: Int] = [:]
          for (i, m) in members.enumerated() { rankOf[m] = i }
          result[c] = (Shared(size: members.count), rankOf)
        }
        s.splitResult = result
      },
      finish: {
        let entry = s.splitResult[color]!
        mine = InProcessGroup(rank: entry.rankOf[rank]!, shared: entry.group)
      })
    return mine!
  }

  public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
    precondition(destination >= 0 && destination < size && destination != rank, "send to rank \(destination) from rank \(rank) of \(size)")
    shared.condition.lock()
    defer { shared.condition.unlock() }
    if let failure = shared.failure { throw GroupFailure(description: failure) }
    shared.mailboxes[destination].append((rank, tag, bytes))
  }

  public func receiveIfReady(tag: Int) throws -> (source: Int, bytes: [UInt8])? {
    shared.condition.lock()
    defer { shared.condition.unlock() }
    if let failure = shared.failure { throw GroupFailure(description: failure) }
    guard let i = shared.mailboxes[rank].firstIndex(where: { $0.tag == tag }) else { return nil }
    let message = shared.mailboxes[rank].remove(at: i)
    return (message.source, message.bytes)
  }

  public func abort(code: Int32, message: String) -> Never {
    fail(message)
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(code)
  }
}
