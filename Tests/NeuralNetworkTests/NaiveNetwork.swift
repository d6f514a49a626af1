import LinearAlgebra
import NeuralNetwork

/// A direct, loop-based Double implementation of the network family (FORMAT.md's equations,
/// with the hidden bias INSIDE z as the course writes it), independent of `MLP`'s BLAS path.
/// Used to cross-check `MLP.forward` on random models and to measure how far a random case is
/// from the non-differentiable points of ReLU and the hinge.
struct NaiveNetwork {
  let architecture: Architecture
  let layout: ParameterLayout
  let stateLayout: ParameterLayout
  let parameters: [Double]
  let state: [Double]

  init(_ model: MLP<Double>) {
    architecture = model.architecture
    layout = model.layout
    stateLayout = model.stateLayout
    parameters = model.parameters
    state = model.state
  }

  func tensor(_ name: String) -> [Double] {
    let slot = layout.slot(named: name)!
    return Array(parameters[slot.range])
  }

  func stateTensor(_ name: String) -> [Double] {
    let slot = stateLayout.slot(named: name)!
    return Array(state[slot.range])
  }

  /// Logits `[n, C]` and the smallest |ReLU input| over all hidden units and rows.
  func forward(_ x: [Double], rows n: Int, training: Bool) -> (logits: [Double], minReLUInput: Double) {
    let sizes = architecture.sizes
    var a = x
    var minInput = Double.infinity
    for l in 1..<sizes.count {
      let fanIn = sizes[l - 1]
      let fanOut = sizes[l]
      let W = tensor("layer\(l).weight")
      let b = tensor("layer\(l).bias")
      var z = [Double](repeating: 0, count: n * fanOut)
      for i in 0..<n {
        for j in 0..<fanOut {
          var s = b[j]
          for k in 0..<fanIn { s += a[i * fanIn + k] * W[j * fanIn + k] }
          z[i * fanOut + j] = s
        }
      }
      if l == sizes.count - 1 { return (z, minInput) }
      if architecture.batchNorm {
        let gamma = tensor("layer\(l).gamma")
        let beta = tensor("layer\(l).beta")
        var mu = [Double](repeating: 0, count: fanOut)
        var v = mu
        if training {
          for j in 0..<fanOut {
            for i in 0..<n { mu[j] += z[i * fanOut + j] }
            mu[j] /= Double(n)
            for i in 0..<n { v[j] += (z[i * fanOut + j] - mu[j]) * (z[i * fanOut + j] - mu[j]) }
            v[j] /= Double(n)
          }
        } else {
          mu = stateTensor("layer\(l).running_mean")
          v = stateTensor("layer\(l).running_var")
        }
        for i in 0..<n {
          for j in 0..<fanOut {
            z[i * fanOut + j] = gamma[j] * (z[i * fanOut + j] - mu[j]) / (v[j] + architecture.batchNormEpsilon).squareRoot() + beta[j]
          }
        }
      }
      minInput = min(minInput, z.map(abs).min() ?? .infinity)
      a = z.map { max($0, 0) }
    }
    fatalError("unreachable")
  }

  /// Smallest |margin| `s_j - s_y + 1` over `j != y` (hinge kinks).
  func minHingeMargin(_ logits: [Double], _ labels: [Int32]) -> Double {
    let c = architecture.classes
    var m = Double.infinity
    for (i, y) in labels.enumerated() {
      for j in 0..<c where j != Int(y) { m = min(m, abs(logits[i * c + j] - logits[i * c + Int(y)] + 1)) }
    }
    return m
  }
}
