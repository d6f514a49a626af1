// The Communicator contract for MPICommunicator, run under mpirun (any -np, including 1):
//
//   swift build -c release
//   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 \
//     mpirun -np 4 --oversubscribe .build/release/mpi-contract [--node-size K]
//
// Modes:
//   (default)      contract checks on every allreduce path, Float and Double; prints one line
//                  per check and "N passed, M failed" on rank 0; exits 1 if any failed.
//   --node-size K  splits the node into simulated nodes of K ranks (multi-node path).
//   --bench        median/p90 microseconds per allreduce, 0.94 MB and 4 KB, both paths.
//   --sweep        median microseconds per allreduce over sizes 64 B .. 4 MB, both paths.
//   --fail         rank 1 throws mid-way and aborts: the job must end promptly, non-zero.
//   --mpi-error    a truncated MPI_Bcast: an MPIError is thrown and the job aborts.
//   --singleton    without mpirun: MPI_Init as a singleton instead of the default, which is
//                  to run the checks on SingleProcessCommunicator without calling MPI_Init.
import Distributed
import DistributedMPI
import Foundation
import LinearAlgebra

let arguments = CommandLine.arguments
let environment = ProcessInfo.processInfo.environment

func option(_ name: String) -> String? {
  guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
  return arguments[i + 1]
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

// MARK: - Contract checks

final class Contract {
  let world: any Communicator
  var passed = 0
  var failed = 0
  init(world: any Communicator) { self.world = world }

  /// Records a check that must hold on every rank; rank 0 prints the verdict.
  func expect(_ name: String, _ ok: Bool, _ detail: @autoclosure () -> String = "") throws {
    var bad = [Double(ok ? 0 : 1)]
    try world.allReduceSum(&bad)  // tiny: always the MPI_Allreduce path
    if !ok { FileHandle.standardError.write(Data("rank \(world.rank): FAIL \(name): \(detail())\n".utf8)) }
    if bad[0] == 0 {
      passed += 1
      if world.rank == 0 { print("PASS \(name)") }
    } else {
      failed += 1
      if world.rank == 0 { print("FAIL \(name) (on \(Int(bad[0])) of \(world.size) ranks)") }
    }
  }

  /// Rank 0's bits on every rank?
  func identicalAcrossRanks<T: Real>(_ values: [T], on c: any Communicator) throws -> Bool {
    var bits = values.withUnsafeBytes { Array($0) }
    try bits.withUnsafeMutableBytes { try c.broadcastBytes($0, root: 0) }
    return bits == values.withUnsafeBytes { Array($0) }
  }

  func sums<T: Real>(_: T.Type, on c: any Communicator, label: String, counts: [Int]) throws {
    let r = c.rank
    let s = c.size
    let triangle = T(s * (s + 1) / 2)
    for n in counts {
      // Closed form: rank r contributes (r+1) * (1 + i % 1024): the sum is exact in Float.
      var x = (0..<n).map { T(r + 1) * T(1 + $0 % 1024) }
      try c.allReduceSum(&x)
      var bad = -1
      for i in 0..<n where x[i] != triangle * T(1 + i % 1024) {
        bad = i
        break
      }
      try expect("\(label) \(T.self) sum n=\(n) exact", bad < 0, "element \(bad) = \(bad >= 0 ? "\(x[bad])" : "")")

      // Inexact contributions: every rank must still hold the same bits, and the sum must be
      // close to the rank-order sum (equal to it on the shared-memory path).
      func value(_ rank: Int, _ i: Int) -> T { T(0.1) * T(rank + 1) + T(i % 977) * T(1e-3) / T(rank + 3) }
      var y = (0..<n).map { value(r, $0) }
      try c.allReduceSum(&y)
      var worst = 0.0
      var rankOrderEqual = true
      for i in 0..<n {
        var e = value(0, i)
        for q in 1..<max(1, s) { e += value(q, i) }
        if s == 1 { e = value(0, i) }
        worst = max(worst, abs(Double(y[i]) - Double(e)) / max(1e-30, abs(Double(e))))
        if y[i] != e { rankOrderEqual = false }
      }
      let tolerance = T.self == Float.self ? 1e-5 : 1e-13
      try expect("\(label) \(T.self) sum n=\(n) inexact within \(tolerance)", worst <= tolerance, "relative error \(worst)")
      try expect("\(label) \(T.self) sum n=\(n) bitwise identical on every rank", try identicalAcrossRanks(y, on: c))
      #if MPI
        if let m = c as? MPICommunicator, m.resolvedAlgorithm(bytes: n * MemoryLayout<T>.stride) == .sharedMemory, m.nodeCount == 1 {
          try expect("\(label) \(T.self) sum n=\(n) in rank order ((x0+x1)+x2)+...", rankOrderEqual)
        }
      #endif
      _ = rankOrderEqual
    }
    var empty: [T] = []
    try c.allReduceSum(&empty)
    try expect("\(label) \(T.self) empty allreduce", empty.isEmpty)
  }

  /// Reduce-scatter then all-gather on plain memory and on the communicator's reduction buffer
  /// (shared memory on a node: the zero-copy path): closed-form sums in each rank's segment,
  /// the segments tile the buffer, the gathered result is the full sum, identical everywhere.
  func scatterGather<T: Real>(_: T.Type, on c: any Communicator, label: String, counts: [Int]) throws {
    let r = c.rank
    let s = c.size
    let triangle = T(s * (s + 1) / 2)
    var covered = 0
    for n in counts {
      let segments = (0..<s).map { c.segment(count: n, rank: $0) }
      covered = segments.reduce(0) { $0 + $1.count }
      try expect(
        "\(label) segments of n=\(n) tile 0..<n in rank order",
        covered == n && zip(segments, segments.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }
          && segments.allSatisfy { $0.lowerBound % 16 == 0 || $0.lowerBound == n })
      let reduction = c as? any SharedMemoryReduction
      for shared in reduction == nil ? [false] : [false, true] {
        var plain = [T](repeating: 0, count: n)
        let buffer: UnsafeMutableBufferPointer<T> =
          shared
          ? try reduction!.makeReductionBuffer(count: n)
          : plain.withUnsafeMutableBufferPointer { $0 }
        for i in 0..<n { buffer[i] = T(r + 1) * T(1 + i % 1024) }
        try peers(T.self, buffer, on: c, label: label, shared: shared)
        try c.reduceScatterSum(buffer)
        let mine = c.segment(count: n, rank: r)
        var bad = -1
        for i in mine where buffer[i] != triangle * T(1 + i % 1024) {
          bad = i
          break
        }
        try expect(
          "\(label) \(T.self) reduce-scatter n=\(n)\(shared ? " (reduction buffer)" : ""): own segment exact", bad < 0, "element \(bad)")
        try c.allGather(buffer)
        bad = -1
        for i in 0..<n where buffer[i] != triangle * T(1 + i % 1024) {
          bad = i
          break
        }
        let gathered = Array(buffer)
        try expect(
          "\(label) \(T.self) all-gather n=\(n)\(shared ? " (reduction buffer)" : ""): full sum, same bits on every rank",
          try bad < 0 && identicalAcrossRanks(gathered, on: c), "element \(bad)")
        _ = plain.count
      }
    }
  }

  /// `reductionPeers`: on one node with the shared-memory algorithm, every rank's reduction
  /// buffer as that rank wrote it (rank q holds `(q + 1) * (1 + i % 1024)`), its own first among
  /// equals at index `rank`; nil for plain memory, across nodes and with `.mpi`.
  func peers<T: Real>(_: T.Type, _ buffer: UnsafeMutableBufferPointer<T>, on c: any Communicator, label: String, shared: Bool) throws {
    var expected = false
    #if MPI
      if let m = c as? MPICommunicator {
        expected =
          shared && m.nodeCount == 1 && m.size > 1 && m.resolvedAlgorithm(bytes: buffer.count * MemoryLayout<T>.stride) == .sharedMemory
      }
    #endif
    let peers = try (c as? any SharedMemoryReduction)?.reductionPeers(buffer)
    let n = buffer.count
    if let peers {
      var bad = -1
      for q in 0..<peers.count {
        for i in 0..<n where peers[q][i] != T(q + 1) * T(1 + i % 1024) {
          bad = q
          break
        }
      }
      try c.barrier()  // every rank has read the others' buffers before anyone changes its own
      try expect(
        "\(label) \(T.self) reductionPeers n=\(n): every rank's buffer in rank order",
        peers.count == c.size && bad < 0 && peers[c.rank] == UnsafePointer(buffer.baseAddress!), "rank \(bad)")
    }
    try expect(
      "\(label) \(T.self) reductionPeers n=\(n)\(shared ? " (reduction buffer)" : ""): \(expected ? "available" : "nil")",
      (peers != nil) == expected)
  }

  func broadcasts<T: Real>(_: T.Type, on c: any Communicator, label: String) throws {
    let root = c.size - 1
    for n in [1, 1000, 3_000_001] {
      var x = (0..<n).map { T(c.rank * 1_000_000 + $0 % 4096) }
      try c.broadcast(&x, root: root)
      var ok = true
      for i in 0..<n where x[i] != T(root * 1_000_000 + i % 4096) {
        ok = false
        break
      }
      try expect("\(label) \(T.self) broadcast n=\(n) from root \(root)", ok)
    }
    var empty: [T] = []
    try c.broadcast(&empty, root: root)
    try expect("\(label) \(T.self) empty broadcast", empty.isEmpty)
    let v = try c.broadcast(T(c.rank) + T(0.5), root: root)
    try expect("\(label) \(T.self) scalar broadcast", v == T(root) + T(0.5))
  }

  func bytes(on c: any Communicator, label: String) throws {
    let root = c.size - 1
    for n in [0, 1, 1001, 5_000_003] {
      var b = [UInt8](repeating: UInt8(truncatingIfNeeded: c.rank), count: n)
      for i in 0..<n { b[i] = UInt8(truncatingIfNeeded: c.rank &* 31 &+ i) }
      try b.withUnsafeMutableBytes { try c.broadcastBytes($0, root: root) }
      var ok = true
      for i in 0..<n where b[i] != UInt8(truncatingIfNeeded: root &* 31 &+ i) {
        ok = false
        break
      }
      try expect("\(label) broadcastBytes n=\(n) from root \(root)", ok)
    }
  }

  func barrier(on c: any Communicator, label: String) throws {
    // Rank 0 arrives 200 ms late: nobody may leave the barrier before it arrives.
    try c.barrier()
    let start = now()
    if c.rank == 0 { usleep(200_000) }
    try c.barrier()
    let waited = Double(now() - start) / 1e6
    try expect("\(label) barrier waits for the last rank", c.size == 1 || waited >= 190, "left after \(waited) ms")
  }

  func split(on c: any Communicator, label: String, configure: (any Communicator) -> Void) throws {
    // Two colors by parity, keys reversing the order.
    let color = c.rank % 2
    let sub = try c.split(color: color, key: -c.rank)
    configure(sub)
    let members = (0..<c.size).filter { $0 % 2 == color }.sorted(by: >)
    try expect(
      "\(label) split size and key order", sub.size == members.count && sub.rank == members.firstIndex(of: c.rank)!,
      "sub rank \(sub.rank)/\(sub.size), expected \(members.firstIndex(of: c.rank)!)/\(members.count)")
    for n in [5, 300_001] {
      var x = (0..<n).map { Double(c.rank + 1) * Double(1 + $0 % 7) }
      try sub.allReduceSum(&x)
      let total = Double(members.reduce(0) { $0 + $1 + 1 })
      var ok = true
      for i in 0..<n where x[i] != total * Double(1 + i % 7) {
        ok = false
        break
      }
      try expect("\(label) sum inside each split color n=\(n)", ok)
    }
    try sub.barrier()
  }
}

func runContract(_ world: any Communicator, nodeSize: Int?) throws -> Contract {
  let contract = Contract(world: world)
  // MPILaunch: pure functions of the environment.
  let openMPI = [
    "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
  ]
  try contract.expect(
    "MPILaunch: plain process is not launched",
    !MPILaunch.isLaunchedByMPI(environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "2"]) && MPILaunch.worldSize(environment: [:]) == nil)
  try contract.expect(
    "MPILaunch: Open MPI mpirun",
    MPILaunch.isLaunchedByMPI(environment: openMPI) && MPILaunch.worldSize(environment: openMPI) == 4
      && MPILaunch.worldRank(environment: openMPI) == 3 && MPILaunch.localSize(environment: openMPI) == 2
      && MPILaunch.localRank(environment: openMPI) == 1)
  try contract.expect(
    "MPILaunch: PMIx (srun --mpi=pmix)",
    MPILaunch.isLaunchedByMPI(environment: ["PMIX_RANK": "1", "SLURM_NTASKS": "2"])
      && MPILaunch.worldRank(environment: ["PMIX_RANK": "1"]) == 1
      && MPILaunch.worldSize(environment: ["PMIX_RANK": "1", "SLURM_NTASKS": "2"]) == 2)
  try contract.expect(
    "MPILaunch: PMI (Hydra)",
    MPILaunch.worldSize(environment: ["PMI_RANK": "0", "PMI_SIZE": "3", "MPI_LOCALNRANKS": "3"]) == 3
      && MPILaunch.localSize(environment: ["PMI_RANK": "0", "PMI_SIZE": "3", "MPI_LOCALNRANKS": "3"]) == 3)
  try contract.expect("MPILaunch: garbage is not a launch", !MPILaunch.isLaunchedByMPI(environment: ["OMPI_COMM_WORLD_SIZE": "x"]))
  #if MPI
    if let m = world as? MPICommunicator, m.rank == 0 {
      print(
        "MPICommunicator: \(m.size) ranks, \(m.nodeCount) node(s), \(m.localSize) on this node, processor \(m.processorName)\(nodeSize.map { ", simulated nodes of \($0)" } ?? "")"
      )
    }
    let mpi = world as? MPICommunicator
    let algorithms: [AllReduceAlgorithm] = mpi == nil ? [.automatic] : [.mpi, .sharedMemory, .automatic]
    let counts = [1, 7, 1000, 235_146, 3_000_001]
    for algorithm in algorithms {
      mpi?.allReduceAlgorithm = algorithm
      let label = mpi == nil ? "single-process" : "[\(algorithm)]"
      try contract.sums(Float.self, on: world, label: label, counts: counts)
      try contract.sums(Double.self, on: world, label: label, counts: counts)
      try contract.split(on: world, label: label) { ($0 as? MPICommunicator)?.allReduceAlgorithm = algorithm }
      try contract.scatterGather(Float.self, on: world, label: label, counts: [1, 20, 1000, 235_148])
      try contract.scatterGather(Double.self, on: world, label: label, counts: [33, 100_001])
    }
    if let mpi {
      // Chunking: MPI calls of at most 1000 elements, shared-memory pieces of 4 KB.
      mpi.allReduceAlgorithm = .mpi
      mpi.maxElementsPerCall = 1000
      try contract.sums(Float.self, on: world, label: "[mpi, 1000-element calls]", counts: [3001])
      try contract.broadcasts(Double.self, on: world, label: "[1000-element calls]")
      try contract.bytes(on: world, label: "[1000-element calls]")
      mpi.maxElementsPerCall = Int(Int32.max)
      mpi.allReduceAlgorithm = .sharedMemory
      mpi.maxSharedSlotBytes = 4096
      try contract.sums(Float.self, on: world, label: "[sharedMemory, 4 KB pieces]", counts: [3001, 10_000])
      try contract.sums(Double.self, on: world, label: "[sharedMemory, 4 KB pieces]", counts: [3001])
      mpi.maxSharedSlotBytes = 64 << 20
      // The general node scheme also where two ranks would use the exchange.
      mpi.twoRankExchange = false
      try contract.sums(Float.self, on: world, label: "[sharedMemory, reduce-scatter/all-gather]", counts: [1, 1000, 235_146, 3_000_001])
      try contract.sums(Double.self, on: world, label: "[sharedMemory, reduce-scatter/all-gather]", counts: [1000, 300_001])
      mpi.twoRankExchange = true
      mpi.allReduceAlgorithm = .automatic
    }
  #else
    try contract.sums(Float.self, on: world, label: "single-process", counts: [1, 7, 1000, 235_146])
    try contract.sums(Double.self, on: world, label: "single-process", counts: [1, 7, 1000, 235_146])
    try contract.split(on: world, label: "single-process") { _ in }
    try contract.scatterGather(Float.self, on: world, label: "single-process", counts: [1, 20, 1000])
  #endif
  try contract.broadcasts(Float.self, on: world, label: "[all]")
  try contract.broadcasts(Double.self, on: world, label: "[all]")
  try contract.bytes(on: world, label: "[all]")
  try contract.barrier(on: world, label: "[all]")
  return contract
}

