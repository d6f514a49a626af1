#if MPI
  import CMPI
  import Distributed
  import Foundation
  import LinearAlgebra

  /// A failed MPI call: every communicator call checks its return code (`MPI_ERRORS_RETURN` is set
  /// on every communicator and window) and throws this instead of letting MPI abort the job.
  public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The MPI error code (`MPI_SUCCESS` is 0).
    public let code: Int32
    /// The MPI function that failed, e.g. "MPI_Allreduce".
    public let function: String
    /// `MPI_Error_string(code)`, or a description of a usage error detected here.
    public let message: String
    /// The rank in `MPI_COMM_WORLD` of the process that saw the failure (-1 before MPI_Init).
    public let rank: Int

    public init(code: Int32, function: String, message: String, rank: Int) {
      self.code = code
      self.function = function
      self.message = message
      self.rank = rank
    }

    init(code: Int32, function: String) {
      self.init(code: code, function: function, message: MPIError.errorString(code), rank: MPIProcess.worldRank)
    }

    public var description: String {
      "\(function) failed on rank \(rank): \(message) (MPI error code \(code))"
    }

    static func errorString(_ code: Int32) -> String {
      var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
      var length: Int32 = 0
      guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error" }
      return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }

  @inline(__always)
  func check(_ rc: Int32, _ function: StaticString) throws {
    if rc != MPI_SUCCESS { throw MPIError(code: rc, function: "\(function)") }
  }

  /// Process-wide MPI state: MPI_Init once, MPI_Finalize at most once.
  enum MPIProcess {
    static let lock = NSLock()
    nonisolated(unsafe) static var world: MPICommunicator?
    nonisolated(unsafe) static var finalized = false
    nonisolated(unsafe) static var worldRank = -1
    /// Communicators with a shared-memory window, whose passive-target epochs are closed before
    /// MPI_Finalize.
    nonisolated(unsafe) static var windows: [WeakCommunicator] = []

    struct WeakCommunicator { weak var communicator: MPICommunicator? }
  }

  /// dptrain's collectives over Open MPI. Create the world communicator once per process with
  /// `initialize()` (only when `MPILaunch.isLaunchedByMPI` says a launcher started this
  /// process), call `finalize()` once at the end of a successful run, and `abort` on every
  /// error path of a multi-rank job (an `exit` on one rank leaves the others waiting forever).
  ///
  /// MPI is initialised with `MPI_THREAD_FUNNELED`: call every method from the thread that
  /// called `initialize()`.
  ///
  /// Determinism: `allReduceSum` leaves the same bits on every rank. On the shared-memory path
  /// element i is `((x0 + x1) + x2) + ...` over the node's ranks in rank order (and with several
  /// nodes, the node sums are combined by `MPI_Allreduce` among node leaders and every rank
  /// copies its leader's result); on the MPI path Open MPI's algorithms (chosen from the size
  /// and count only) reduce each element once and distribute the result.
  public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// This rank on its node (an `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)` communicator).
    public let localRank: Int
    /// Ranks of this communicator on this node.
    public let localSize: Int
    /// Nodes this communicator spans.
    public let nodeCount: Int
    /// The most ranks any node holds (the same on every rank, unlike `localSize`).
    public let maxLocalSize: Int
    /// `MPI_Get_processor_name`, usually the host name.
    public let processorName: String

    /// Which reduction `allReduceSum` runs; see `AllReduceAlgorithm`. Same on every rank.
    public var allReduceAlgorithm: AllReduceAlgorithm = .automatic
    /// `.automatic` reduces buffers of at least this many bytes through shared memory. Same on
    /// every rank. Measured on a 2-core host, 2 ranks (`mpi-contract --sweep`): the two-rank
    /// exchange is never slower than `MPI_Allreduce` (0.7 vs 0.7 us at 64 B, 2.3 vs 7.1 us at
    /// 8 KB, 50 vs 106 us at 1 MB), but the general scheme (two synchronisations, 3+ ranks
    /// per node) loses below 8 KB (3.1 vs 1.9 us at 4 KB) and wins from 8 KB (4.0 vs 7.1 us).
    public var sharedMemoryThresholdBytes: Int = MPICommunicator.defaultSharedMemoryThresholdBytes
    public static let defaultSharedMemoryThresholdBytes = 8 * 1024
    /// With exactly two ranks on one node the shared-memory path exchanges whole buffers (one
    /// synchronisation, no copy-out); `false` forces the general reduce-scatter/all-gather
    /// scheme (for tests and benchmarks). Same on every rank.
    public var twoRankExchange = true
    /// Elements per MPI call (`count` is a C int). Lowered only by tests, to exercise chunking.
    public var maxElementsPerCall: Int = Int(Int32.max)
    /// Largest per-rank slot of the shared-memory window; longer buffers go through in pieces.
    public var maxSharedSlotBytes: Int = 64 << 20

    let comm: MPI_Comm
    private let ownsComm: Bool
    private let nodeComm: MPI_Comm
    /// Local rank 0 of each node; `nil` on the other ranks.
    private let leadersComm: MPI_Comm?
    private let ranksPerSimulatedNode: Int?

    // The shared window (see ensureWindow).
    private var window: MPI_Win?
    private var windowCapacity = 0
    private var slots: [[UnsafeMutableRawPointer]] = [[], []]  // [slot set][local rank]
    private var exchangeParity = 0
    private var result: UnsafeMutableRawPointer?

    // The reduction buffer (see makeReductionBuffer): one shared window, every local rank's
    // region, or private memory where shared memory does not apply.
    private var reductionWindow: MPI_Win?
    private var reductionRegions: [UnsafeMutableRawPointer] = []
    private var reductionBytes = 0
    private let privateReduction = ReductionStorage()

    // MARK: - Life cycle

    /// `MPI_Init_thread(MPI_THREAD_FUNNELED)` once per process (later calls return the same
    /// communicator), `MPI_ERRORS_RETURN` on `MPI_COMM_WORLD`, and line-buffered standard output
    /// (so lines printed before an abort are not lost). Throws after `finalize()`.
    ///
    /// `ranksPerSimulatedNode` (tests only) splits each real node further into nodes of that
    /// many ranks, to exercise the multi-node path of the shared-memory allreduce on one host.
    public static func initialize(ranksPerSimulatedNode: Int? = nil) throws -> MPICommunicator {
      MPIProcess.lock.lock()
      defer { MPIProcess.lock.unlock() }
      if let world = MPIProcess.world { return world }
      if MPIProcess.finalized {
        throw MPIError(code: -1, function: "MPI_Init_thread", message: "MPI was already finalized in this process", rank: -1)
      }
      cmpi_line_buffer_stdout()
      var initialized: Int32 = 0
      try check(MPI_Initialized(&initialized), "MPI_Initialized")
      if initialized == 0 {
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        _ = provided  // SINGLE would do too: every call comes from one thread.
      }
      try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
      var worldRank: Int32 = 0
      try check(MPI_Comm_rank(cmpi_comm_world(), &worldRank), "MPI_Comm_rank")
      MPIProcess.worldRank = Int(worldRank)
      let world = try MPICommunicator(comm: cmpi_comm_world(), ownsComm: false, ranksPerSimulatedNode: ranksPerSimulatedNode)
      MPIProcess.world = world
      return world
    }

    init(comm: MPI_Comm, ownsComm: Bool, ranksPerSimulatedNode: Int?) throws {
      self.comm = comm
      self.ownsComm = ownsComm
      self.ranksPerSimulatedNode = ranksPerSimulatedNode
      var r: Int32 = 0
      var s: Int32 = 0
      try check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
      try check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
      rank = Int(r)
      size = Int(s)

      var shared: MPI_Comm?
      try check(MPI_Comm_split_type(comm, cmpi_comm_type_shared(), r, cmpi_info_null(), &shared), "MPI_Comm_split_type")
      if let k = ranksPerSimulatedNode, k >= 1 {
        var sharedRank: Int32 = 0
        try check(MPI_Comm_rank(shared!, &sharedRank), "MPI_Comm_rank")
        var simulated: MPI_Comm?
        try check(MPI_Comm_split(shared!, sharedRank / Int32(k), sharedRank, &simulated), "MPI_Comm_split")
        try check(MPI_Comm_free(&shared), "MPI_Comm_free")
        shared = simulated
      }
      nodeComm = shared!
      try check(MPI_Comm_rank(nodeComm, &r), "MPI_Comm_rank")
      try check(MPI_Comm_size(nodeComm, &s), "MPI_Comm_size")
      localRank = Int(r)
      localSize = Int(s)

      var leaders: MPI_Comm?
      try check(MPI_Comm_split(comm, localRank == 0 ? 0 : cmpi_undefined(), Int32(rank), &leaders), "MPI_Comm_split")
      leadersComm = leaders == cmpi_comm_null() ? nil : leaders
      var nodes: Int64 = localRank == 0 ? 1 : 0
      try check(MPI_Allreduce(cmpi_in_place(), &nodes, 1, cmpi_int64(), cmpi_sum(), comm), "MPI_Allreduce")
      nodeCount = Int(nodes)
      var most = Int64(localSize)
      try check(MPI_Allreduce(cmpi_in_place(), &most, 1, cmpi_int64(), cmpi_max(), comm), "MPI_Allreduce")
      maxLocalSize = Int(most)

      var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
      var length: Int32 = 0
      try check(MPI_Get_processor_name(&name, &length), "MPI_Get_processor_name")
      processorName = String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // No deinit: freeing a window is collective (a rank dropping its communicator earlier
    // than another would deadlock), so windows and communicators live until MPI_Finalize.

    /// `MPI_Finalize`, once per process (later calls do nothing). Call it on the success path
    /// only, after the last collective; error paths call `abort`.
    public func finalize() {
      MPIProcess.lock.lock()
      defer { MPIProcess.lock.unlock() }
      guard !MPIProcess.finalized else { return }
      MPIProcess.finalized = true
      for entry in MPIProcess.windows {
        if let c = entry.communicator, let w = c.window { _ = MPI_Win_unlock_all(w) }
        if let c = entry.communicator, let w = c.reductionWindow { _ = MPI_Win_unlock_all(w) }
      }
      MPIProcess.windows = []
      _ = MPI_Finalize()
    }

    /// Prints `message` on standard error, then `MPI_Abort(MPI_COMM_WORLD, code)`: mpirun ends
    /// every rank of the job within ~0.1 s and exits non-zero.
    public func abort(code: Int32, message: String) -> Never {
      FileHandle.standardError.write(Data((message + "\n").utf8))
      var finalized: Int32 = 0
      _ = MPI_Finalized(&finalized)
      if finalized == 0 { _ = MPI_Abort(cmpi_comm_world(), code) }
      exit(code)
    }

    // MARK: - Collectives

    public func barrier() throws {
      try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    public func broadcast<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
      precondition(root >= 0 && root < size, "broadcast root \(root) outside 0..<\(size)")
      guard let base = buffer.baseAddress, buffer.count > 0 else { return }
      let type = try Self.datatype(T.self)
      try chunks(buffer.count) { offset, count in
        try check(MPI_Bcast(base + offset, Int32(count), type, Int32(root), comm), "MPI_Bcast")
      }
    }

    public func broadcastBytes(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
      precondition(root >= 0 && root < size, "broadcast root \(root) outside 0..<\(size)")
      guard let base = bytes.baseAddress, bytes.count > 0 else { return }
      try chunks(bytes.count) { offset, count in
        try check(MPI_Bcast(base + offset, Int32(count), cmpi_byte(), Int32(root), comm), "MPI_Bcast")
      }
    }

    // MARK: - Point-to-point

    /// `MPI_Send` of bytes (eager for small messages: returns at once; larger ones return when
    /// the receiver has matched them).
    public func send(_ bytes: [UInt8], to destination: Int, tag: Int) throws {
      precondition(destination >= 0 && destination < size && destination != rank, "send to rank \(destination) from rank \(rank) of \(size)")
      guard bytes.count <= Int(Int32.max) else {
        throw MPIError(code: -1, function: "MPI_Send", message: "message of \(bytes.count) bytes exceeds MPI's count limit", rank: MPIProcess.worldRank)
      }
      try bytes.withUnsafeBytes { raw in
        try check(MPI_Send(raw.baseAddress, Int32(raw.count), cmpi_byte(), Int32(destination), Int32(tag), comm), "MPI_Send")
      }
    }

    /// `MPI_Iprobe` for `tag` from any source, then `MPI_Recv` of the probed message.
    public func receiveIfReady(tag: Int) throws -> (source: Int, bytes: [UInt8])? {
      var flag: Int32 = 0
      var status = MPI_Status()
      try check(MPI_Iprobe(cmpi_any_source(), Int32(tag), comm, &flag, &status), "MPI_Iprobe")
      guard flag != 0 else { return nil }
      var count: Int32 = 0
      try check(MPI_Get_count(&status, cmpi_byte(), &count), "MPI_Get_count")
      var bytes = [UInt8](repeating: 0, count: Int(count))
      try bytes.withUnsafeMutableBytes { raw in
        try check(MPI_Recv(raw.baseAddress, count, cmpi_byte(), status.MPI_SOURCE, Int32(tag), comm, cmpi_status_ignore()), "MPI_Recv")
      }
      return (Int(status.MPI_SOURCE), bytes)
    }

    /// `MPI_Comm_split`: an `MPICommunicator` (with its own node communicator) of the ranks
    /// passing `color` (>= 0), ordered by `key` then rank. Inherits the allreduce settings.
    public func split(color: Int, key: Int) throws -> any Communicator {
      try splitCommunicator(color: color, key: key)
    }

    /// `split` with the concrete type.
    public func splitCommunicator(color: Int, key: Int) throws -> MPICommunicator {
      precondition(color >= 0 && color <= Int(Int32.max), "split color \(color) must be in 0...Int32.max")
      precondition(key >= Int(Int32.min) && key <= Int(Int32.max), "split key \(key) must fit Int32")
      var new: MPI_Comm?
      try check(MPI_Comm_split(comm, Int32(color), Int32(key), &new), "MPI_Comm_split")
      let sub = try MPICommunicator(comm: new!, ownsComm: true, ranksPerSimulatedNode: ranksPerSimulatedNode)
      sub.allReduceAlgorithm = allReduceAlgorithm
      sub.sharedMemoryThresholdBytes = sharedMemoryThresholdBytes
      sub.maxElementsPerCall = maxElementsPerCall
      sub.maxSharedSlotBytes = maxSharedSlotBytes
      sub.twoRankExchange = twoRankExchange
      return sub
    }

    /// The algorithm `.automatic` picks for a buffer of `bytes` bytes.
    public func resolvedAlgorithm(bytes: Int) -> AllReduceAlgorithm {
      switch allReduceAlgorithm {
      case .mpi, .sharedMemory: return allReduceAlgorithm
      // The same answer on every rank: a node of one rank follows the others.
      case .automatic: return maxLocalSize > 1 && bytes >= sharedMemoryThresholdBytes ? .sharedMemory : .mpi
      }
    }

    public func allReduceSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
      // Every rank passes the same count, so every rank returns here together.
      guard let base = buffer.baseAddress, buffer.count > 0, size > 1 else { return }
      let type = try Self.datatype(T.self)
      switch resolvedAlgorithm(bytes: buffer.count * MemoryLayout<T>.stride) {
      case .sharedMemory:
        try sharedMemoryAllReduce(base, count: buffer.count, type: type)
      case .mpi, .automatic:
        try chunks(buffer.count) { offset, count in
          try check(MPI_Allreduce(cmpi_in_place(), base + offset, Int32(count), type, cmpi_sum(), comm), "MPI_Allreduce")
        }
      }
    }

    // MARK: - Reduction buffer in shared memory

    /// On one node with 2+ ranks: a region of a shared window (grown collectively, never freed
    /// before finalize), so that `reduceScatterSum` of a buffer inside it reads the other
    /// ranks' segments where they are. Otherwise private memory.
    public func makeReductionBuffer<T: Real>(count: Int) throws -> UnsafeMutableBufferPointer<T> {
      let bytes = max(64, (count * MemoryLayout<T>.stride + 4095) / 4096 * 4096)
      guard nodeCount == 1, localSize > 1 else { return privateReduction.buffer(count: count) }
      if bytes > reductionBytes {
        let (win, regions) = try allocateSharedWindow(bytes: bytes, displacementUnit: 64, expected: { _ in bytes }, what: "reduction region")
        // The previous window (if any) stays allocated until finalize: freeing is collective.
        if let old = reductionWindow { try check(MPI_Win_unlock_all(old), "MPI_Win_unlock_all") }
        reductionWindow = win
        reductionRegions = regions
        reductionBytes = bytes
        if !MPIProcess.windows.contains(where: { $0.communicator === self }) {
          MPIProcess.windows.append(.init(communicator: self))
        }
      }
      let region = reductionRegions[localRank]
      region.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
      // Every rank's region is zeroed before anyone reduces from it.
      try synchronizeReduction()
      return UnsafeMutableBufferPointer(start: region.assumingMemoryBound(to: T.self), count: count)
    }

    /// On one node, when the shared-memory algorithm applies to a buffer of this size: every
    /// local rank's copy of `buffer`, where it lies in their reduction regions, after a
    /// synchronisation. Otherwise (several nodes, `.mpi`, or a buffer not from
    /// `makeReductionBuffer`) nil.
    public func reductionPeers<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> [UnsafePointer<T>]? {
      let bytes = buffer.count * MemoryLayout<T>.stride
      guard nodeCount == 1, size > 1, resolvedAlgorithm(bytes: bytes) == .sharedMemory, let base = buffer.baseAddress,
        let peers = peerCopies(UnsafeMutableRawPointer(base), bytes: bytes)
      else { return nil }
      try synchronizeReduction()
      return peers.map { $0.assumingMemoryBound(to: T.self) }
    }

    /// The other local ranks' copies of `base ..< base + bytes` when it lies in this rank's
    /// reduction region, else nil.
    private func peerCopies(_ base: UnsafeMutableRawPointer, bytes: Int) -> [UnsafeRawPointer]? {
      guard reductionWindow != nil, localRank < reductionRegions.count else { return nil }
      let start = reductionRegions[localRank]
      let offset = base - start
      guard offset >= 0, offset + bytes <= reductionBytes else { return nil }
      return reductionRegions.map { UnsafeRawPointer($0 + offset) }
    }

    private func synchronizeReduction() throws {
      try check(MPI_Win_sync(reductionWindow!), "MPI_Win_sync")
      try check(MPI_Barrier(nodeComm), "MPI_Barrier")
      try check(MPI_Win_sync(reductionWindow!), "MPI_Win_sync")
    }

    // MARK: - Reduce-scatter and all-gather (sharded optimizer updates)

    /// Segment of rank r in `reduceScatterSum`/`allGather`, as `Communicator.segment`.
    private func segments(_ n: Int) -> [Range<Int>] {
      (0..<size).map { Self.segment(count: n, rank: $0, size: size) }
    }

    /// On one node through the shared window: every rank publishes the parts the others sum,
    /// then sums its own segment over all ranks in rank order (`x0 + x1 + ...`: the bits of
    /// `allReduceSum`). Across nodes: `MPI_Reduce_scatter`.
    public func reduceScatterSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
      guard let base = buffer.baseAddress, buffer.count > 0, size > 1 else { return }
      let n = buffer.count, stride = MemoryLayout<T>.stride
      let mine = Self.segment(count: n, rank: rank, size: size)
      let type = try Self.datatype(T.self)
      guard nodeCount == 1, resolvedAlgorithm(bytes: n * stride) == .sharedMemory, n * stride <= maxSharedSlotBytes else {
        let all = segments(n)
        var counts = all.map { Int32($0.count) }
        precondition(n <= Int(Int32.max), "reduce-scatter of \(n) elements exceeds MPI's 32-bit counts")
        try check(MPI_Reduce_scatter(cmpi_in_place(), base, &counts, type, cmpi_sum(), comm), "MPI_Reduce_scatter")
        // MPI leaves rank r's sums at the start of the buffer; move them to the segment.
        if mine.lowerBound > 0 && !mine.isEmpty { (base + mine.lowerBound).update(from: base, count: mine.count) }
        return
      }
      if size == 2, let peers = peerCopies(UnsafeMutableRawPointer(base), bytes: n * stride) {
        // Zero copy: the buffer is in the shared window; add the other rank's copy of our
        // segment where it lies. Safe because each rank writes only its own segment, and a rank
        // rewrites its buffer only after the next synchronisation (which the other reaches only
        // when done reading).
        try synchronizeReduction()
        let other = peers[1 - localRank] + mine.lowerBound * stride
        Self.addInRankOrder(base + mine.lowerBound, UnsafePointer(other.assumingMemoryBound(to: T.self)), count: mine.count, mineFirst: localRank == 0)
        return
      }
      try ensureWindow(bytes: n * stride)
      let parity = exchangeParity
      exchangeParity ^= 1
      let slot = slots[parity][localRank].assumingMemoryBound(to: T.self)
      if size == 2 {
        // Publish only the other rank's segment; add the other's copy of ours, in rank order.
        let theirs = Self.segment(count: n, rank: 1 - rank, size: 2)
        (slot + theirs.lowerBound).update(from: base + theirs.lowerBound, count: theirs.count)
        try synchronize()
        let other = UnsafeRawPointer(slots[parity][1 - localRank] + mine.lowerBound * stride)
        Self.addInRankOrder(base + mine.lowerBound, UnsafePointer(other.assumingMemoryBound(to: T.self)), count: mine.count, mineFirst: localRank == 0)
        return
      }
      slot.update(from: base, count: n)
      try synchronize()
      guard !mine.isEmpty else { return }
      let sources: [UnsafeRawPointer?] = (0..<localSize).map { UnsafeRawPointer(slots[parity][$0] + mine.lowerBound * stride) }
      let destination = UnsafeMutableRawPointer(base + mine.lowerBound)
      sources.withUnsafeBufferPointer { src in
        if T.self == Float.self {
          src.withMemoryRebound(to: UnsafePointer<Float>?.self) {
            cmpi_sum_f32(destination.assumingMemoryBound(to: Float.self), $0.baseAddress!, Int32(localSize), mine.count)
          }
        } else {
          src.withMemoryRebound(to: UnsafePointer<Double>?.self) {
            cmpi_sum_f64(destination.assumingMemoryBound(to: Double.self), $0.baseAddress!, Int32(localSize), mine.count)
          }
        }
      }
    }

    /// On one node: every rank publishes its segment, then copies the others'. Across nodes:
    /// `MPI_Allgatherv`.
    public func allGather<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
      guard let base = buffer.baseAddress, buffer.count > 0, size > 1 else { return }
      let n = buffer.count, stride = MemoryLayout<T>.stride
      let all = segments(n)
      guard nodeCount == 1, resolvedAlgorithm(bytes: n * stride) == .sharedMemory, n * stride <= maxSharedSlotBytes else {
        precondition(n <= Int(Int32.max), "all-gather of \(n) elements exceeds MPI's 32-bit counts")
        var counts = all.map { Int32($0.count) }
        var displacements = all.map { Int32($0.lowerBound) }
        try check(MPI_Allgatherv(cmpi_in_place(), 0, try Self.datatype(T.self), base, &counts, &displacements, try Self.datatype(T.self), comm), "MPI_Allgatherv")
        return
      }
      try ensureWindow(bytes: n * stride)
      let parity = exchangeParity
      exchangeParity ^= 1
      let mine = all[rank]
      (slots[parity][localRank].assumingMemoryBound(to: T.self) + mine.lowerBound).update(from: base + mine.lowerBound, count: mine.count)
      try synchronize()
      for r in 0..<localSize where r != localRank && !all[r].isEmpty {
        (base + all[r].lowerBound).update(from: slots[parity][r].assumingMemoryBound(to: T.self) + all[r].lowerBound, count: all[r].count)
      }
    }

    // MARK: - Shared-memory allreduce

    private func sharedMemoryAllReduce<T: Real>(_ base: UnsafeMutablePointer<T>, count n: Int, type: MPI_Datatype) throws {
      let stride = MemoryLayout<T>.stride
      let piece = max(1, maxSharedSlotBytes / stride)
      try ensureWindow(bytes: min(n, piece) * stride)
      var offset = 0
      while offset < n {
        let m = min(piece, n - offset)
        if twoRankExchange && localSize == 2 && nodeCount == 1 {
          try exchangeAndAdd(base + offset, count: m)
        } else {
          try reduceScatterAllGather(base + offset, count: m, type: type)
        }
        offset += m
      }
    }

    /// Two ranks on one node: each publishes its buffer, then adds the other's into its own, in
    /// rank order (x0 + x1 on both ranks, so the same bits). One synchronisation per call: the
    /// slots alternate between two sets, so a rank may overwrite set p only after the next
    /// synchronisation, which the other rank reaches only when it has read set p.
    private func exchangeAndAdd<T: Real>(_ base: UnsafeMutablePointer<T>, count m: Int) throws {
      let parity = exchangeParity
      exchangeParity ^= 1
      let mine = slots[parity][localRank].assumingMemoryBound(to: T.self)
      let other = UnsafePointer(slots[parity][1 - localRank].assumingMemoryBound(to: T.self))
      mine.update(from: base, count: m)
      try synchronize()
      Self.addInRankOrder(base, other, count: m, mineFirst: localRank == 0)
    }

    /// Any number of ranks per node: each rank sums a contiguous 1/localSize of the elements
    /// over every rank's slot in rank order into the result area; with several nodes the node
    /// leaders then `MPI_Allreduce` the result; every rank copies the result out.
    private func reduceScatterAllGather<T: Real>(_ base: UnsafeMutablePointer<T>, count m: Int, type: MPI_Datatype) throws {
      let stride = MemoryLayout<T>.stride
      // Slot sets alternate between calls, as in every slot-using collective: a set written
      // now was last read before the previous call's synchronisation, so no rank still reads it.
      let parity = exchangeParity
      exchangeParity ^= 1
      let slots = self.slots[parity].map { $0.assumingMemoryBound(to: T.self) }
      let result = self.result!.assumingMemoryBound(to: T.self)
      let alignment = max(1, 64 / stride)  // segment boundaries on cache lines
      slots[localRank].update(from: base, count: m)
      try synchronize()
      let lo = localRank == 0 ? 0 : (localRank * m / localSize) / alignment * alignment
      let hi = localRank == localSize - 1 ? m : ((localRank + 1) * m / localSize) / alignment * alignment
      if hi > lo {
        let sources: [UnsafeRawPointer?] = slots.map { UnsafeRawPointer($0 + lo) }
        let destination = UnsafeMutableRawPointer(result + lo)
        sources.withUnsafeBufferPointer { s in
          if T.self == Float.self {
            s.withMemoryRebound(to: UnsafePointer<Float>?.self) {
              cmpi_sum_f32(destination.assumingMemoryBound(to: Float.self), $0.baseAddress!, Int32(localSize), hi - lo)
            }
          } else {
            s.withMemoryRebound(to: UnsafePointer<Double>?.self) {
              cmpi_sum_f64(destination.assumingMemoryBound(to: Double.self), $0.baseAddress!, Int32(localSize), hi - lo)
            }
          }
        }
      }
      try synchronize()
      if nodeCount > 1 {
        if let leaders = leadersComm {
          try chunks(m) { o, c in
            try check(MPI_Allreduce(cmpi_in_place(), result + o, Int32(c), type, cmpi_sum(), leaders), "MPI_Allreduce")
          }
        }
        try synchronize()
      }
      base.update(from: result, count: m)
    }

    /// Makes stores to the window visible to the node's other ranks and waits for all of them
    /// (the unified-model pattern: MPI_Win_sync, barrier, MPI_Win_sync, inside lock_all).
    @inline(__always)
    private func synchronize() throws {
      try check(MPI_Win_sync(window!), "MPI_Win_sync")
      try check(MPI_Barrier(nodeComm), "MPI_Barrier")
      try check(MPI_Win_sync(window!), "MPI_Win_sync")
    }

    /// (Re)allocates the window so that each slot holds `bytes`; collective over the node.
    private func ensureWindow(bytes: Int) throws {
      guard bytes > windowCapacity else { return }
      var capacity = max(bytes, min(2 * windowCapacity, maxSharedSlotBytes))
      capacity = (capacity + 4095) / 4096 * 4096
      if window != nil {
        var old: MPI_Win? = window
        try check(MPI_Win_unlock_all(old!), "MPI_Win_unlock_all")
        try check(MPI_Win_free(&old), "MPI_Win_free")
        window = nil
        windowCapacity = 0
        slots = [[], []]
        result = nil
      }
      // Local rank 0: [result | slot 0 | slot 0'], rank r: [slot r | slot r'] (two slot sets
      // for the alternating two-rank exchange).
      let (win, bases) = try allocateSharedWindow(
        bytes: localRank == 0 ? 3 * capacity : 2 * capacity, displacementUnit: 1,
        expected: { $0 == 0 ? 3 * capacity : 2 * capacity }, what: "segment")
      var newSlots: [[UnsafeMutableRawPointer]] = [[], []]
      for (r, base) in bases.enumerated() {
        var pointer = base
        if r == 0 {
          result = pointer
          pointer += capacity
        }
        newSlots[0].append(pointer)
        newSlots[1].append(pointer + capacity)
      }
      window = win
      windowCapacity = capacity
      slots = newSlots
      MPIProcess.windows.removeAll { $0.communicator == nil || $0.communicator === self }
      MPIProcess.windows.append(.init(communicator: self))
    }

    // MARK: - Helpers

    /// `MPI_Win_allocate_shared` of `bytes` on this rank (collective over the node), with
    /// `MPI_ERRORS_RETURN`, every local rank's base address (each checked to hold
    /// `expected(rank)` bytes), and a passive-target epoch open on it all (`MPI_Win_lock_all`).
    private func allocateSharedWindow(
      bytes: Int, displacementUnit unit: Int32, expected: (Int) -> Int, what: String
    ) throws -> (MPI_Win, [UnsafeMutableRawPointer]) {
      var win: MPI_Win?
      var mine: UnsafeMutableRawPointer?
      try withUnsafeMutablePointer(to: &mine) { p in
        try check(MPI_Win_allocate_shared(MPI_Aint(bytes), unit, cmpi_info_null(), nodeComm, UnsafeMutableRawPointer(p), &win), "MPI_Win_allocate_shared")
      }
      try check(MPI_Win_set_errhandler(win!, cmpi_errors_return()), "MPI_Win_set_errhandler")
      var bases: [UnsafeMutableRawPointer] = []
      for r in 0..<localSize {
        var segmentSize: MPI_Aint = 0
        var displacementUnit: Int32 = 0
        var pointer: UnsafeMutableRawPointer?
        try withUnsafeMutablePointer(to: &pointer) { p in
          try check(MPI_Win_shared_query(win!, Int32(r), &segmentSize, &displacementUnit, UnsafeMutableRawPointer(p)), "MPI_Win_shared_query")
        }
        guard let pointer, segmentSize >= expected(r) else {
          throw MPIError(code: -1, function: "MPI_Win_shared_query", message: "local rank \(r)'s \(what) is \(segmentSize) bytes, expected \(expected(r))", rank: MPIProcess.worldRank)
        }
        bases.append(pointer)
      }
      try check(MPI_Win_lock_all(cmpi_mode_nocheck(), win!), "MPI_Win_lock_all")
      return (win!, bases)
    }

    /// Two-rank reduction with the operands in rank order, so both ranks get the same bits:
    /// `d = d + x` on the lower rank (`mineFirst`), `d = x + d` on the upper.
    static func addInRankOrder<T: Real>(_ d: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, count: Int, mineFirst: Bool) {
      let (rd, rx) = (UnsafeMutableRawPointer(d), UnsafeRawPointer(x))
      if T.self == Float.self {
        let (dd, xx) = (rd.assumingMemoryBound(to: Float.self), rx.assumingMemoryBound(to: Float.self))
        if mineFirst { cmpi_add_after_f32(dd, xx, count) } else { cmpi_add_before_f32(dd, xx, count) }
      } else {
        let (dd, xx) = (rd.assumingMemoryBound(to: Double.self), rx.assumingMemoryBound(to: Double.self))
        if mineFirst { cmpi_add_after_f64(dd, xx, count) } else { cmpi_add_before_f64(dd, xx, count) }
      }
    }

    /// Runs `body(offset, count)` over `total` in pieces of at most `maxElementsPerCall`.
    private func chunks(_ total: Int, _ body: (Int, Int) throws -> Void) throws {
      let limit = max(1, min(maxElementsPerCall, Int(Int32.max)))
      var offset = 0
      while offset < total {
        let count = min(limit, total - offset)
        try body(offset, count)
        offset += count
      }
    }

    static func datatype<T: Real>(_: T.Type) throws -> MPI_Datatype {
      if T.self == Float.self { return cmpi_float() }
      if T.self == Double.self { return cmpi_double() }
      throw MPIError(code: -1, function: "MPICommunicator", message: "no MPI datatype for \(T.self)", rank: MPIProcess.worldRank)
    }
  }
#endif
