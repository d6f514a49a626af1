import Foundation
import Testing

@testable import Datasets

@Suite("Feature normalization")
struct NormalizationTests {
  /// 4 samples x 3 features: feature 0 takes 0, 255, 0, 255; feature 1 is constant 51;
  /// feature 2 takes 0, 51, 102, 153.
  static func tiny() throws -> ImageSet {
    try ImageSet(
      pixels: [0, 51, 0, 255, 51, 51, 0, 51, 102, 255, 51, 153], labels: [0, 1, 2, 3],
      shape: ImageShape(height: 1, width: 3, channels: 1, layout: .grayscale))
  }

  @Test func meanAndPopulationStd() throws {
    let n = FeatureNormalization(computingOver: try Self.tiny())
    #expect(n.features == 3)
    #expect(abs(n.mean[0] - 0.5) < 1e-15)
    #expect(abs(n.std[0] - 0.5) < 1e-15)  // population std of {0, 1, 0, 1}
    #expect(abs(n.mean[1] - 0.2) < 1e-15)
    #expect(n.std[1] == 0)
    // {0, .2, .4, .6}: mean .3, population variance .05
    #expect(abs(n.mean[2] - 0.3) < 1e-15)
    #expect(abs(n.std[2] - 0.05.squareRoot()) < 1e-15)
  }

  @Test("a constant feature is centered only: invStd 1")
  func constantFeature() throws {
    let n = FeatureNormalization(computingOver: try Self.tiny())
    let inv = n.invStd
    #expect(abs(inv[0] - 2) < 1e-12)
    #expect(inv[1] == 1)
    #expect(abs(inv[2] - 1 / 0.05.squareRoot()) < 1e-12)
    let tinyStd = try FeatureNormalization(mean: [0, 0], std: [5e-7, 2e-6])
    #expect(tinyStd.invStd == [1, 1 / 2e-6])
    #expect(n.invStd(as: Float.self) == [2, 1, Float(1 / 0.05.squareRoot())])
    #expect(n.mean(as: Double.self) == n.mean)
  }

  @Test func savedValuesValidatedAndCodable() throws {
    let n = try FeatureNormalization(mean: [0.1, 0.2], std: [0.3, 0])
    #expect(n.mean == [0.1, 0.2] && n.std == [0.3, 0])
    #expect(throws: DatasetError.self) { try FeatureNormalization(mean: [0.1], std: [0.3, 0.4]) }
    #expect(throws: DatasetError.self) { try FeatureNormalization(mean: [0.1], std: [-1]) }
    #expect(throws: DatasetError.self) { try FeatureNormalization(mean: [.nan], std: [1]) }
    let data = try JSONEncoder().encode(n)
    #expect(try JSONDecoder().decode(FeatureNormalization.self, from: data) == n)
    let bad = Data(#"{"mean":[0.5],"std":[1,2]}"#.utf8)
    #expect(throws: DatasetError.self) { try JSONDecoder().decode(FeatureNormalization.self, from: bad) }
  }

  @Test("gather normalizes the chosen rows and copies their labels")
  func gather() throws {
    let set = try Self.tiny()
    let n = FeatureNormalization(computingOver: set)
    let mean = n.mean(as: Double.self)
    let inv = n.invStd(as: Double.self)
    let order = [3, 0, 2, 1]
    var x = [Double](repeating: .nan, count: 2 * 3)
    var y = [Int32](repeating: -1, count: 2)
    x.withUnsafeMutableBufferPointer { xb in
      y.withUnsafeMutableBufferPointer { yb in
        set.gather(indices: order[1..<3], mean: mean, invStd: inv, into: xb.baseAddress!, labels: yb.baseAddress!)
      }
    }
    #expect(y == [0, 2])
    // Sample 0: (0 - .5) * 2, (.2 - .2) * 1, (0 - .3) / sqrt(.05)
    // Sample 2: (0 - .5) * 2, 0, (.4 - .3) / sqrt(.05)
    let s = 0.05.squareRoot()
    let expected = [-1, 0, -0.3 / s, -1, 0, 0.1 / s]
    for (a, b) in zip(x, expected) { #expect(abs(a - b) < 1e-12, "\(x)") }
  }
}
