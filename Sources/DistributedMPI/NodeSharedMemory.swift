#if MPI
  import CKernels
  import CMPI
  import Distributed
  import Foundation
  import LinearAlgebra

  /// An MPI-3 shared-memory window over one node: every local rank's region, mapped in this
  /// process, inside a passive-target epoch that stays open (`MPI_Win_lock_all`) until
  /// `unlock()` before `MPI_Finalize`. Freeing a window is collective, so windows live until
  /// they are replaced collectively or the process finalizes.
  final class SharedWindow {
    let window: MPI_Win
    /// Local rank r's region.
    let regions: [UnsafeMutableRawPointer]
    let nodeComm: MPI_Comm

    /// `MPI_Win_allocate_shared` of `bytes` on this rank (collective over the node), with
    /// `MPI_ERRORS_RETURN`; each local rank's region is checked to hold `expected(rank)` bytes.
    init(node: NodeTopology, bytes: Int, displacementUnit unit: Int32, expected: (Int) -> Int, what: String) throws {
      var win: MPI_Win?
      var mine: UnsafeMutableRawPointer?
      try withUnsafeMutablePointer(to: &mine) { p in
        try check(
          MPI_Win_allocate_shared(MPI_Aint(bytes), unit, cmpi_info_null(), node.nodeComm, UnsafeMutableRawPointer(p), &win),
          "MPI_Win_allocate_shared")
      }
      try check(MPI_Win_set_errhandler(win!, cmpi_errors_return()), "MPI_Win_set_errhandler")
      var bases: [UnsafeMutableRawPointer] = []
      for r in 0..<node.localSize {
        var segmentSize: MPI_Aint = 0
        var displacementUnit: Int32 = 0
        var pointer: UnsafeMutableRawPointer?
        try withUnsafeMutablePointer(to: &pointer) { p in
          try check(
            MPI_Win_shared_query(win!, Int32(r), &segmentSize, &displacementUnit, UnsafeMutableRawPointer(p)), "MPI_Win_shared_query")
        }
        guard let pointer, segmentSize >= expected(r) else {
          throw MPIError(
            code: -1, function: "MPI_Win_shared_query",
            message: "local rank \(r)'s \(what) is \(segmentSize) bytes, expected \(expected(r))", rank: MPIProcess.worldRank)
        }
        bases.append(pointer)
      }
      try check(MPI_Win_lock_all(cmpi_mode_nocheck(), win!), "MPI_Win_lock_all")
      window = win!
      regions = bases
      nodeComm = node.nodeComm
      MPIProcess.windows.append(.init(window: self))
    }

    /// Makes this rank's stores to the window visible to the node's other ranks and waits for
    /// all of them (the unified-model pattern: MPI_Win_sync, barrier, MPI_Win_sync, inside
    /// lock_all).
    @inline(__always)
    func synchronize() throws {
      try check(MPI_Win_sync(window), "MPI_Win_sync")
      try check(MPI_Barrier(nodeComm), "MPI_Barrier")
      try check(MPI_Win_sync(window), "MPI_Win_sync")
    }

    /// Closes the passive-target epoch (before `MPI_Win_free`, or when a larger window
    /// replaces this one); `MPI_Finalize` no longer needs to.
    func unlock() throws {
      MPIProcess.windows.removeAll { $0.window == nil || $0.window === self }
      try check(MPI_Win_unlock_all(window), "MPI_Win_unlock_all")
    }

    /// Unlocks and frees the window (collective over the node).
    func free() throws {
      try unlock()
      var w: MPI_Win? = window
      try check(MPI_Win_free(&w), "MPI_Win_free")
    }
  }

  /// The node-local shared-memory engine of `MPICommunicator`: the reduction buffer the trainer
  /// writes its gradient sums into (every local rank reads it in place), and the slots through
  /// which the node's ranks allreduce, reduce-scatter and all-gather, summing in rank order so
  /// that every rank gets the same bits.
  final class NodeSharedMemory {
    let node: NodeTopology
    /// Largest per-rank slot; longer buffers go through in pieces.
    var maxSlotBytes = 64 << 20
    /// Elements per MPI call among the node leaders (`count` is a C int).
    var maxElementsPerCall = Int(Int32.max)

    /// Slots: local rank 0 holds [result | slot | slot'], rank r [slot | slot'] (two slot sets,
    /// used alternately: a set written now was last read before the previous call's
    /// synchronisation, so no rank still reads it).
    private var slotWindow: SharedWindow?
    private var slotCapacity = 0
    private var slots: [[UnsafeMutableRawPointer]] = [[], []]  // [slot set][local rank]
    private var parity = 0
    private var result: UnsafeMutableRawPointer?

    /// The reduction buffer: one region per local rank.
    private var reductionWindow: SharedWindow?
    private var reductionBytes = 0

    init(node: NodeTopology) { self.node = node }

    var localRank: Int { node.localRank }
    var localSize: Int { node.localSize }

    // MARK: - Reduction buffer

    /// A zeroed region of `count` elements in this rank's part of the reduction window (grown
    /// collectively, the old window kept until finalize), after every rank zeroed its own.
    func reductionBuffer<T: Real>(count: Int) throws -> UnsafeMutableBufferPointer<T> {
      let bytes = max(64, (count * MemoryLayout<T>.stride + 4095) / 4096 * 4096)
      if bytes > reductionBytes {
        let window = try SharedWindow(node: node, bytes: bytes, displacementUnit: 64, expected: { _ in bytes }, what: "reduction region")
        // The previous window stays allocated until finalize: freeing is collective.
        try reductionWindow?.unlock()
        reductionWindow = window
        reductionBytes = bytes
      }
      let window = reductionWindow!
      let region = window.regions[localRank]
      region.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
      try window.synchronize()
      return UnsafeMutableBufferPointer(start: region.assumingMemoryBound(to: T.self), count: count)
    }

    /// Every local rank's copy of `base ..< base + bytes`, in rank order, after a
    /// synchronisation, when it lies in this rank's reduction region; nil (without
    /// communicating) otherwise.
    func peers<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws -> [UnsafePointer<T>]? {
      let bytes = buffer.count * MemoryLayout<T>.stride
      guard let window = reductionWindow, let base = buffer.baseAddress else { return nil }
      let offset = UnsafeMutableRawPointer(base) - window.regions[localRank]
      guard offset >= 0, offset + bytes <= reductionBytes else { return nil }
      try window.synchronize()
      return window.regions.map { UnsafePointer(($0 + offset).assumingMemoryBound(to: T.self)) }
    }

    // MARK: - Allreduce

    /// The node's sum (and with several nodes, the leaders' `MPI_Allreduce` of the node sums)
    /// of `n` elements at `base`, on every rank, in pieces of at most a slot. With exactly two
    /// ranks on one node and `twoRankExchange`, the ranks swap whole buffers.
    func allReduce<T: Real>(_ base: UnsafeMutablePointer<T>, count n: Int, type: MPI_Datatype, twoRankExchange: Bool) throws {
      let stride = MemoryLayout<T>.stride
      let piece = max(1, maxSlotBytes / stride)
      try ensureSlots(bytes: min(n, piece) * stride)
      var offset = 0
      while offset < n {
        let m = min(piece, n - offset)
        if twoRankExchange && localSize == 2 && node.nodeCount == 1 {
          try exchangeAndAdd(base + offset, count: m)
        } else {
          try reduceScatterAllGather(base + offset, count: m, type: type)
        }
        offset += m
      }
    }

    /// Two ranks on one node: each publishes its buffer, then adds the other's into its own, in
    /// rank order (x0 + x1 on both ranks, so the same bits). One synchronisation per call.
    private func exchangeAndAdd<T: Real>(_ base: UnsafeMutablePointer<T>, count m: Int) throws {
      let set = nextSlotSet()
      let mine = set[localRank].assumingMemoryBound(to: T.self)
      let other = UnsafePointer(set[1 - localRank].assumingMemoryBound(to: T.self))
      mine.update(from: base, count: m)
      try slotWindow!.synchronize()
      Self.addInRankOrder(base, other, count: m, mineFirst: localRank == 0)
    }

    /// Any number of ranks per node: each rank sums a contiguous 1/localSize of the elements
    /// over every rank's slot in rank order into the result area; with several nodes the node
    /// leaders then `MPI_Allreduce` the result; every rank copies the result out.
    private func reduceScatterAllGather<T: Real>(_ base: UnsafeMutablePointer<T>, count m: Int, type: MPI_Datatype) throws {
      let stride = MemoryLayout<T>.stride
      let slots = nextSlotSet().map { $0.assumingMemoryBound(to: T.self) }
      let result = self.result!.assumingMemoryBound(to: T.self)
      let alignment = max(1, 64 / stride)  // segment boundaries on cache lines
      slots[localRank].update(from: base, count: m)
      try slotWindow!.synchronize()
      let lo = localRank == 0 ? 0 : (localRank * m / localSize) / alignment * alignment
      let hi = localRank == localSize - 1 ? m : ((localRank + 1) * m / localSize) / alignment * alignment
      if hi > lo { Self.sum(slots.map { UnsafePointer($0 + lo) }, into: result + lo, count: hi - lo) }
      try slotWindow!.synchronize()
      if node.nodeCount > 1 {
        if let leaders = node.leadersComm {
          var offset = 0
          while offset < m {
            let c = min(max(1, min(maxElementsPerCall, Int(Int32.max))), m - offset)
            try check(MPI_Allreduce(cmpi_in_place(), result + offset, Int32(c), type, cmpi_sum(), leaders), "MPI_Allreduce")
            offset += c
          }
        }
        try slotWindow!.synchronize()
      }
      base.update(from: result, count: m)
    }

    // MARK: - Reduce-scatter and all-gather (one node, sharded optimizer updates)

    /// Rank `localRank`'s segment `mine` of the node's sum of `n` elements at `base`, in rank
    /// order (`x0 + x1 + ...`: the bits of `allReduce`). With two ranks only the other rank's
    /// segment is published.
    func reduceScatter<T: Real>(_ base: UnsafeMutablePointer<T>, count n: Int, segments: [Range<Int>]) throws {
      let stride = MemoryLayout<T>.stride
      let mine = segments[localRank]
      try ensureSlots(bytes: n * stride)
      let set = nextSlotSet()
      let slot = set[localRank].assumingMemoryBound(to: T.self)
      if localSize == 2 {
        let theirs = segments[1 - localRank]
        (slot + theirs.lowerBound).update(from: base + theirs.lowerBound, count: theirs.count)
        try slotWindow!.synchronize()
        let other = UnsafePointer(set[1 - localRank].assumingMemoryBound(to: T.self) + mine.lowerBound)
        Self.addInRankOrder(base + mine.lowerBound, other, count: mine.count, mineFirst: localRank == 0)
        return
      }
      slot.update(from: base, count: n)
      try slotWindow!.synchronize()
      guard !mine.isEmpty else { return }
      Self.sum(
        set.map { UnsafePointer($0.assumingMemoryBound(to: T.self) + mine.lowerBound) }, into: base + mine.lowerBound, count: mine.count)
    }

    /// Every rank publishes its segment, then copies the others'.
    func allGather<T: Real>(_ base: UnsafeMutablePointer<T>, count n: Int, segments: [Range<Int>]) throws {
      try ensureSlots(bytes: n * MemoryLayout<T>.stride)
      let set = nextSlotSet()
      let mine = segments[localRank]
      (set[localRank].assumingMemoryBound(to: T.self) + mine.lowerBound).update(from: base + mine.lowerBound, count: mine.count)
      try slotWindow!.synchronize()
      for r in 0..<localSize where r != localRank && !segments[r].isEmpty {
        (base + segments[r].lowerBound).update(
          from: set[r].assumingMemoryBound(to: T.self) + segments[r].lowerBound, count: segments[r].count)
      }
    }

    // MARK: - Slots

    /// The slot set of this call (the sets alternate).
    private func nextSlotSet() -> [UnsafeMutableRawPointer] {
      defer { parity ^= 1 }
      return slots[parity]
    }

    /// (Re)allocates the slot window so that each slot holds `bytes`; collective over the node.
    private func ensureSlots(bytes: Int) throws {
      guard bytes > slotCapacity else { return }
      var capacity = max(bytes, min(2 * slotCapacity, maxSlotBytes))
      capacity = (capacity + 4095) / 4096 * 4096
      if let old = slotWindow {
        try old.free()
        slotWindow = nil
        slotCapacity = 0
        slots = [[], []]
        result = nil
      }
      let window = try SharedWindow(
        node: node, bytes: localRank == 0 ? 3 * capacity : 2 * capacity, displacementUnit: 1,
        expected: { $0 == 0 ? 3 * capacity : 2 * capacity }, what: "segment")
      var newSlots: [[UnsafeMutableRawPointer]] = [[], []]
      for (r, base) in window.regions.enumerated() {
        var pointer = base
        if r == 0 {
          result = pointer
          pointer += capacity
        }
        newSlots[0].append(pointer)
        newSlots[1].append(pointer + capacity)
      }
      slotWindow = window
      slotCapacity = capacity
      slots = newSlots
    }

    // MARK: - Sums in rank order (CKernels)

    /// `destination[i] = sources[0][i] + sources[1][i] + ...`, left to right.
    static func sum<T: Real>(_ sources: [UnsafePointer<T>], into destination: UnsafeMutablePointer<T>, count: Int) {
      let raw: [UnsafeRawPointer?] = sources.map { UnsafeRawPointer($0) }
      let d = UnsafeMutableRawPointer(destination)
      raw.withUnsafeBufferPointer { s in
        if T.self == Float.self {
          s.withMemoryRebound(to: UnsafePointer<Float>?.self) {
            dp_sum_sources_f32(d.assumingMemoryBound(to: Float.self), $0.baseAddress!, Int32(sources.count), count)
          }
        } else {
          s.withMemoryRebound(to: UnsafePointer<Double>?.self) {
            dp_sum_sources_f64(d.assumingMemoryBound(to: Double.self), $0.baseAddress!, Int32(sources.count), count)
          }
        }
      }
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
