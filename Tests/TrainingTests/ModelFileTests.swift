import Datasets
import Foundation
import NeuralNetwork
import Testing
import Training

/// Models read from files (`--init-model`, `evaluate`) are finite and their variances are not
/// negative: a bad tensor is refused, named, before anything trains or evaluates on it.
struct ModelFileTests {
  static func saved(batchNorm: Bool, change: (inout MLP<Float>) -> Void) throws -> String {
    var model = MLP<Float>(
      architecture: Architecture(inputSize: 6, hidden: [4], classes: 3, batchNorm: batchNorm), initialization: .he, seed: 1)
    change(&model)
    let path = NSTemporaryDirectory() + "dptrain-model-\(UUID().uuidString).safetensors"
    let normalization = try FeatureNormalization(mean: [Double](repeating: 0.5, count: 6), std: [Double](repeating: 1, count: 6))
    try ModelFile.save(model, normalization: normalization, imageShape: nil, to: path)
    return path
  }

  @Test func aFiniteModelIsReadBack() throws {
    let path = try Self.saved(batchNorm: true) { _ in }
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (model, _) = try ModelFile.load(path, as: Float.self)
    #expect(model.architecture.hidden == [4] && model.architecture.batchNorm)
  }

  @Test(arguments: [Float.nan, .infinity])
  func aNonFiniteWeightIsRefusedNamingTheTensor(_ value: Float) throws {
    let path = try Self.saved(batchNorm: false) { m in
      let slot = m.layout.slots.first { $0.name == "layer2.weight" }!
      m.parameters[slot.offset + 5] = value
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect { try ModelFile.load(path, as: Float.self) } throws: {
      "\($0)".contains("tensor 'layer2.weight' holds a non-finite value (\(value) in float32) at index 5")
    }
  }

  @Test func aNegativeRunningVarianceIsRefused() throws {
    let path = try Self.saved(batchNorm: true) { m in
      let slot = m.stateLayout.slots.first { $0.name == "layer1.running_var" }!
      m.state[slot.offset + 2] = -0.5
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect { try ModelFile.load(path, as: Float.self) } throws: {
      "\($0)".contains("tensor 'layer1.running_var' holds a negative variance, -0.5, at index 2")
    }
  }

  /// A double model whose weight is beyond float's range is infinite once read as float.
  @Test func aValueBeyondTheTrainingPrecisionIsRefused() throws {
    var model = MLP<Double>(architecture: Architecture(inputSize: 6, hidden: [4], classes: 3), initialization: .he, seed: 1)
    model.parameters[0] = 1e300
    let path = NSTemporaryDirectory() + "dptrain-model-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ModelFile.save(
      model, normalization: try FeatureNormalization(mean: [Double](repeating: 0, count: 6), std: [Double](repeating: 1, count: 6)),
      imageShape: nil, to: path)
    #expect(throws: Never.self) { try ModelFile.load(path, as: Double.self) }
    #expect { try ModelFile.load(path, as: Float.self) } throws: {
      "\($0)".contains("tensor 'layer1.weight' holds a non-finite value (inf in float32)")
    }
  }
}
