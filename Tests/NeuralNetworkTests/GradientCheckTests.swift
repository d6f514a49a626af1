import Foundation
import LinearAlgebra
import NeuralNetwork
import TestSupport
import Testing

/// One gradient-check configuration.
struct GradientCase: Sendable, CustomTestStringConvertible {
  var hidden: [Int]
  var batchNorm: Bool
  var lambda: Double
  var loss: LossFunction

  var testDescription: String {
    "\(hidden.count + 1)-layer [12, \(hidden.map(String.init).joined(separator: ", "))\(hidden.isEmpty ? "" : ", ")5]\(batchNorm ? " BN" : "") \(loss.rawValue) lambda=\(lambda)"
  }

  static let hiddenLayers: [[Int]] = [[], [10], [10, 8], [10, 8, 6]]

  /// 1- to 4-layer nets, with and without BatchNorm (1-layer nets have no hidden layer to
  /// normalize), lambda 0 and 0.01, both losses: 28 cases.
  static let all: [GradientCase] = hiddenLayers.flatMap { hidden in
    (hidden.isEmpty ? [false] : [false, true]).flatMap { bn in
      [0.0, 0.01].flatMap { lambda in LossFunction.allCases.map { GradientCase(hidden: hidden, batchNorm: bn, lambda: lambda, loss: $0) } }
    }
  }

  static let architectures: [GradientCase] = all.filter { $0.lambda == 0 }

  static let inputSize = 12, classes = 5, rows = 16

  var architecture: Architecture {
    Architecture(inputSize: Self.inputSize, hidden: hidden, classes: Self.classes, batchNorm: batchNorm, loss: loss)
  }

  /// A random model (He weights; random biases, gamma, beta and running statistics) and batch,
  /// resampled until every ReLU input (and, for the SVM, every hinge margin) is at least 1e-3
  /// from its kink, so that steps of h = 1e-5 stay on one side of it.
  func problem() -> (model: MLP<Double>, x: [Double], labels: [Int32], seed: UInt64) {
    for seed in UInt64(1)...200 {
      var model = MLP<Double>(architecture: architecture, initialization: .he, seed: seed)
      var rng = SeededGenerator(seed: seed, stream: 17)
      for slot in model.layout.slots {
        for i in slot.range {
          switch slot.kind {
          case .bias, .beta: model.parameters[i] = 0.1 * rng.nextGaussian()
          case .gamma: model.parameters[i] = 1 + 0.1 * rng.nextGaussian()
          default: break
          }
        }
      }
      for slot in model.stateLayout.slots {
        for i in slot.range {
          model.state[i] = slot.kind == .runningMean ? 0.2 * rng.nextGaussian() : 0.5 + rng.nextUnit()
        }
      }
      let x = (0..<(Self.rows * Self.inputSize)).map { _ in rng.nextGaussian() }
      let labels = (0..<Self.rows).map { _ in Int32(rng.nextBelow(Self.classes)) }
      let naive = NaiveNetwork(model)
      let (logits, minInput) = naive.forward(x, rows: Self.rows, training: true)
      let margin = loss == .svm ? naive.minHingeMargin(logits, labels) : .infinity
      if minInput >= 1e-3 && margin >= 1e-3 { return (model, x, labels, seed) }
    }
    fatalError("no case away from kinks for \(testDescription)")
  }
}

@Suite("Gradient checks")
struct GradientCheckTests {
  /// The GEMM backend under test (`DPTRAIN_TEST_GEMM`), chosen before the first product.
  init() { _ = TestGEMM.backend }

  @Test("MLP.forward matches naive loops in training and inference mode", arguments: GradientCase.architectures)
  func forwardMatchesNaive(_ c: GradientCase) throws {
    let (model, x, _, _) = c.problem()
    let naive = NaiveNetwork(model)
    let cache = ForwardCache<Double>(architecture: model.architecture, capacity: GradientCase.rows)
    for mode in [ForwardMode.training, .inference] {
      try model.forward(x, rows: GradientCase.rows, mode: mode, batch: .local(GradientCase.rows), cache: cache)
      let expected = naive.forward(x, rows: GradientCase.rows, training: mode == .training).logits
      expectClose(cache.scoreValues, expected, tolerance: 1e-12, "\(c.testDescription) \(mode) logits")
    }
  }

