import Testing
import Training

@Suite("Learning-rate schedules")
struct ScheduleTests {
  static let cyclical = LearningRateSchedule.cyclical(etaMin: 1e-5, etaMax: 1e-1, stepSize: 500)
  static let ends: [(Int, Double)] = [(0, 1e-5), (500, 1e-1), (1000, 1e-5), (1500, 1e-1), (2000, 1e-5), (5000, 1e-5), (5500, 1e-1)]

  @Test(
    "cyclical: eta_min at 0 and 2 n_s, eta_max at n_s and 3 n_s, exactly",
    arguments: ends)
  func cyclicalEnds(step: Int, expected: Double) {
    #expect(Self.cyclical.rate(step: step, epoch: step / 100) == expected)
  }

  static let quarter: Double = 1e-5 + 0.25 * (1e-1 - 1e-5)
  static let first: Double = 1e-5 + (1e-1 - 1e-5) / 500
  static let interior: [(Int, Double)] = [
    (250, 0.050005), (750, 0.050005), (1250, 0.050005), (1750, 0.050005),
    (125, quarter), (875, quarter), (1, first), (999, first),
  ]

  @Test("cyclical: midpoints and quarter points", arguments: interior)
  func cyclicalInterior(step: Int, expected: Double) {
    let r = Self.cyclical.rate(step: step, epoch: 0)
    // Relative to eta_max: the falling branch eta_max - f (eta_max - eta_min) cancels near eta_min.
    #expect(abs(r - expected) <= 1e-15 * 1e-1, "t = \(step): \(r) vs \(expected)")
  }

  @Test("cyclical: triangular, periodic with period 2 n_s, within [eta_min, eta_max]")
  func cyclicalShape() {
    let ns = 500
    for t in 0..<(2 * ns) {
      let r = Self.cyclical.rate(step: t, epoch: 0)
      #expect(r >= 1e-5 && r <= 1e-1)
      let next = Self.cyclical.rate(step: t + 1, epoch: 0)
      if t < ns { #expect(next > r, "rising at \(t)") } else { #expect(next < r, "falling at \(t)") }
      #expect(abs(Self.cyclical.rate(step: t + 2 * ns * 3, epoch: 9) - r) <= 1e-17, "period at \(t)")
      // Linear: the step is (eta_max - eta_min) / n_s.
      #expect(abs(abs(next - r) - (1e-1 - 1e-5) / 500) < 1e-15)
    }
  }

  @Test("constant ignores step and epoch", arguments: [0, 1, 999, 123_456])
  func constant(step: Int) {
    #expect(LearningRateSchedule.constant(eta: 0.01).rate(step: step, epoch: step / 7) == 0.01)
  }

  @Test("decay: eta * factor^epoch, independent of the step", arguments: [0, 1, 2, 5, 20])
  func decay(epoch: Int) {
    let s = LearningRateSchedule.decay(eta: 0.02, factor: 0.9)
    var expected = 0.02
    for _ in 0..<epoch { expected *= 0.9 }
    let r = s.rate(step: 1000 * epoch + 17, epoch: epoch)
    #expect(abs(r - expected) <= 1e-14 * expected, "epoch \(epoch): \(r) vs \(expected)")
    #expect(s.rate(step: 0, epoch: epoch) == r)
  }
}
