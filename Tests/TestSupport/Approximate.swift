import LinearAlgebra
import Testing

/// Largest `|a - e| / max(1, |e|)` (NaN-propagating) and its index.
public func worstScaledError(_ actual: [Double], _ expected: [Double]) -> (error: Double, index: Int) {
  precondition(actual.count == expected.count)
  var worst = 0.0
  var index = -1
  for i in actual.indices {
    let r = abs(actual[i] - expected[i]) / max(1, abs(expected[i]))
    if !(r <= worst) {
      worst = r
      index = i
    }
  }
  return (worst, index)
}

/// Expects `|a - e| <= tolerance * max(1, |e|)` element-wise; reports the worst element.
public func expectClose(
  _ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.count == expected.count, "\(what): count \(actual.count) vs \(expected.count)", sourceLocation: sourceLocation)
  guard actual.count == expected.count else { return }
  let (worst, i) = worstScaledError(actual, expected)
  #expect(
    worst <= tolerance,
    "\(what): scaled error \(worst) > \(tolerance) at index \(i): actual \(i >= 0 ? actual[i] : .nan) expected \(i >= 0 ? expected[i] : .nan)",
    sourceLocation: sourceLocation)
}

public func expectClose(
  _ actual: Double, _ expected: Double, tolerance: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  expectClose([actual], [expected], tolerance: tolerance, what, sourceLocation: sourceLocation)
}