  /// Runs the strict check: every tensor's max relative error must be below 1e-6, judged as
  /// `dptrain gradcheck` judges it: entries with `|a| + |n|` above the rounding floor
  /// (`automaticRelativeErrorFloor`, ~4e-5 here) by their relative error, smaller ones by
  /// `|a - n| / floor`. Without the floor the verdict depended on the BLAS kernel: OpenBLAS's
  /// generic Prescott kernel rounds an exactly-zero SVM bias gradient's numerical value to
  /// 5.6e-12, a relative error of 5.6e-6 against eps 1e-6, while its SkylakeX and Zen kernels
  /// happened to round it to below 1e-12.
  func strictCenteredCheck(_ c: GradientCase) throws {
    let (model, x, labels, seed) = c.problem()
    var check = GradientCheck(model: model, inputs: x, labels: labels, lambda: c.lambda)
    let floor = try check.automaticRelativeErrorFloor(method: .centered, h: 1e-5, tolerance: 1e-6)
    let entries = try check.run(method: .centered, h: 1e-5, selection: check.selectedIndices(dims: nil, seed: 0), eps: floor)
    #expect(entries.map(\.name) == model.layout.slots.map(\.name))
    for e in entries {
      #expect(e.checked == e.total, "\(e.name): \(e.checked) of \(e.total) checked")
      if !(e.maxRelative < 1e-6) {
        Issue.record(
          """
          \(c.testDescription) (data seed \(seed)) \(e.name): maxRelative \(e.maxRelative) >= 1e-6 (floor \(floor)); \
          worst element \(e.worstIndex): a = \(e.worstAnalytic), n = \(e.worstNumerical), \
          |a - n| = \(abs(e.worstAnalytic - e.worstNumerical)); tensor maxAbsolute \(e.maxAbsolute), maxAnalytic \(e.maxAnalytic)
          """)
      }
    }
    // The check compared real gradients, not zeros, and most of them above the floor: the
    // relative bar of 1e-6 still judges them.
    #expect(entries.contains { $0.maxAnalytic > 1e-3 })
    #expect(floor < 1e-3 && entries.contains { $0.maxAnalytic > 10 * floor }, "floor \(floor)")
  }

  @Test(
    "centered differences, h = 1e-5: every tensor's max relative error < 1e-6 above the rounding floor",
    arguments: GradientCase.all)
  func centered(_ c: GradientCase) throws {
    try strictCenteredCheck(c)
  }

