import ArgumentParser
import Datasets
import Foundation
import LinearAlgebra
import NeuralNetwork
import Training

struct Evaluate: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print the test loss and accuracy of a saved model.")

  @Option(help: ArgumentHelp("A model.safetensors written by dptrain train.", valueName: "FILE"))
  var model: String

  @OptionGroup(title: "Data") var dataOptions: DataOptions

  @Option(help: ArgumentHelp("Loss to report: cross-entropy or svm (default: the model's).", valueName: "LOSS"))
  var loss: String?

  @OptionGroup(title: "Matrix products") var gemmOptions: GEMMOptions

  func validate() throws {
    guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model: no file at \(model)") }
    if let loss, LossFunction(rawValue: loss) == nil { throw ValidationError("--loss: '\(loss)' should be cross-entropy or svm") }
  }

  func run() throws {
    BLAS.setThreads(1)
    _ = try gemmOptions.select(Float.self, printing: true)
    let (network, normalization) = try ModelFile.load(model, as: Float.self, loss: loss.flatMap(LossFunction.init(rawValue:)))
    let data = try usage { try dataOptions.load() }
    guard data.features == network.architecture.inputSize, data.classes == network.architecture.classes else {
      throw ValidationError(
        "--model \(model) takes \(network.architecture.inputSize) inputs and \(network.architecture.classes) classes, but --data \(data.source) has \(data.features) and \(data.classes)"
      )
    }
    let metrics = try Evaluation.evaluate(
      model: network, set: data.test, mean: normalization.mean(as: Float.self), invStd: normalization.invStd(as: Float.self), lambda: 0)
    print(
      String(
        format: "test loss %.6f  test accuracy %.4f  (%d samples, %@)", metrics.loss, metrics.accuracy, data.test.count,
        network.architecture.shapeDescription))
  }
}
