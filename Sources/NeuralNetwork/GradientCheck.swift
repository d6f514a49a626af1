import Foundation
import LinearAlgebra

/// Numerical differentiation scheme of the gradient check.
public enum DifferenceMethod: String, Codable, Sendable, CaseIterable {
  /// `(J(theta + h e_i) - J(theta - h e_i)) / 2h`, error O(h^2).
  case centered
  /// `(J(theta + h e_i) - J(theta)) / h`, error O(h); the course's faster variant.
  case forward
}

/// Relative errors of one parameter tensor: `|a - n| / max(eps, |a| + |n|)` over its checked
/// entries, `a` analytic and `n` numerical.
public struct GradientCheckEntry: Codable, Sendable {
  public var name: String
  public var checked: Int
  public var total: Int
  public var maxRelative: Double
  public var meanRelative: Double
  public var varianceRelative: Double
  public var maxAbsolute: Double
  /// Largest `|a|` among the checked entries, so a reader can judge the absolute scale.
  public var maxAnalytic: Double
  /// The entry with the largest relative error: its index within the tensor (row-major), `a` and
  /// `n`.
  public var worstIndex: Int
  public var worstAnalytic: Double
  public var worstNumerical: Double
}

/// Compares the analytic gradient of the cost
/// `J = (1/n) sum_i l(x_i, y_i) + lambda * sum_l ||W_l||^2` with finite differences, in Double,
/// BatchNorm in training mode (the batch's statistics), as the course's ComputeGradsNum(Slow).
public struct GradientCheck {
  public var model: MLP<Double>
  public let inputs: [Double]
  public let labels: [Int32]
  public let lambda: Double

  /// The smallest `eps` of the relative error's denominator `max(eps, |a| + |n|)` (the default
  /// of `run`): entries whose gradients are smaller than eps are judged by their absolute error
  /// (`|a - n| / eps`). A gradient entry of 1e-7 cannot be resolved to 1e-6 relative by
  /// differences whose rounding noise is ~1e-11 (`roundingNoise`), and judging it so would test
  /// the arithmetic, not the gradient; `automaticRelativeErrorFloor` raises eps further, to where
  /// rounding cannot fail a given tolerance.
  public static let defaultRelativeErrorFloor = 1e-6

  public init(model: MLP<Double>, inputs: [Double], labels: [Int32], lambda: Double) {
    precondition(inputs.count == labels.count * model.architecture.inputSize, "inputs must be [n, d]")
    self.model = model
    self.inputs = inputs
    self.labels = labels
    self.lambda = lambda
  }

  public var rows: Int { labels.count }

  /// The cost `J` at the model's current parameters.
  public func cost(cache: ForwardCache<Double>) throws -> Double {
    try inputs.withUnsafeBufferPointer { x in
      try model.forward(x.baseAddress!, rows: rows, mode: .training, batch: .local(rows), cache: cache)
    }
    let lossSum = labels.withUnsafeBufferPointer { model.loss(labels: $0.baseAddress!, cache: cache, gradient: false).lossSum }
    return lossSum / Double(rows) + lambda * model.weightPenalty()
  }

  /// `dJ/dtheta` by back-propagation: gradient sums / n, plus `2 lambda W` on weights.
  public func analyticGradient(cache: ForwardCache<Double>) throws -> [Double] {
    var gradient = [Double](repeating: 0, count: model.layout.count)
    try inputs.withUnsafeBufferPointer { x in
      try model.forward(x.baseAddress!, rows: rows, mode: .training, batch: .local(rows), cache: cache)
      _ = labels.withUnsafeBufferPointer { model.loss(labels: $0.baseAddress!, cache: cache, gradient: true) }
      try gradient.withUnsafeMutableBufferPointer { g in
        try model.backward(x.baseAddress!, cache: cache, batch: .local(rows), gradients: g.baseAddress!, accumulate: false)
      }
    }
    let inverse = 1 / Double(rows)
    for slot in model.layout.slots {
      for i in slot.range {
        gradient[i] *= inverse
        if slot.kind == .weight { gradient[i] += 2 * lambda * model.parameters[i] }
      }
    }
    return gradient
  }

