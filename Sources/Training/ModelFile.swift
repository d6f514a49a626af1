import Datasets
import Files
import Foundation
import LinearAlgebra
import NeuralNetwork

/// A trained model on disk: `model.safetensors` with weights stored `[out, in]` (PyTorch's and
/// the course's layout) named `layer1.weight`, `layer1.bias`, `layer1.gamma`, `layer1.beta`,
/// `layer1.running_mean`, `layer1.running_var`, ..., plus `input.mean` and `input.std`, the
/// training split's normalization. The metadata records the loss, BatchNorm's epsilon, the
/// image shape and how to use the model (`input_transform`, `forward`); the architecture itself
/// is read off the tensor shapes, so files written by other tools with the same names load too.
public enum ModelFile {
  /// What an input goes through before the first layer (the file's `input_transform`).
  public static let inputTransform =
    "x = pixels / 255 (one row per image, in the data set's byte order); x = (x - input.mean) / input.std, "
    + "except where input.std < \(FeatureNormalization.constantThreshold): there x = x - input.mean"
  /// The network (the file's `forward`).
  public static let forward =
    "h = x; for each layer l: h = h @ layer{l}.weight.T + layer{l}.bias; on hidden layers, with BatchNorm: "
    + "h = layer{l}.gamma * (h - layer{l}.running_mean) / sqrt(layer{l}.running_var + batch_norm_epsilon) + layer{l}.beta, "
    + "then h = max(h, 0); the class is argmax(h)"

  public static func save<T: Real>(_ model: MLP<T>, normalization: FeatureNormalization, imageShape: ImageShape?, to path: String) throws {
    var tensors: [(String, NamedTensor)] = []
    for slot in model.layout.slots {
      tensors.append((slot.name, NamedTensor(shape: slot.shape, values: model.parameters[slot.range].map(Double.init))))
    }
    for slot in model.stateLayout.slots {
      tensors.append((slot.name, NamedTensor(shape: slot.shape, values: model.state[slot.range].map(Double.init))))
    }
    tensors.append(("input.mean", NamedTensor(shape: [normalization.features], values: normalization.mean)))
    tensors.append(("input.std", NamedTensor(shape: [normalization.features], values: normalization.std)))
    var metadata = [
      "format": "dptrain", "version": dptrainVersion, "loss": model.architecture.loss.rawValue,
      "batch_norm_epsilon": "\(model.architecture.batchNormEpsilon)", "architecture": model.architecture.shapeDescription,
      "input_transform": inputTransform, "forward": forward,
    ]
    if let imageShape {
      metadata["image_shape"] = "\(imageShape.height),\(imageShape.width),\(imageShape.channels),\(imageShape.layout.rawValue)"
    }
    try SafeTensors.write(tensors, dtype: T.self == Float.self ? "F32" : "F64", metadata: metadata, to: path)
  }

  /// Loads a model; `loss` overrides the file's (the SVM and softmax nets share parameters).
  public static func load<T: Real>(_ path: String, as: T.Type, loss: LossFunction? = nil) throws -> (
    model: MLP<T>, normalization: FeatureNormalization
  ) {
    let (tensors, metadata) = try SafeTensors.read(path)
    func fail(_ problem: String) -> FileError { FileError(.malformed, path: path, problem: problem) }
    var widths: [Int] = []
    var l = 1
    while let w = tensors["layer\(l).weight"] {
      guard w.shape.count == 2 else { throw fail("layer\(l).weight has shape \(w.shape), expected [out, in]") }
      if l == 1 { widths.append(w.shape[1]) }
      guard w.shape[1] == widths.last! else {
        throw fail("layer\(l).weight has \(w.shape[1]) inputs but layer \(l - 1) has \(widths.last!) outputs")
      }
      widths.append(w.shape[0])
      l += 1
    }
    guard widths.count >= 2 else { throw fail("no tensor 'layer1.weight': not a dptrain model") }
    guard widths.allSatisfy({ $0 >= 1 }), widths.last! >= 2 else {
      throw fail("layer widths \(widths): every layer needs at least 1 unit and the last (the classes) at least 2")
    }
    let batchNorm = tensors["layer1.gamma"] != nil && widths.count > 2
    let lossFunction = loss ?? metadata["loss"].flatMap(LossFunction.init(rawValue:)) ?? .crossEntropy
    let epsilon = metadata["batch_norm_epsilon"].flatMap(Double.init) ?? Architecture.defaultBatchNormEpsilon
    guard epsilon.isFinite, T(epsilon) > 0 else {
      throw fail("metadata 'batch_norm_epsilon' is \(epsilon); expected a finite number > 0 in \(T.dtypeName)")
    }
    // Every value as training computes with it: a value beyond T's range becomes infinite.
    func finite(_ values: ArraySlice<T>, _ name: String) throws {
      if let i = values.firstIndex(where: { !$0.isFinite }) {
        throw fail(
          "tensor '\(name)' holds a non-finite value (\(values[i]) in \(T.dtypeName)) at index \(i - values.startIndex): a model that diverged?"
        )
      }
    }
    let architecture = Architecture(
      inputSize: widths[0], hidden: Array(widths.dropFirst().dropLast()), classes: widths.last!, batchNorm: batchNorm,
      loss: lossFunction, batchNormEpsilon: epsilon)
    var model = MLP<T>(architecture: architecture)
    for slot in model.layout.slots {
      guard let t = tensors[slot.name], t.shape == slot.shape else {
        throw fail("tensor '\(slot.name)' missing or not of shape \(slot.shape)")
      }
      for (i, v) in zip(slot.range, t.values) { model.parameters[i] = T(v) }
      try finite(model.parameters[slot.range], slot.name)
    }
    for slot in model.stateLayout.slots {
      guard let t = tensors[slot.name], t.shape == slot.shape else {
        throw fail("tensor '\(slot.name)' missing or not of shape \(slot.shape)")
      }
      for (i, v) in zip(slot.range, t.values) { model.state[i] = T(v) }
      try finite(model.state[slot.range], slot.name)
      if slot.kind == .runningVariance, let i = slot.range.first(where: { model.state[$0] < 0 }) {
        throw fail("tensor '\(slot.name)' holds a negative variance, \(model.state[i]), at index \(i - slot.range.lowerBound)")
      }
    }
    guard let mean = tensors["input.mean"], let std = tensors["input.std"], mean.values.count == widths[0], std.values.count == widths[0]
    else {
      throw fail("tensors 'input.mean' and 'input.std' of shape [\(widths[0])] are required (the training split's normalization)")
    }
    let normalization: FeatureNormalization
    do {
      normalization = try FeatureNormalization(mean: mean.values, std: std.values)
    } catch {
      throw fail("input normalization: \(error)")
    }
    return (model, normalization)
  }
}
