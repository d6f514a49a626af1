import LinearAlgebra
import NeuralNetwork

/// Mini-batch SGD with momentum in the course's form,
///     v = rho * v + eta * g,    theta = theta - v,
/// where `g = (gradient sum) / (global batch count) + 2 lambda theta` for weights and the plain
/// mean gradient for biases, gamma and beta (the L2 penalty is on weights only). `rho = 0` is
/// plain SGD. One fused pass over the flat buffers per slot.
public struct MomentumSGD<T: Real> {
  public var momentum: Double
  public var lambda: Double
  /// `layout.count` values, in the parameters' layout.
  public var velocity: [T]

  public init(layout: ParameterLayout, momentum: Double, lambda: Double) {
    self.momentum = momentum
    self.lambda = lambda
    velocity = [T](repeating: 0, count: layout.count)
  }

  /// Applies one update with learning rate `eta` from gradient SUMS over `batchCount` samples.
  public mutating func step(
    parameters: inout [T], layout: ParameterLayout, gradientSums: UnsafePointer<T>, batchCount: Int, eta: Double
  ) {
    let inverse = 1 / T(batchCount), etaT = T(eta), rho = T(momentum), decay = T(2 * lambda)
    parameters.withUnsafeMutableBufferPointer { p in
      velocity.withUnsafeMutableBufferPointer { v in
        for slot in layout.slots {
          T.momentumStep(
            theta: p.baseAddress! + slot.offset, velocity: v.baseAddress! + slot.offset,
            gradientSum: gradientSums + slot.offset, count: slot.count, inverseBatch: inverse,
            decay: slot.kind == .weight ? decay : 0, eta: etaT, rho: rho)
        }
      }
    }
  }
}