#if MPI
  // MARK: - Timing

  func percentiles(_ samples: [Double]) -> (median: Double, p90: Double) {
    let s = samples.sorted()
    return (s[s.count / 2], s[min(s.count - 1, s.count * 9 / 10)])
  }

  /// Microseconds per allreduce of `count` floats: a barrier, then the timed allreduce.
  func timeAllReduce(_ c: MPICommunicator, count: Int, algorithm: AllReduceAlgorithm, exchange: Bool = true, iterations: Int) throws
    -> [Double]
  {
    c.allReduceAlgorithm = algorithm
    c.twoRankExchange = exchange
    defer { c.twoRankExchange = true }
    var x = [Float](repeating: 0, count: count)
    var samples: [Double] = []
    samples.reserveCapacity(iterations)
    for it in 0..<(iterations + iterations / 10) {
      x.withUnsafeMutableBufferPointer { b in for i in 0..<b.count { b[i] = Float(i & 255) * 0.5 } }
      try c.barrier()
      let t0 = now()
      try c.allReduceSum(&x)
      let t1 = now()
      if it >= iterations / 10 { samples.append(Double(t1 - t0) / 1e3) }
    }
    c.allReduceAlgorithm = .automatic
    return samples
  }

  /// The worst rank's value of `v`.
  func maxOverRanks(_ c: MPICommunicator, _ v: Double) throws -> Double {
    var all = [Double](repeating: 0, count: c.size)
    all[c.rank] = v
    try c.allReduceSum(&all)
    return all.max()!
  }

  func bench(_ c: MPICommunicator) throws {
    if c.rank == 0 {
      print("allreduce timing: \(c.size) ranks, \(c.nodeCount) node(s); barrier before each call; microseconds, rank 0 (worst rank)")
    }
    let paths: [(AllReduceAlgorithm, Bool, String)] =
      [
        (.mpi, true, "mpi"), (.sharedMemory, true, c.localSize == 2 && c.nodeCount == 1 ? "shm exchange" : "shm"),
      ] + (c.localSize == 2 && c.nodeCount == 1 ? [(.sharedMemory, false, "shm rs/ag")] : [])
    for (count, name) in [(235_146, "0.94 MB (235,146 floats)"), (1024, "4 KB (1,024 floats)")] {
      for (algorithm, exchange, label) in paths {
        let samples = try timeAllReduce(c, count: count, algorithm: algorithm, exchange: exchange, iterations: 2000)
        let p = percentiles(samples)
        let worstMedian = try maxOverRanks(c, p.median)
        let worstP90 = try maxOverRanks(c, p.p90)
        if c.rank == 0 {
          print(
            "\(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(label.padding(toLength: 13, withPad: " ", startingAt: 0))"
              + String(format: " median %7.1f (%7.1f)   p90 %7.1f (%7.1f)", p.median, worstMedian, p.p90, worstP90))
        }
      }
    }
  }

  func sweep(_ c: MPICommunicator) throws {
    if c.rank == 0 { print("median microseconds per allreduce (worst rank)\n    bytes          mpi          shm    shm rs/ag") }
    var bytes = 64
    while bytes <= 4 << 20 {
      var medians: [Double] = []
      for (algorithm, exchange) in [(AllReduceAlgorithm.mpi, true), (.sharedMemory, true), (.sharedMemory, false)] {
        let samples = try timeAllReduce(
          c, count: bytes / 4, algorithm: algorithm, exchange: exchange, iterations: bytes >= 1 << 20 ? 300 : 1000)
        medians.append(try maxOverRanks(c, percentiles(samples).median))
      }
      if c.rank == 0 { print(String(format: "%9d %12.1f %12.1f %12.1f", bytes, medians[0], medians[1], medians[2])) }
      bytes *= 2
    }
  }
