/// xoshiro256** (Blackman & Vigna 2018), seeded through SplitMix64: a small, fast generator
/// whose stream is a pure function of its seed on every platform, so the same seed gives the
/// same initial weights and the same batch order everywhere. Its state is four words, so it
/// can be saved and restored exactly.
public struct SeededGenerator: RandomNumberGenerator, Codable, Sendable, Equatable {
  public var state: [UInt64]

  /// A generator for `seed`, optionally on an independent `stream` (e.g. the epoch number):
  /// streams are separated by mixing `stream` into the seed through SplitMix64.
  public init(seed: UInt64, stream: UInt64 = 0) {
    var sm = SplitMix64(state: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
    if stream != 0 { _ = sm.next() }
    state = [sm.next(), sm.next(), sm.next(), sm.next()]
  }

  @inline(__always)
  public mutating func next() -> UInt64 {
    let result = rotl(state[1] &* 5, 7) &* 9
    let t = state[1] << 17
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = rotl(state[3], 45)
    return result
  }

  /// Uniform in [0, 1) with 53 random bits.
  @inline(__always)
  public mutating func nextUnit() -> Double {
    Double(next() >> 11) * 0x1.0p-53
  }

  /// Uniform integer in `0..<bound` without modulo bias (Lemire 2019).
  public mutating func nextBelow(_ bound: Int) -> Int {
    precondition(bound > 0, "bound must be positive, got \(bound)")
    let b = UInt64(bound)
    var m = next().multipliedFullWidth(by: b)
    if m.low < b {
      let threshold = (0 &- b) % b
      while m.low < threshold { m = next().multipliedFullWidth(by: b) }
    }
    return Int(m.high)
  }

  /// Standard normal by the Box-Muller transform (one of the pair; simple and reproducible).
  public mutating func nextGaussian() -> Double {
    var u1 = nextUnit()
    while u1 <= 0 { u1 = nextUnit() }
    let u2 = nextUnit()
    return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
  }

  /// A uniformly random permutation of `0..<count` (Fisher-Yates).
  public mutating func permutation(_ count: Int) -> [Int] {
    var p = Array(0..<count)
    if count > 1 {
      for i in stride(from: count - 1, to: 0, by: -1) {
        p.swapAt(i, nextBelow(i + 1))
      }
    }
    return p
  }
}

@inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
@inline(__always) private func _log(_ x: Double) -> Double { log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { cos(x) }
