import Foundation
import Testing

@testable import Datasets

private let fashionDirectory = DataSource.defaultFashionMNISTDirectory
private let fashionPresent =
  FileManager.default.fileExists(atPath: fashionDirectory + "/train-images-idx3-ubyte.gz")
  || FileManager.default.fileExists(atPath: fashionDirectory + "/train-images-idx3-ubyte")

@Suite("Real data")
struct RealDataTests {
  @Test(
    "Fashion-MNIST from /usr/share/datasets/fashion-mnist",
    .enabled(if: fashionPresent, "Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist (apt package dataset-fashion-mnist)"))
  func fashionMNIST() throws {
    let s = try DatasetSplits.load(.fashionMNIST, validation: .last(5000), trainLimit: nil)
    #expect(s.train.count == 55000)
    #expect(s.validation.count == 5000)
    #expect(s.test.count == 10000)
    #expect(s.train.count + s.validation.count == 60000)
    #expect(s.features == 784)
    #expect(s.train.shape == .mnist)
    #expect(s.train.pixels.count == 55000 * 784)
    // Fashion-MNIST is balanced: 6000 of each class in train+validation, 1000 in test.
    let counts = zip(s.train.classCounts(), s.validation.classCounts()).map { $0 + $1 }
    #expect(counts == [Int](repeating: 6000, count: 10))
    #expect(s.test.classCounts() == [Int](repeating: 1000, count: 10))
    #expect(s.train.labels.allSatisfy { (0...9).contains($0) })
    // Known first labels of the official files (Ankle boot, T-shirt, T-shirt; Ankle boot, Pullover).
    #expect(Array(s.train.labels.prefix(3)) == [9, 0, 0])
    #expect(Array(s.test.labels.prefix(2)) == [9, 2])
    // Mean pixel intensity of Fashion-MNIST is about 0.286.
    let meanIntensity = s.normalization.mean.reduce(0, +) / 784
    #expect(abs(meanIntensity - 0.286) < 0.005)
    #expect(s.normalization.std.allSatisfy { $0 >= 0 && $0 <= 0.5 })
  }
}