#endif

// MARK: - Failure path

struct InjectedFailure: Error, CustomStringConvertible {
  let rank: Int
  var description: String { "injected failure on rank \(rank) at step 3" }
}

func failMidway(_ c: any Communicator) throws {
  var x = [Float](repeating: 1, count: 235_146)
  for step in 0..<10 {
    if step == 3 && c.rank == 1 { throw InjectedFailure(rank: c.rank) }
    try c.allReduceSum(&x)
    if c.rank == 0 { print("step \(step) done") }
  }
}

/// A real MPI error: the root broadcasts more bytes than the others expect, so MPI_Bcast returns
/// MPI_ERR_TRUNCATE on the receivers, which throw an MPIError naming the function and rank.
func truncatedBroadcast(_ c: any Communicator) throws {
  var bytes = [UInt8](repeating: 7, count: c.rank == 0 ? 64 : 16)
  try bytes.withUnsafeMutableBytes { try c.broadcastBytes($0, root: 0) }
  try c.barrier()
}

// MARK: - Main

#if MPI
  let launched = MPILaunch.isLaunchedByMPI(environment: environment)
  let useMPI = launched || arguments.contains("--singleton")
#else
  let useMPI = false
#endif

if !useMPI {
  // Not started by a launcher: no MPI_Init (no singleton daemon); the single-process
  // communicator must satisfy the same contract.
  print(
    MPIBuild.isAvailable
      ? "not launched by MPI (MPILaunch): checking SingleProcessCommunicator without MPI_Init"
      : "built without the MPI trait: checking SingleProcessCommunicator")
  let contract = try runContract(SingleProcessCommunicator(), nodeSize: nil)
  print("\(contract.passed) passed, \(contract.failed) failed")
  exit(contract.failed == 0 ? 0 : 1)
}

