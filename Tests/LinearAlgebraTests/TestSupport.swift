import LinearAlgebra
import Testing

/// Largest `|a - e| / max(1, |e|)` over two arrays (NaN if any comparison is NaN), and where.
func worstScaledError(_ actual: [Double], _ expected: [Double]) -> (error: Double, index: Int) {
  precondition(actual.count == expected.count)
  var worst = 0.0, index = -1
  for i in actual.indices {
    let r = abs(actual[i] - expected[i]) / max(1, abs(expected[i]))
    if !(r <= worst) { worst = r; index = i }
  }
  return (worst, index)
}

func expectClose(
  _ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.count == expected.count, "\(what): count \(actual.count) vs \(expected.count)", sourceLocation: sourceLocation)
  guard actual.count == expected.count else { return }
  let (worst, i) = worstScaledError(actual, expected)
  #expect(
    worst <= tolerance,
    "\(what): scaled error \(worst) > \(tolerance) at \(i): actual \(i >= 0 ? actual[i] : .nan) expected \(i >= 0 ? expected[i] : .nan)",
    sourceLocation: sourceLocation)
}

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
