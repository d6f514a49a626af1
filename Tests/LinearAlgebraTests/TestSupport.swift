import LinearAlgebra
import TestSupport
import Testing

/// Values in [-scale, scale) from a seeded stream, as `T`.
func randomValues<T: Real>(_ count: Int, seed: UInt64, scale: Double = 1, as: T.Type = T.self) -> [T] {
  var rng = SeededGenerator(seed: seed)
  return (0..<count).map { _ in T((2 * rng.nextUnit() - 1) * scale) }
}

func randomLabels(_ count: Int, classes: Int, seed: UInt64) -> [Int32] {
  var rng = SeededGenerator(seed: seed, stream: 99)
  return (0..<count).map { _ in Int32(rng.nextBelow(classes)) }
}

/// Tolerance of a scalar type for kernel results compared with Double loops.
func tolerance<T: Real>(_: T.Type) -> Double { T.self == Float.self ? 2e-5 : 1e-13 }

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
func Foundation_exp(_ x: Double) -> Double { exp(x) }
func Foundation_log(_ x: Double) -> Double { log(x) }