  /// The flat indices checked: every entry, except that the first layer's weight matrix is
  /// restricted to the columns of `dims` input dimensions drawn from `seed` (for 784- or
  /// 3072-wide inputs), when `dims` is below the input size.
  public func selectedIndices(dims: Int?, seed: UInt64) -> [String: [Int]] {
    var result: [String: [Int]] = [:]
    let d = model.architecture.inputSize
    for slot in model.layout.slots {
      if slot.name == "layer1.weight", let dims, dims < d {
        var rng = SeededGenerator(seed: seed, stream: 0x6C4E)
        let columns = rng.permutation(d).prefix(dims).sorted()
        result[slot.name] = (0..<slot.shape[0]).flatMap { r in columns.map { slot.offset + r * d + $0 } }
      } else {
        result[slot.name] = Array(slot.range)
      }
    }
    return result
  }

  /// The loss of every sample `[n]` at the current parameters (training-mode BatchNorm).
  public func sampleLosses(cache: ForwardCache<Double>) throws -> [Double] {
    try inputs.withUnsafeBufferPointer { x in
      try model.forward(x.baseAddress!, rows: rows, mode: .training, batch: .local(rows), cache: cache)
    }
    let c = model.architecture.classes
    return labels.withUnsafeBufferPointer { y in
      (0..<rows).map { i in
        let s = UnsafePointer(cache.scores.pointer + i * c)
        switch model.architecture.loss {
        case .crossEntropy:
          return Double.softmaxCrossEntropy(logits: s, labels: y.baseAddress! + i, rows: 1, classes: c, gradient: nil).lossSum
        case .svm: return Double.multiclassHinge(scores: s, labels: y.baseAddress! + i, rows: 1, classes: c, gradient: nil).lossSum
        }
      }
    }
  }

  /// The rounding noise of one finite-difference quotient with step `h`, absolute: each sample
  /// loss carries a rounding error of about `u |l_i|` (`u = 2^-53`), and the quotient divides a
  /// difference of two such mean losses by `2h` (centered) or `h` (forward), so its noise is
  /// about `u * mean|l_i| / h`, twice that for forward differences. (Measured: 784-64-32-10 with
  /// BatchNorm, 20 samples, h = 1e-5: the largest |a - n| over 1,280 centered entries was
  /// 2.2e-11 against an estimate of 2.6e-11.)
  public func roundingNoise(method: DifferenceMethod, h: Double, cache: ForwardCache<Double>) throws -> Double {
    let losses = try sampleLosses(cache: cache)
    let meanLoss = losses.reduce(0) { $0 + abs($1) } / Double(max(rows, 1))
    return (method == .forward ? 2 : 1) * Double.ulpOfOne / 2 * meanLoss / h
  }

  /// The `eps` under which rounding alone cannot fail a check of `tolerance`: an entry with
  /// `|a| + |n| < eps` is judged by `|a - n| / eps`, so `eps = 4 * roundingNoise / tolerance`
  /// (a margin of 4) keeps pure rounding below `tolerance`. Clamped to
  /// [`defaultRelativeErrorFloor`, `largestAutomaticFloor`]: gradients of 1e-3 and more are
  /// always judged relatively, so a tolerance finer than finite differences can resolve still
  /// fails. With h = 1e-5, tolerance 1e-6 and a loss of ~2.3 it is ~1e-4: a gradient entry of
  /// 1e-5 is then judged by |a - n| <= 1e-10, which rounding noise (~2.6e-11) meets and any
  /// error of the gradient's own size does not.
  public func automaticRelativeErrorFloor(method: DifferenceMethod, h: Double, tolerance: Double) throws -> Double {
    let cache = ForwardCache<Double>(architecture: model.architecture, capacity: max(rows, 1))
    let floor = 4 * (try roundingNoise(method: method, h: h, cache: cache)) / tolerance
    return min(Self.largestAutomaticFloor, max(Self.defaultRelativeErrorFloor, floor))
  }

  /// The cap of `automaticRelativeErrorFloor`.
  public static let largestAutomaticFloor = 1e-3

