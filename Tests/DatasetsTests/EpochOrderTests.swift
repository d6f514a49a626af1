import LinearAlgebra
import Testing

@testable import Datasets

@Suite("Epoch order and sharding")
struct EpochOrderTests {
  @Test func sameSeedSameOrder() {
    let a = EpochOrder(count: 1000, seed: 42)
    let b = EpochOrder(count: 1000, seed: 42)
    #expect(a.order(epoch: 3) == b.order(epoch: 3))
    var g1 = SeededGenerator(seed: 42, stream: 1)
    var g4 = SeededGenerator(seed: 42, stream: 4)
    #expect(a.order(epoch: 0) == g1.permutation(1000))
    #expect(a.order(epoch: 3) == g4.permutation(1000))
    #expect(a.order(epoch: 0) != Array(0..<1000))
    #expect(EpochOrder(count: 1000, seed: 43).order(epoch: 3) != a.order(epoch: 3))
  }

  @Test func differentEpochsDiffer() {
    let o = EpochOrder(count: 500, seed: 7)
    let orders = (0..<5).map { o.order(epoch: $0) }
    for i in 0..<5 {
      for j in (i + 1)..<5 { #expect(orders[i] != orders[j], "epochs \(i) and \(j)") }
    }
  }

  @Test("every order is a permutation", arguments: [0, 1, 2, 17, 1000])
  func isPermutation(count: Int) {
    for epoch in 0..<3 {
      let order = EpochOrder(count: count, seed: 1).order(epoch: epoch)
      #expect(order.count == count)
      #expect(order.sorted() == Array(0..<count))
    }
  }

  @Test func noShuffleIsIdentity() {
    let o = EpochOrder(count: 37, seed: 99, shuffle: false)
    #expect(o.order(epoch: 0) == Array(0..<37))
    #expect(o.order(epoch: 5) == Array(0..<37))
  }

  @Test("batches: ceil(count / B), partial last batch kept")
  func batches() {
    let o = EpochOrder(count: 10, seed: 0)
    #expect(o.batchCount(batchSize: 4) == 3)
    #expect(o.batchCount(batchSize: 5) == 2)
    #expect(o.batchCount(batchSize: 100) == 1)
    #expect(o.batchRange(0, batchSize: 4) == 0..<4)
    #expect(o.batchRange(1, batchSize: 4) == 4..<8)
    #expect(o.batchRange(2, batchSize: 4) == 8..<10)
    #expect(EpochOrder.batchCount(count: 60000, batchSize: 100) == 600)
    #expect(EpochOrder.batchCount(count: 55000, batchSize: 128) == 430)
    // The batches cover every position exactly once.
    let all = (0..<o.batchCount(batchSize: 3)).flatMap { Array(o.batchRange($0, batchSize: 3)) }
    #expect(all == Array(0..<10))
  }

  @Test("shards partition a batch, lengths differ by at most one", arguments: 1...5)
  func shards(size: Int) {
    for range in [0..<0, 0..<1, 3..<4, 10..<17, 100..<200, 7..<30] {
      let shards = (0..<size).map { EpochOrder.shard(of: range, rank: $0, size: size) }
      #expect(shards.first?.lowerBound == range.lowerBound)
      #expect(shards.last?.upperBound == range.upperBound)
      for r in 1..<size { #expect(shards[r - 1].upperBound == shards[r].lowerBound) }
      let lengths = shards.map(\.count)
      #expect(lengths.reduce(0, +) == range.count)
      #expect(lengths.max()! - lengths.min()! <= 1)
      // The first count % size shards are the longer ones.
      for (r, l) in lengths.enumerated() {
        #expect(l == range.count / size + (r < range.count % size ? 1 : 0))
      }
    }
  }
}
