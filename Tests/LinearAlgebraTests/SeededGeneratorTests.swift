import Foundation
import LinearAlgebra
import Testing

@Suite("SeededGenerator")
struct SeededGeneratorTests {
  @Test("known answers: SplitMix64-seeded xoshiro256** (independent Python implementation)")
  func knownAnswers() {
    var g0 = SeededGenerator(seed: 0)
    #expect((0..<4).map { _ in g0.next() } == [0x99ec_5f36_cb75_f2b4, 0xbf6e_1f78_4956_452a, 0x1a5f_849d_4933_e6e0, 0x6aa5_94f1_262d_2d2c])
    var g42 = SeededGenerator(seed: 42)
    #expect(
      (0..<4).map { _ in g42.next() } == [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1, 0xecb8_ad47_03b3_60a1])
    var s3 = SeededGenerator(seed: 42, stream: 3)
    #expect((0..<4).map { _ in s3.next() } == [0x5307_6cf2_1a32_2390, 0x7d1e_ec5a_a466_3a20, 0x62d7_ff33_6240_4a08, 0x80aa_0cf9_48f6_14d7])
  }

  @Test("same seed and stream give the same stream", arguments: [UInt64(0), 1, 0xDEAD_BEEF], [UInt64(0), 5])
  func reproducible(seed: UInt64, stream: UInt64) {
    var a = SeededGenerator(seed: seed, stream: stream)
    var b = SeededGenerator(seed: seed, stream: stream)
    #expect(a == b)
    let xa = (0..<1000).map { _ in a.next() }
    let xb = (0..<1000).map { _ in b.next() }
    #expect(xa == xb)
    #expect(Set(xa).count == 1000, "a 64-bit stream should not repeat within 1000 draws")
  }

  @Test("different streams and different seeds give different streams")
  func independentStreams() {
    func draws(_ seed: UInt64, _ stream: UInt64) -> [UInt64] {
      var g = SeededGenerator(seed: seed, stream: stream)
      return (0..<100).map { _ in g.next() }
    }
    let base = draws(7, 0)
    for (seed, stream) in [(UInt64(7), UInt64(1)), (7, 2), (8, 0), (6, 0), (7, 0x6C4E)] {
      let other = draws(seed, stream)
      #expect(other != base, "seed \(seed) stream \(stream) equals seed 7 stream 0")
      #expect(Set(other).isDisjoint(with: base), "seed \(seed) stream \(stream) overlaps seed 7 stream 0")
    }
    #expect(Set(draws(7, 1)).isDisjoint(with: draws(7, 2)))
  }

  @Test("state round-trips through Codable and continues the same stream")
  func codableState() throws {
    var g = SeededGenerator(seed: 123, stream: 4)
    for _ in 0..<10 { _ = g.next() }
    let data = try JSONEncoder().encode(g)
    var h = try JSONDecoder().decode(SeededGenerator.self, from: data)
    #expect(h == g)
    #expect((0..<50).map { _ in h.next() } == (0..<50).map { _ in g.next() })
  }

  @Test("permutation is a permutation", arguments: [0, 1, 2, 10, 1000])
  func permutation(count: Int) {
    var g = SeededGenerator(seed: 99)
    let p = g.permutation(count)
    #expect(p.count == count)
    #expect(p.sorted() == Array(0..<count))
    var g2 = SeededGenerator(seed: 99)
    #expect(g2.permutation(count) == p)
    if count >= 10 {
      #expect(p != Array(0..<count), "a permutation of \(count) should not be the identity")
      let q = g.permutation(count)
      #expect(q != p, "consecutive permutations should differ")
    }
  }

  @Test("permutation is roughly uniform: each of 3! orders about 1/6 of the time")
  func permutationUniform() {
    var g = SeededGenerator(seed: 5)
    var counts: [[Int]: Int] = [:]
    let trials = 60_000
    for _ in 0..<trials { counts[g.permutation(3), default: 0] += 1 }
    #expect(counts.count == 6)
    for (p, c) in counts { #expect(abs(c - trials / 6) < 500, "order \(p): \(c) of \(trials)") }
  }

  @Test("nextBelow stays in range and covers it evenly", arguments: [1, 2, 7, 10, 1 << 40])
  func nextBelow(bound: Int) {
    var g = SeededGenerator(seed: 2024)
    let draws = 70_000
    var counts = [Int](repeating: 0, count: min(bound, 10))
    for _ in 0..<draws {
      let v = g.nextBelow(bound)
      #expect(v >= 0 && v < bound, "nextBelow(\(bound)) returned \(v)")
      if bound <= 10 { counts[v] += 1 }
    }
    if bound <= 10 {
      let expected = Double(draws) / Double(bound)
      for (v, c) in counts.enumerated() { #expect(abs(Double(c) - expected) < 0.05 * expected, "value \(v): \(c), expected \(expected)") }
    }
  }

  @Test("nextUnit is in [0, 1) with mean 1/2")
  func nextUnit() {
    var g = SeededGenerator(seed: 31)
    var sum = 0.0
    for _ in 0..<100_000 {
      let u = g.nextUnit()
      #expect(u >= 0 && u < 1)
      sum += u
    }
    #expect(abs(sum / 100_000 - 0.5) < 0.005)
  }

  @Test("nextGaussian has mean 0 and variance 1 over 100k draws", arguments: [UInt64(1), 77])
  func gaussian(seed: UInt64) {
    var g = SeededGenerator(seed: seed)
    let n = 100_000
    let x = (0..<n).map { _ in g.nextGaussian() }
    let mean = x.reduce(0, +) / Double(n)
    let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
    let fourth = x.reduce(0) { $0 + pow($1 - mean, 4) } / Double(n)
    #expect(x.allSatisfy { $0.isFinite })
    #expect(abs(mean) < 0.02, "mean \(mean)")
    #expect(abs(variance - 1) < 0.02, "variance \(variance)")
    #expect(abs(fourth - 3) < 0.15, "fourth moment \(fourth), Gaussian 3")
    let within1 = Double(x.filter { abs($0) < 1 }.count) / Double(n)
    #expect(abs(within1 - 0.6827) < 0.01, "P(|x| < 1) = \(within1)")
  }
}