  /// Runs the check over `selection` (see `selectedIndices`) with step `h`.
  ///
  /// The difference `J(theta + h e_i) - J(theta -/0 h e_i)` is formed term by term: the sum over
  /// samples of each sample's loss difference, divided by n, plus lambda times the difference of
  /// the one penalty term that changed, `(w + h)^2 - (w - h)^2` (or `- w^2`). That is the same
  /// finite difference as subtracting two whole costs, without cancelling two sums of
  /// magnitude ~n * 2.3 and ~lambda * sum ||W||^2 against each other, which would add rounding
  /// noise of ~1e-11 per unit of h^-1 to every numerical gradient.
  public mutating func run(
    method: DifferenceMethod, h: Double, selection: [String: [Int]], eps: Double = GradientCheck.defaultRelativeErrorFloor,
    progress: ((_ done: Int) -> Void)? = nil
  ) throws -> [GradientCheckEntry] {
    var done = 0
    let cache = ForwardCache<Double>(architecture: model.architecture, capacity: max(rows, 1))
    let analytic = try analyticGradient(cache: cache)
    let base = method == .forward ? try sampleLosses(cache: cache) : []
    var entries: [GradientCheckEntry] = []
    for slot in model.layout.slots {
      let indices = selection[slot.name] ?? []
      var errors: [Double] = []
      errors.reserveCapacity(indices.count)
      var maxAbsolute = 0.0
      var maxAnalytic = 0.0
      var worst = (index: -1, relative: -1.0, a: 0.0, n: 0.0)
      for i in indices {
        let saved = model.parameters[i]
        model.parameters[i] = saved + h
        let plus = try sampleLosses(cache: cache)
        let numerical: Double
        switch method {
        case .centered:
          model.parameters[i] = saved - h
          let minus = try sampleLosses(cache: cache)
          let penalty = slot.kind == .weight ? (saved + h) * (saved + h) - (saved - h) * (saved - h) : 0
          numerical = (differenceSum(plus, minus) / Double(rows) + lambda * penalty) / (2 * h)
        case .forward:
          let penalty = slot.kind == .weight ? (saved + h) * (saved + h) - saved * saved : 0
          numerical = (differenceSum(plus, base) / Double(rows) + lambda * penalty) / h
        }
        model.parameters[i] = saved
        let a = analytic[i]
        let difference = abs(a - numerical)
        let relative = difference / max(eps, abs(a) + abs(numerical))
        errors.append(relative)
        if relative > worst.relative { worst = (i, relative, a, numerical) }
        maxAbsolute = max(maxAbsolute, difference)
        maxAnalytic = max(maxAnalytic, abs(a))
        done += 1
        progress?(done)
      }
      let mean = errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count)
      let variance = errors.isEmpty ? 0 : errors.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(errors.count)
      entries.append(
        GradientCheckEntry(
          name: slot.name, checked: indices.count, total: slot.count, maxRelative: errors.max() ?? 0,
          meanRelative: mean, varianceRelative: variance, maxAbsolute: maxAbsolute, maxAnalytic: maxAnalytic,
          worstIndex: worst.index < 0 ? -1 : worst.index - slot.offset, worstAnalytic: worst.a, worstNumerical: worst.n))
    }
    return entries
  }

  /// Seconds of one pass over the samples (the loss of each), the unit of the check's cost: the
  /// best of 3.
  public func secondsPerPass() throws -> Double {
    let cache = ForwardCache<Double>(architecture: model.architecture, capacity: max(rows, 1))
    var best = Double.infinity
    for _ in 0..<3 {
      let start = DispatchTime.now().uptimeNanoseconds
      _ = try sampleLosses(cache: cache)
      best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return best
  }

  /// Passes over the samples that `run` makes for `selection`.
  public static func passes(method: DifferenceMethod, selection: [String: [Int]]) -> Int {
    selection.values.reduce(0) { $0 + $1.count } * (method == .centered ? 2 : 1)
  }

  /// `sum_i (a_i - b_i)`.
  private func differenceSum(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) }
  }
}
