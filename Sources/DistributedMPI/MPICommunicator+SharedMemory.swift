#if MPI
  import CKernels
  import CMPI
  import Distributed
  import Foundation
  import LinearAlgebra

  /// The node-local shared-memory engine of `MPICommunicator`: the reduction buffer the trainer
  /// writes its gradient sums into, the reduce-scatter/all-gather of sharded updates, and the
  /// shared-memory allreduce, with the windows they live in.
  extension MPICommunicator {
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
    func peerCopies(_ base: UnsafeMutableRawPointer, bytes: Int) -> [UnsafeRawPointer]? {
      guard reductionWindow != nil, localRank < reductionRegions.count else { return nil }
      let start = reductionRegions[localRank]
      let offset = base - start
      guard offset >= 0, offset + bytes <= reductionBytes else { return nil }
      return reductionRegions.map { UnsafeRawPointer($0 + offset) }
    }

    func synchronizeReduction() throws {
      try check(MPI_Win_sync(reductionWindow!), "MPI_Win_sync")
      try check(MPI_Barrier(nodeComm), "MPI_Barrier")
      try check(MPI_Win_sync(reductionWindow!), "MPI_Win_sync")
    }

    // MARK: - Reduce-scatter and all-gather (sharded optimizer updates)

    /// Segment of rank r in `reduceScatterSum`/`allGather`, as `Communicator.segment`.
    func segments(_ n: Int) -> [Range<Int>] {
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
            dp_sum_sources_f32(destination.assumingMemoryBound(to: Float.self), $0.baseAddress!, Int32(localSize), mine.count)
          }
        } else {
          src.withMemoryRebound(to: UnsafePointer<Double>?.self) {
            dp_sum_sources_f64(destination.assumingMemoryBound(to: Double.self), $0.baseAddress!, Int32(localSize), mine.count)
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

    func sharedMemoryAllReduce<T: Real>(_ base: UnsafeMutablePointer<T>, count n: Int, type: MPI_Datatype) throws {
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
    func exchangeAndAdd<T: Real>(_ base: UnsafeMutablePointer<T>, count m: Int) throws {
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
    func reduceScatterAllGather<T: Real>(_ base: UnsafeMutablePointer<T>, count m: Int, type: MPI_Datatype) throws {
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
              dp_sum_sources_f32(destination.assumingMemoryBound(to: Float.self), $0.baseAddress!, Int32(localSize), hi - lo)
            }
          } else {
            s.withMemoryRebound(to: UnsafePointer<Double>?.self) {
              dp_sum_sources_f64(destination.assumingMemoryBound(to: Double.self), $0.baseAddress!, Int32(localSize), hi - lo)
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
    func synchronize() throws {
      try check(MPI_Win_sync(window!), "MPI_Win_sync")
      try check(MPI_Barrier(nodeComm), "MPI_Barrier")
      try check(MPI_Win_sync(window!), "MPI_Win_sync")
    }

    /// (Re)allocates the window so that each slot holds `bytes`; collective over the node.
    func ensureWindow(bytes: Int) throws {
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
    func allocateSharedWindow(
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
        if mineFirst { dp_add_after_f32(dd, xx, count) } else { dp_add_before_f32(dd, xx, count) }
      } else {
        let (dd, xx) = (rd.assumingMemoryBound(to: Double.self), rx.assumingMemoryBound(to: Double.self))
        if mineFirst { dp_add_after_f64(dd, xx, count) } else { dp_add_before_f64(dd, xx, count) }
      }
    }
  }
#endif
