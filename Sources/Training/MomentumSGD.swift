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
    velocity = .zeros(layout.count)
  }

  /// Applies one update with learning rate `eta` from gradient SUMS over `batchCount` samples,
  /// to the elements in `range` (all by default; a rank's segment in a sharded update, where
  /// each rank updates its part and the parts are then gathered: the same arithmetic per
  /// element, so the same bits as every rank updating everything).
  public mutating func step(
    parameters: inout [T], layout: ParameterLayout, gradientSums: UnsafePointer<T>, batchCount: Int, eta: Double,
    range: Range<Int>? = nil
  ) {
    step(parameters: &parameters, layout: layout, gradientSumAddends: [gradientSums], batchCount: batchCount, eta: eta, range: range)
  }

  /// `step` with the gradient sums given as addends: the element-wise sum of the buffers
  /// (each `layout.count` values), added in order while updating. Every rank's gradients, read
  /// in place: the reduction and the update in one pass, with the bits of reducing first.
  public mutating func step(
    parameters: inout [T], layout: ParameterLayout, gradientSumAddends addends: [UnsafePointer<T>], batchCount: Int, eta: Double,
    range: Range<Int>? = nil
  ) {
    precondition(!addends.isEmpty, "no gradient sums")
    let inverse = 1 / T(batchCount)
    let etaT = T(eta)
    let rho = T(momentum)
    let decay = T(2 * lambda)
    let range = range ?? 0..<layout.count
    withUnsafeTemporaryAllocation(of: UnsafePointer<T>?.self, capacity: addends.count) { operands in
      parameters.withUnsafeMutableBufferPointer { p in
        velocity.withUnsafeMutableBufferPointer { v in
          for slot in layout.slots {
            let part = slot.range.clamped(to: range)
            guard !part.isEmpty else { continue }
            for (i, sums) in addends.enumerated() { operands[i] = sums + part.lowerBound }
            T.momentumStep(
              theta: p.baseAddress! + part.lowerBound, velocity: v.baseAddress! + part.lowerBound,
              gradientSums: UnsafePointer(operands.baseAddress!), operands: addends.count, count: part.count,
              inverseBatch: inverse, decay: slot.kind == .weight ? decay : 0, eta: etaT, rho: rho)
          }
        }
      }
    }
  }
}
