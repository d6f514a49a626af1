import Foundation
import LinearAlgebra
import NeuralNetwork
import Testing

// Reader of the JSON fixtures written by scripts/reference.py (schema: Fixtures/FORMAT.md).
// TrainingTests has its own copy of this file, since test targets cannot import each other.

struct FixtureTensor: Decodable {
  var shape: [Int]
  var data: [Double]
}

struct FixtureConfig: Decodable {
  var sizes: [Int]
  var batchNorm: Bool
  var loss: String
  var lambda: Double
  var eps: Double
  var alpha: Double
  var eta: Double
  var rho: Double
  enum CodingKeys: String, CodingKey {
    case sizes, batchNorm = "batch_norm", loss, lambda, eps, alpha, eta, rho
  }
}

struct FixtureExpected: Decodable {
  var logits: FixtureTensor
  var loss: Double
  var cost: Double
  var accuracy: Double
  var gradients: [String: FixtureTensor]
}

struct FixtureBatch: Decodable {
  var x: FixtureTensor
  var labels: [Int]
}

struct FixtureSteps: Decodable {
  var batches: [FixtureBatch]
  var loss: [Double]
  var cost: [Double]
  var parameters: [String: FixtureTensor]
  var velocities: [String: FixtureTensor]
  var inferenceLogits: FixtureTensor
  enum CodingKeys: String, CodingKey {
    case batches, loss, cost, parameters, velocities, inferenceLogits = "inference_logits"
  }
}

struct Fixture: Decodable {
  var name: String
  var config: FixtureConfig
  var x: FixtureTensor
  var labels: [Int]
  var parameters: [String: FixtureTensor]
  var expected: FixtureExpected
  var steps: FixtureSteps

  static let names = ["mlp1_ce", "mlp1_svm", "mlp2_ce", "mlp2_ce_bn", "mlp3_svm_bn", "mlp4_ce_bn"]

  static func load(_ name: String, directory: URL) throws -> Fixture {
    let data = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
    return try JSONDecoder().decode(Fixture.self, from: data)
  }

  var rows: Int { labels.count }
  var int32Labels: [Int32] { labels.map(Int32.init) }

  var architecture: Architecture {
    let s = config.sizes
    return Architecture(
      inputSize: s[0], hidden: Array(s[1..<(s.count - 1)]), classes: s[s.count - 1], batchNorm: config.batchNorm,
      loss: LossFunction(rawValue: config.loss)!, batchNormEpsilon: config.eps)
  }

  /// The model at the fixture's initial parameters and running averages.
  func model<T: Real>(_: T.Type) -> MLP<T> {
    var model = MLP<T>(architecture: architecture)
    for slot in model.layout.slots {
      let t = parameters[slot.name]!
      precondition(t.shape == slot.shape, "\(slot.name): shape \(t.shape) vs \(slot.shape)")
      for (k, v) in t.data.enumerated() { model.parameters[slot.offset + k] = T(v) }
    }
    for slot in model.stateLayout.slots {
      let t = parameters[slot.name]!
      precondition(t.shape == slot.shape, "\(slot.name): shape \(t.shape) vs \(slot.shape)")
      for (k, v) in t.data.enumerated() { model.state[slot.offset + k] = T(v) }
    }
    return model
  }
}

/// Largest `|a - e| / max(1, |e|)` (NaN-propagating) and its index.
func worstScaledError(_ actual: [Double], _ expected: [Double]) -> (error: Double, index: Int) {
  precondition(actual.count == expected.count)
  var worst = 0.0, index = -1
  for i in actual.indices {
    let r = abs(actual[i] - expected[i]) / max(1, abs(expected[i]))
    if !(r <= worst) { worst = r; index = i }
  }
  return (worst, index)
}

/// Expects `|a - e| <= tolerance * max(1, |e|)` element-wise; reports the worst element.
func expectClose(
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

func expectClose(_ actual: Double, _ expected: Double, tolerance: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  expectClose([actual], [expected], tolerance: tolerance, what, sourceLocation: sourceLocation)
}
