import LinearAlgebra
import NeuralNetwork
import Testing
import Training

@Suite("MomentumSGD")
struct MomentumSGDTests {
  static let architecture = Architecture(inputSize: 3, hidden: [2], classes: 2, batchNorm: true)

  @Test("L2 only on weights; gradient sums divided by the batch count; rho = 0 is plain SGD", arguments: [0.0, 0.9])
  func step(rho: Double) {
    let layout = Self.architecture.parameterLayout()
    var theta = (0..<layout.count).map { Double($0 % 5) - 1.5 }
    let sums = (0..<layout.count).map { 0.25 * Double($0) }
    var opt = MomentumSGD<Double>(layout: layout, momentum: rho, lambda: 0.1)
    #expect(opt.velocity == [Double](repeating: 0, count: layout.count))
    var expectedTheta = theta
    var expectedV = opt.velocity
    for _ in 0..<2 {
      for slot in layout.slots {
        for i in slot.range {
          let g = sums[i] / 4 + (slot.kind == .weight ? 2 * 0.1 * expectedTheta[i] : 0)
          if rho == 0 {
            expectedTheta[i] -= 0.05 * g
          } else {
            expectedV[i] = rho * expectedV[i] + 0.05 * g
            expectedTheta[i] -= expectedV[i]
          }
        }
      }
      opt.step(parameters: &theta, layout: layout, gradientSums: sums, batchCount: 4, eta: 0.05)
    }
    for i in theta.indices { #expect(abs(theta[i] - expectedTheta[i]) < 1e-14, "theta[\(i)]") }
    #expect(opt.velocity.indices.allSatisfy { abs(opt.velocity[$0] - expectedV[$0]) < 1e-14 })
  }
}
