import Foundation
import LinearAlgebra
import NeuralNetwork
import Testing

// Reader of the JSON fixtures written by scripts/reference.py (schema: Fixtures/FORMAT.md).

public struct FixtureTensor: Decodable {
  public var shape: [Int]
  public var data: [Double]
}

public struct FixtureConfig: Decodable {
  public var sizes: [Int]
  public var batchNorm: Bool
  public var loss: String
  public var lambda: Double
  public var eps: Double
  public var alpha: Double
  public var eta: Double
  public var rho: Double
  enum CodingKeys: String, CodingKey {
    case sizes
    case batchNorm = "batch_norm"
    case loss, lambda, eps, alpha, eta, rho
  }
}

public struct FixtureExpected: Decodable {
  public var logits: FixtureTensor
  public var loss: Double
  public var cost: Double
  public var accuracy: Double
  public var gradients: [String: FixtureTensor]
}

public struct FixtureBatch: Decodable {
  public var x: FixtureTensor
  public var labels: [Int]
}

public struct FixtureSteps: Decodable {
  public var batches: [FixtureBatch]
  public var loss: [Double]
  public var cost: [Double]
  public var parameters: [String: FixtureTensor]
  public var velocities: [String: FixtureTensor]
  public var inferenceLogits: FixtureTensor
  enum CodingKeys: String, CodingKey {
    case batches, loss, cost, parameters, velocities
    case inferenceLogits = "inference_logits"
  }
}

public struct Fixture: Decodable {
  public var name: String
  public var config: FixtureConfig
  public var x: FixtureTensor
  public var labels: [Int]
  public var parameters: [String: FixtureTensor]
  public var expected: FixtureExpected
  public var steps: FixtureSteps

  public static let names = ["mlp1_ce", "mlp1_svm", "mlp2_ce", "mlp2_ce_bn", "mlp3_svm_bn", "mlp4_ce_bn"]

  public static func load(_ name: String, directory: URL) throws -> Fixture {
    let data = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
    return try JSONDecoder().decode(Fixture.self, from: data)
  }

  public var rows: Int { labels.count }
  public var int32Labels: [Int32] { labels.map(Int32.init) }

  public var architecture: Architecture {
    let s = config.sizes
    return Architecture(
      inputSize: s[0], hidden: Array(s[1..<(s.count - 1)]), classes: s[s.count - 1], batchNorm: config.batchNorm,
      loss: LossFunction(rawValue: config.loss)!, batchNormEpsilon: config.eps)
  }

  /// The model at the fixture's initial parameters and running averages.
  public func model<T: Real>(_: T.Type) -> MLP<T> {
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

extension Fixture {
  /// `Tests/NeuralNetworkTests/Fixtures`, found from this file's path (shared by every test target).
  public static let directory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("NeuralNetworkTests/Fixtures")
}
