import Distributed
import Foundation
import LinearAlgebra
import Testing

/// The contract every Communicator meets (the MPI implementation is checked by the same
/// properties under mpirun, by the mpi-contract executable in scripts/test).
@Suite("Communicator contract: single process and in-process groups")
struct CommunicatorContractTests {
  @Test("sums have their closed forms, bit-identical on every rank", arguments: [1, 2, 3, 4])
  func sums(size: Int) throws {
    let results = try InProcessGroup.run(size: size) { c -> [Double] in
      // Rank r contributes (r + 1) * (i + 1) at index i: the sum is (i + 1) * size (size + 1) / 2.
      var v = (0..<1000).map { Double(c.rank + 1) * Double($0 + 1) }
      try c.allReduceSum(&v)
      return v
    }
    for v in results {
      #expect(v == (0..<1000).map { Double($0 + 1) * Double(size * (size + 1) / 2) })
      #expect(v == results[0])
    }
  }

  @Test("float sums are taken in rank order and identical everywhere", arguments: [2, 3, 4])
  func floatOrder(size: Int) throws {
    let results = try InProcessGroup.run(size: size) { c -> [Float] in
      var rng = SeededGenerator(seed: 9, stream: UInt64(c.rank))
      var v = (0..<257).map { _ in Float(rng.nextGaussian()) }
      try c.allReduceSum(&v)
      return v
    }
    var expected = [Float](repeating: 0, count: 257)
    for r in 0..<size {
      var rng = SeededGenerator(seed: 9, stream: UInt64(r))
      let v = (0..<257).map { _ in Float(rng.nextGaussian()) }
      if r == 0 { expected = v } else { for i in 0..<257 { expected[i] += v[i] } }
    }
    for v in results { #expect(v == expected) }
  }

  @Test("reductionPeers: every rank's buffer in rank order, as written; nil without shared memory", arguments: [2, 3, 4])
  func reductionPeers(size: Int) throws {
    let results = try InProcessGroup.run(size: size) { c -> (Bool, Bool, Bool) in
      let buffer: UnsafeMutableBufferPointer<Float> = try c.makeReductionBuffer(count: 100)
      for i in 0..<100 { buffer[i] = Float(c.rank * 1000 + i) }
      guard let peers = try c.reductionPeers(buffer) else { return (false, false, false) }
      let values = peers.count == size && (0..<size).allSatisfy { q in (0..<100).allSatisfy { peers[q][$0] == Float(q * 1000 + $0) } }
      let own = peers[c.rank] == UnsafePointer(buffer.baseAddress!)
      try c.barrier()  // nobody rewrites a buffer the others still read
      c.sharesMemory = false
      let none = try c.reductionPeers(buffer) == nil
      return (values, own, none)
    }
    for (values, own, none) in results { #expect(values && own && none) }
    // A single process has nothing to share: it offers no shared-memory reduction at all.
    #expect(!(SingleProcessCommunicator() as any Communicator is any SharedMemoryReduction))
  }

  @Test("broadcast from a non-zero root", arguments: [2, 3, 4])
  func broadcastNonZeroRoot(size: Int) throws {
    let root = size - 1
    let results = try InProcessGroup.run(size: size) { c -> ([Float], [UInt8]) in
      var v = [Float](repeating: Float(c.rank), count: 33)
      try c.broadcast(&v, root: root)
      var bytes = [UInt8](repeating: UInt8(c.rank), count: 5)
      try bytes.withUnsafeMutableBytes { try c.broadcastBytes($0, root: root) }
      return (v, bytes)
    }
    for (v, bytes) in results {
      #expect(v == [Float](repeating: Float(root), count: 33))
      #expect(bytes == [UInt8](repeating: UInt8(root), count: 5))
    }
  }

  @Test("empty and large buffers", arguments: [1, 3])
  func emptyAndLarge(size: Int) throws {
    let results = try InProcessGroup.run(size: size) { c -> (Int, Double, Double) in
      var empty: [Double] = []
      try c.allReduceSum(&empty)
      var large = [Float](repeating: 1, count: 3_000_001)
      try c.allReduceSum(&large)
      return (empty.count, Double(large.first!), Double(large.last!))
    }
    for r in results {
      #expect(r.0 == 0)
      #expect(r.1 == Double(size) && r.2 == Double(size))
    }
  }

  @Test("split by color: sums within each part, ranks ordered by key")
  func split() throws {
    let results = try InProcessGroup.run(size: 4) { c -> (Int, Int, Double) in
      let part = try c.split(color: c.rank % 2, key: -c.rank)
      var v = [Double(c.rank)]
      try part.allReduceSum(&v)
      try c.barrier()
      return (part.rank, part.size, v[0])
    }
    // Color 0: ranks 0, 2 (keys 0, -2: rank 2 first); color 1: ranks 1, 3.
    #expect(results[0].0 == 1 && results[2].0 == 0 && results[1].0 == 1 && results[3].0 == 0)
    #expect(results.allSatisfy { $0.1 == 2 })
    #expect(results[0].2 == 2 && results[2].2 == 2 && results[1].2 == 4 && results[3].2 == 4)
  }

  @Test("the single-process communicator is the identity")
  func single() throws {
    let c = SingleProcessCommunicator()
    var v: [Double] = [1, 2, 3]
    try c.allReduceSum(&v)
    try c.broadcast(&v, root: 0)
    #expect(v == [1, 2, 3] && c.rank == 0 && c.size == 1)
    #expect(try c.split(color: 5, key: 0).size == 1)
  }

  @Test("a rank that fails releases the others' pending collectives with an error")
  func failureReleasesOthers() throws {
    struct Boom: Error {}
    #expect(throws: (any Error).self) {
      _ = try InProcessGroup.run(size: 3) { c -> Int in
        if c.rank == 1 { throw Boom() }
        var v = [1.0]
        try c.allReduceSum(&v)  // ranks 0 and 2 would wait forever without the failure
        return 0
      }
    }
  }
}