#if MPI
  let nodeSize = option("--node-size").flatMap { Int($0) }
  let world: MPICommunicator
  do {
    world = try MPICommunicator.initialize(ranksPerSimulatedNode: nodeSize)
  } catch {
    FileHandle.standardError.write(Data("MPI initialisation failed: \(error)\n".utf8))
    exit(2)
  }
  if world.rank == 0, let expected = MPILaunch.worldSize(environment: environment), expected != world.size {
    world.abort(code: 2, message: "MPILaunch.worldSize \(expected) != MPI_Comm_size \(world.size)")
  }
  do {
    if arguments.contains("--fail") {
      try failMidway(world)
    } else if arguments.contains("--mpi-error") {
      try truncatedBroadcast(world)
    } else if arguments.contains("--bench") {
      try bench(world)
    } else if arguments.contains("--sweep") {
      try sweep(world)
    } else {
      let contract = try runContract(world, nodeSize: nodeSize)
      if world.rank == 0 { print("\(contract.passed) passed, \(contract.failed) failed") }
      world.finalize()
      exit(contract.failed == 0 ? 0 : 1)
    }
  } catch {
    world.abort(code: 3, message: "rank \(world.rank) of \(world.size) (\(world.processorName)): \(error)")
  }
  world.finalize()
#endif
