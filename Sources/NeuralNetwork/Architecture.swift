/// The loss on the output scores.
public enum LossFunction: String, Codable, Sendable, CaseIterable {
  /// Softmax followed by cross-entropy: `l = -log softmax(s)_y`.
  case crossEntropy = "cross-entropy"
  /// Multiclass SVM (hinge) loss, margin 1: `l = sum_{j != y} max(0, s_j - s_y + 1)`.
  case svm
}

/// Weight initialization; biases and beta start at 0, gamma at 1.
public enum Initialization: Codable, Sendable, Equatable, CustomStringConvertible {
  /// `N(0, 2 / fan_in)` (He et al. 2015), for ReLU networks.
  case he
  /// `N(0, 1 / fan_in)`, the course's "Xavier" (Glorot & Bengio 2010 for symmetric activations).
  case xavier
  /// `N(0, sigma^2)`, e.g. `gaussian:0.001` as in the course's first assignment.
  case gaussian(sigma: Double)

  /// Parses `he`, `xavier` or `gaussian:SIGMA`.
  public init?(argument: String) {
    switch argument {
    case "he": self = .he
    case "xavier": self = .xavier
    default:
      guard argument.hasPrefix("gaussian:"), let s = Double(argument.dropFirst(9)), s > 0, s.isFinite else { return nil }
      self = .gaussian(sigma: s)
    }
  }

  public var description: String {
    switch self {
    case .he: "he"
    case .xavier: "xavier"
    case .gaussian(let s): "gaussian:\(s)"
    }
  }

  /// The standard deviation of a weight of a layer with `fanIn` inputs.
  public func standardDeviation(fanIn: Int) -> Double {
    switch self {
    case .he: (2.0 / Double(fanIn)).squareRoot()
    case .xavier: (1.0 / Double(fanIn)).squareRoot()
    case .gaussian(let s): s
    }
  }
}

/// The DD2424 network family: `(Linear -> [BatchNorm] -> ReLU)^k -> Linear -> softmax | scores`.
public struct Architecture: Codable, Sendable, Equatable {
  /// Number of input features `d` (784 for MNIST-like data, 3072 for CIFAR-10).
  public var inputSize: Int
  /// Widths of the hidden layers; empty for the 1-layer network.
  public var hidden: [Int]
  /// Number of classes `C`.
  public var classes: Int
  public var batchNorm: Bool
  public var loss: LossFunction
  /// The epsilon added to the batch variance: `xhat = (z - mu) / sqrt(var + epsilon)`.
  public var batchNormEpsilon: Double

  public static let defaultBatchNormEpsilon = 1e-5

  public init(
    inputSize: Int, hidden: [Int], classes: Int, batchNorm: Bool = false, loss: LossFunction = .crossEntropy,
    batchNormEpsilon: Double = Architecture.defaultBatchNormEpsilon
  ) {
    precondition(inputSize > 0 && classes > 1 && hidden.allSatisfy { $0 > 0 }, "invalid architecture \(inputSize) \(hidden) \(classes)")
    self.inputSize = inputSize
    self.hidden = hidden
    self.classes = classes
    self.batchNorm = batchNorm
    self.loss = loss
    self.batchNormEpsilon = batchNormEpsilon
  }

  /// `[d, h1, ..., hk, C]`.
  public var sizes: [Int] { [inputSize] + hidden + [classes] }
  public var layerCount: Int { hidden.count + 1 }
  /// The widest activation, for workspace sizing.
  public var maxWidth: Int { sizes.max()! }

  /// `d-h1-...-C`, as the course writes networks (e.g. `784-256-128-10`).
  public var shapeDescription: String { sizes.map(String.init).joined(separator: "-") }

  /// Multiply-adds of one sample's forward pass.
  public var forwardMultiplyAdds: Int { zip(sizes, sizes.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 } }
  /// FLOPs of the matrix products of one training step per sample: forward, weight gradients,
  /// and input gradients of every layer but the first.
  public var trainingFlopsPerSample: Int {
    let pairs = Array(zip(sizes, sizes.dropFirst()))
    let backwardInput = pairs.dropFirst().reduce(0) { $0 + $1.0 * $1.1 }
    return 2 * (2 * forwardMultiplyAdds + backwardInput)
  }

  /// Parameters layout: for layer l, `weight [out, in]`, `bias [out]`, and for hidden layers
  /// with BatchNorm `gamma [out]`, `beta [out]`.
  public func parameterLayout() -> ParameterLayout {
    var layout = ParameterLayout()
    let s = sizes
    for l in 1...layerCount {
      layout.append(layer: l, kind: .weight, shape: [s[l], s[l - 1]])
      layout.append(layer: l, kind: .bias, shape: [s[l]])
      if batchNorm && l < layerCount {
        layout.append(layer: l, kind: .gamma, shape: [s[l]])
        layout.append(layer: l, kind: .beta, shape: [s[l]])
      }
    }
    return layout
  }

  /// BatchNorm state layout: `running_mean [out]`, `running_var [out]` per hidden layer.
  public func stateLayout() -> ParameterLayout {
    var layout = ParameterLayout()
    guard batchNorm else { return layout }
    for l in 1..<layerCount {
      layout.append(layer: l, kind: .runningMean, shape: [sizes[l]])
      layout.append(layer: l, kind: .runningVariance, shape: [sizes[l]])
    }
    return layout
  }
}