  /// Why the relative error has eps = 1e-6 in its denominator: with eps = 1e-12 an entry whose
  /// analytic gradient is exactly 0 (an SVM bias whose hinge counts cancel) or nearly so is
  /// compared with the rounding noise of the difference quotient, ~1e-11 = ulp(J) / 2h.
  /// This asserts that every entry above 1e-6 under eps = 1e-12 is such an entry: tiny, and within
  /// rounding of the numerical value. A real gradient bug would show on large entries instead.
  @Test("with eps = 1e-12, entries above 1e-6 are tiny gradients within rounding", arguments: GradientCase.all)
  func tinyEntriesAreRounding(_ c: GradientCase) throws {
    let (model, x, labels, _) = c.problem()
    var check = GradientCheck(model: model, inputs: x, labels: labels, lambda: c.lambda)
    let entries = try check.run(method: .centered, h: 1e-5, selection: check.selectedIndices(dims: nil, seed: 0), eps: 1e-12)
    for e in entries where e.maxRelative >= 1e-6 {
      #expect(abs(e.worstAnalytic) < 1e-6, "\(c.testDescription) \(e.name)[\(e.worstIndex)]: a = \(e.worstAnalytic), rel \(e.maxRelative)")
      #expect(
        abs(e.worstAnalytic - e.worstNumerical) < 1e-10,
        "\(c.testDescription) \(e.name): |a-n| = \(abs(e.worstAnalytic - e.worstNumerical))")
    }
  }

  /// The automatic eps rests on this estimate: rounding noise of a centered quotient, about
  /// u * mean|l| / h. Every entry of every case must be within 4 times it (the margin the
  /// automatic floor uses), or that floor could let rounding fail a correct gradient.
  @Test("rounding-noise estimate: every centered |a - n| is within 4 times it", arguments: GradientCase.all)
  func roundingNoiseBoundsDifferences(_ c: GradientCase) throws {
    let (model, x, labels, _) = c.problem()
    var check = GradientCheck(model: model, inputs: x, labels: labels, lambda: c.lambda)
    let noise = try check.roundingNoise(
      method: .centered, h: 1e-5, cache: ForwardCache(architecture: model.architecture, capacity: GradientCase.rows))
    let entries = try check.run(method: .centered, h: 1e-5, selection: check.selectedIndices(dims: nil, seed: 0))
    let worst = entries.map(\.maxAbsolute).max()!
    #expect(noise > 1e-13 && noise < 1e-9, "\(c.testDescription): estimate \(noise)")
    #expect(worst <= 4 * noise, "\(c.testDescription): max |a - n| \(worst) vs 4 x estimate \(4 * noise)")
    let floor = try check.automaticRelativeErrorFloor(method: .centered, h: 1e-5, tolerance: 1e-6)
    #expect(floor == min(GradientCheck.largestAutomaticFloor, max(GradientCheck.defaultRelativeErrorFloor, 4 * noise / 1e-6)))
    #expect(try check.automaticRelativeErrorFloor(method: .centered, h: 1e-5, tolerance: 1e-30) == GradientCheck.largestAutomaticFloor)
  }

  @Test("a wrong analytic gradient is caught: lambda 0.01 analytic vs lambda 0.05 numerical")
  func corruptedAnalyticIsCaught() throws {
    let c = GradientCase(hidden: [10], batchNorm: true, lambda: 0.01, loss: .crossEntropy)
    let (model, x, labels, _) = c.problem()
    let right = GradientCheck(model: model, inputs: x, labels: labels, lambda: 0.01)
    var wrong = GradientCheck(model: model, inputs: x, labels: labels, lambda: 0.05)
    let cache = ForwardCache<Double>(architecture: model.architecture, capacity: GradientCase.rows)
    let analytic = try right.analyticGradient(cache: cache)
    let h = 1e-5
    var maxRelative: [ParameterKind: Double] = [:]
    var maxAutomatic = 0.0
    let automatic = try right.automaticRelativeErrorFloor(method: .centered, h: h, tolerance: 1e-6)
    for slot in model.layout.slots {
      for i in slot.range {
        let saved = wrong.model.parameters[i]
        wrong.model.parameters[i] = saved + h
        let plus = try wrong.cost(cache: cache)
        wrong.model.parameters[i] = saved - h
        let minus = try wrong.cost(cache: cache)
        wrong.model.parameters[i] = saved
        let n = (plus - minus) / (2 * h)
        let e = abs(analytic[i] - n) / max(GradientCheck.defaultRelativeErrorFloor, abs(analytic[i]) + abs(n))
        maxRelative[slot.kind] = max(maxRelative[slot.kind] ?? 0, e)
        if slot.kind == .weight { maxAutomatic = max(maxAutomatic, abs(analytic[i] - n) / max(automatic, abs(analytic[i]) + abs(n))) }
      }
    }
    // The automatic floor (the default of `dptrain gradcheck`) catches it as clearly.
    #expect(automatic > GradientCheck.defaultRelativeErrorFloor && maxAutomatic > 1e-2, "floor \(automatic): \(maxAutomatic)")
    // The weights' gradients differ by 2 * 0.04 * W: far above the 1e-6 the check demands.
    #expect(maxRelative[.weight]! > 1e-2, "weights: \(maxRelative[.weight]!)")
    // The penalty does not touch the other tensors: they still agree.
    #expect(maxRelative[.bias]! < 1e-6 && maxRelative[.gamma]! < 1e-6 && maxRelative[.beta]! < 1e-6, "\(maxRelative)")
  }

  @Test("GradientCheck.run reports large errors for a step far too big (h = 0.5)")
  func runCanFail() throws {
    let c = GradientCase(hidden: [10, 8], batchNorm: false, lambda: 0.01, loss: .crossEntropy)
    let (model, x, labels, _) = c.problem()
    var check = GradientCheck(model: model, inputs: x, labels: labels, lambda: 0.01)
    let entries = try check.run(method: .centered, h: 0.5, selection: check.selectedIndices(dims: nil, seed: 0))
    let worst = entries.map(\.maxRelative).max()!
    #expect(worst > 1e-3, "h = 0.5 should break the check, max relative \(worst)")
  }

  @Test(
    "forward differences run, with larger but bounded errors than centered ones",
    arguments: GradientCase.all.filter { $0.lambda == 0.01 && $0.hidden.count >= 1 })
  func forwardDifferences(_ c: GradientCase) throws {
    let (model, x, labels, _) = c.problem()
    var check = GradientCheck(model: model, inputs: x, labels: labels, lambda: c.lambda)
    let selection = check.selectedIndices(dims: nil, seed: 0)
    let centered = try check.run(method: .centered, h: 1e-5, selection: selection)
    let forward = try check.run(method: .forward, h: 1e-5, selection: selection)
    // Absolute errors: the relative error of an exactly-zero gradient entry is rounding noise
    // over nothing (1.0) for both methods, so it would not tell them apart.
    let centeredMax = centered.map(\.maxAbsolute).max()!
    let forwardMax = forward.map(\.maxAbsolute).max()!
    #expect(forward.map(\.checked) == centered.map(\.checked))
    #expect(centeredMax < forwardMax, "max |a - n|: centered \(centeredMax) vs forward \(forwardMax)")
    // O(h) truncation: lambda h = 1e-7 for the penalty alone, h |J''| / 2 in general.
    #expect(forwardMax >= 0.5 * c.lambda * 1e-5, "forward max |a - n| \(forwardMax)")
    #expect(forwardMax < 1e-4, "forward differences should still be close: max |a - n| \(forwardMax)")
    #expect(centeredMax < 1e-8, "centered max |a - n| \(centeredMax)")
  }

  @Test("selectedIndices restricts only layer1.weight to `dims` input columns")
  func selectedIndices() {
    let c = GradientCase(hidden: [10], batchNorm: true, lambda: 0, loss: .svm)
    let (model, x, labels, _) = c.problem()
    let check = GradientCheck(model: model, inputs: x, labels: labels, lambda: 0)
    let all = check.selectedIndices(dims: nil, seed: 3)
    let some = check.selectedIndices(dims: 4, seed: 3)
    let w1 = model.layout.slot(named: "layer1.weight")!
    #expect(all["layer1.weight"] == Array(w1.range))
    let chosen = some["layer1.weight"]!
    #expect(chosen.count == 10 * 4)
    #expect(chosen.allSatisfy { w1.range.contains($0) })
    let columns = Set(chosen.map { ($0 - w1.offset) % GradientCase.inputSize })
    #expect(columns.count == 4)
    for slot in model.layout.slots where slot.name != "layer1.weight" {
      #expect(some[slot.name] == Array(slot.range), "\(slot.name)")
    }
    #expect(check.selectedIndices(dims: 4, seed: 3) == some, "selection is a function of the seed")
    #expect(check.selectedIndices(dims: 12, seed: 3)["layer1.weight"] == Array(w1.range))
  }
}
