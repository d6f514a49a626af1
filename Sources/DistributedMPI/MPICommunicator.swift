#if MPI
  import CMPI
  import Distributed
  import Foundation
  import LinearAlgebra

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
  public final class MPICommunicator: MessagePassing, SharedMemoryReduction, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// This rank on its node (an `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)` communicator).
    public var localRank: Int { topology.localRank }
    /// Ranks of this communicator on this node.
    public var localSize: Int { topology.localSize }
    /// Nodes this communicator spans.
    public var nodeCount: Int { topology.nodeCount }
    /// The most ranks any node holds (the same on every rank, unlike `localSize`).
    public var maxLocalSize: Int { topology.maxLocalSize }
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
    public var maxElementsPerCall: Int {
      get { shared.maxElementsPerCall }
      set { shared.maxElementsPerCall = newValue }
    }
    /// Largest per-rank slot of the shared-memory window; longer buffers go through in pieces.
    public var maxSharedSlotBytes: Int {
      get { shared.maxSlotBytes }
      set { shared.maxSlotBytes = newValue }
    }

    let comm: MPI_Comm
    let ownsComm: Bool
    let ranksPerSimulatedNode: Int?
    let topology: NodeTopology
    /// The node's shared-memory engine (slots and the reduction buffer).
    let shared: NodeSharedMemory
    /// The reduction buffer where shared memory does not apply.
    let privateReduction = ReductionStorage()

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
      (rank, size) = try rankAndSize(of: comm)

      topology = try NodeTopology(comm: comm, rank: rank, ranksPerSimulatedNode: ranksPerSimulatedNode)
      shared = NodeSharedMemory(node: topology)

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
      for entry in MPIProcess.windows { if let w = entry.window { _ = MPI_Win_unlock_all(w.window) } }
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
      precondition(
        destination >= 0 && destination < size && destination != rank, "send to rank \(destination) from rank \(rank) of \(size)")
      guard bytes.count <= Int(Int32.max) else {
        throw MPIError(
          code: -1, function: "MPI_Send", message: "message of \(bytes.count) bytes exceeds MPI's count limit", rank: MPIProcess.worldRank)
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
        try shared.allReduce(base, count: buffer.count, type: type, twoRankExchange: twoRankExchange)
      case .mpi, .automatic:
        try chunks(buffer.count) { offset, count in
          try check(MPI_Allreduce(cmpi_in_place(), base + offset, Int32(count), type, cmpi_sum(), comm), "MPI_Allreduce")
        }
      }
    }

    // MARK: - Reduce-scatter and all-gather (sharded optimizer updates)

    /// Whether a buffer of `bytes` goes through the node's shared memory: one node, the
    /// shared-memory algorithm, and within a slot.
    func sharesMemory(bytes: Int) -> Bool {
      nodeCount == 1 && resolvedAlgorithm(bytes: bytes) == .sharedMemory && bytes <= maxSharedSlotBytes
    }

    /// On one node through the shared slots, summed in rank order (the bits of `allReduceSum`);
    /// across nodes `MPI_Reduce_scatter`.
    public func reduceScatterSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
      guard let base = buffer.baseAddress, buffer.count > 0, size > 1 else { return }
      let n = buffer.count
      let all = (0..<size).map { Self.segment(count: n, rank: $0, size: size) }
      if sharesMemory(bytes: n * MemoryLayout<T>.stride) { return try shared.reduceScatter(base, count: n, segments: all) }
      var counts = all.map { Int32($0.count) }
      precondition(n <= Int(Int32.max), "reduce-scatter of \(n) elements exceeds MPI's 32-bit counts")
      try check(MPI_Reduce_scatter(cmpi_in_place(), base, &counts, try Self.datatype(T.self), cmpi_sum(), comm), "MPI_Reduce_scatter")
      // MPI leaves rank r's sums at the start of the buffer; move them to the segment.
      let mine = all[rank]
      if mine.lowerBound > 0 && !mine.isEmpty { (base + mine.lowerBound).update(from: base, count: mine.count) }
    }

    /// On one node through the shared slots; across nodes `MPI_Allgatherv`.
    public func allGather<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
      guard let base = buffer.baseAddress, buffer.count > 0, size > 1 else { return }
      let n = buffer.count
      let all = (0..<size).map { Self.segment(count: n, rank: $0, size: size) }
      if sharesMemory(bytes: n * MemoryLayout<T>.stride) { return try shared.allGather(base, count: n, segments: all) }
      precondition(n <= Int(Int32.max), "all-gather of \(n) elements exceeds MPI's 32-bit counts")
      var counts = all.map { Int32($0.count) }
      var displacements = all.map { Int32($0.lowerBound) }
      let type = try Self.datatype(T.self)
      try check(MPI_Allgatherv(cmpi_in_place(), 0, type, base, &counts, &displacements, type, comm), "MPI_Allgatherv")
    }

    // MARK: - The reduction buffer (SharedMemoryReduction)

    /// On one node with 2+ ranks: this rank's region of the node's reduction window, which
    /// `reductionPeers` hands to every rank. Otherwise private memory.
    public func makeReductionBuffer<T: Real>(count: Int) throws -> UnsafeMutableBufferPointer<T> {
      guard nodeCount == 1, localSize > 1 else { return privateReduction.buffer(count: count) }
      return try shared.reductionBuffer(count: count)
    }

    /// On one node, when the shared-memory algorithm applies to a buffer of this size: every
    /// local rank's copy of `buffer` where it lies, after a synchronisation. Otherwise (several
    /// nodes, `.mpi`, or a buffer not from `makeReductionBuffer`) nil.
    public func reductionPeers<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> [UnsafePointer<T>]? {
      guard nodeCount == 1, size > 1, resolvedAlgorithm(bytes: buffer.count * MemoryLayout<T>.stride) == .sharedMemory else { return nil }
      return try shared.peers(buffer)
    }

    // MARK: - Helpers

    /// Runs `body(offset, count)` over `total` in pieces of at most `maxElementsPerCall`.
    func chunks(_ total: Int, _ body: (Int, Int) throws -> Void) throws {
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
