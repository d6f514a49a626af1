import LinearAlgebra

/// A k-layer fully connected network of the DD2424 family, with its parameters in one flat
/// buffer (`layout`) and its BatchNorm running statistics in another (`stateLayout`).
///
/// Concretely, with `a_0 = x` (`[n, d]`, one sample per row) and weights stored `[out, in]`:
///
///     z_l = a_{l-1} W_l^T + b_l                               l = 1 ... L
///     a_l = ReLU(z_l)            or, with BatchNorm,
///     a_l = ReLU(gamma_l * (z_l - mu_l) / sqrt(var_l + eps) + beta_l)      l < L
///     s   = z_L                  (scores; softmax for the cross-entropy loss)
///
/// BatchNorm (Ioffe & Szegedy 2015) in training mode uses the batch mean `mu` and the biased
/// batch variance `var`; in inference mode the running averages. `eps` is
/// `Architecture.batchNormEpsilon` (1e-5 by default).
///
/// The bias of a Linear followed by BatchNorm cancels in training mode (BatchNorm subtracts the
/// batch mean), so it is left out of `z` there: its gradient is exactly zero, and it enters only
/// the running mean (`running_mean` estimates the mean of `z` WITH the bias, as in the course and
/// PyTorch) and therefore inference. The function computed is the course's, to the last bit of
/// its mathematics, and gradient checks see an exact zero instead of rounding noise.
public struct MLP<T: Real> {
  public let architecture: Architecture
  public let layout: ParameterLayout
  public let stateLayout: ParameterLayout
  /// All trainable parameters, `layout.count` values.
  public var parameters: [T]
  /// BatchNorm running means and variances, `stateLayout.count` values.
  public var state: [T]
  let layers: [LayerOffsets]

  struct LayerOffsets {
    var fanIn: Int, fanOut: Int
    var weight: Int, bias: Int
    var gamma: Int?, beta: Int?
    var runningMean: Int?, runningVariance: Int?
  }

  /// A network with zero parameters (biases and beta 0, gamma 1, running variance 1).
  public init(architecture: Architecture) {
    self.architecture = architecture
    let layout = architecture.parameterLayout()
    let stateLayout = architecture.stateLayout()
    self.layout = layout
    self.stateLayout = stateLayout
    parameters = .zeros(layout.count)
    state = .zeros(stateLayout.count)
    let s = architecture.sizes
    layers = (1...architecture.layerCount).map { l in
      LayerOffsets(
        fanIn: s[l - 1], fanOut: s[l],
        weight: layout.slot(named: "layer\(l).weight")!.offset,
        bias: layout.slot(named: "layer\(l).bias")!.offset,
        gamma: layout.slot(named: "layer\(l).gamma")?.offset,
        beta: layout.slot(named: "layer\(l).beta")?.offset,
        runningMean: stateLayout.slot(named: "layer\(l).running_mean")?.offset,
        runningVariance: stateLayout.slot(named: "layer\(l).running_var")?.offset)
    }
    for slot in layout.slots where slot.kind == .gamma {
      for i in slot.range { parameters[i] = 1 }
    }
    for slot in self.stateLayout.slots where slot.kind == .runningVariance {
      for i in slot.range { state[i] = 1 }
    }
  }

  /// A network initialised from `seed`: weights `N(0, sigma^2)` with sigma from
  /// `initialization`, drawn layer by layer in row-major order from one seeded stream.
  public init(architecture: Architecture, initialization: Initialization, seed: UInt64) {
    self.init(architecture: architecture)
    var rng = SeededGenerator(seed: seed, stream: 0x1_417)
    for slot in layout.slots where slot.kind == .weight {
      let sigma = initialization.standardDeviation(fanIn: slot.shape[1])
      for i in slot.range { parameters[i] = T(sigma * rng.nextGaussian()) }
    }
  }

  /// `sum_l ||W_l||_F^2`, the L2 penalty without its lambda.
  public func weightPenalty() -> Double {
    parameters.withUnsafeBufferPointer { p in
      layout.slots.filter { $0.kind == .weight }.reduce(0.0) { $0 + T.sumOfSquares(p.baseAddress! + $1.offset, count: $1.count) }
    }
  }

  // MARK: - Forward

  /// Runs the network on `rows` samples `x [rows, d]`; the scores land in `cache.scores`.
  /// In training mode BatchNorm uses the statistics of the GLOBAL batch described by `batch`
  /// (its reducer sums the per-feature sums of every replica).
  public func forward(_ x: UnsafePointer<T>, rows: Int, mode: ForwardMode, batch: BatchContext, cache: ForwardCache<T>) throws {
    precondition(rows <= cache.capacity, "batch of \(rows) rows exceeds the cache capacity \(cache.capacity)")
    precondition(cache.architecture == architecture, "cache built for another architecture")
    cache.rows = rows
    let bn = architecture.batchNorm
    let eps = T(architecture.batchNormEpsilon)
    try parameters.withUnsafeBufferPointer { pb in
      let p = pb.baseAddress!
      var input = x
      for (index, layer) in layers.enumerated() {
        let isOutput = index == layers.count - 1
        let out = isOutput ? cache.scores.pointer : cache.activations[index].pointer
        let n = layer.fanOut
        if isOutput || !bn {
          T.broadcastRows(p + layer.bias, rows: rows, cols: n, into: out)
          if rows > 0 {
            T.gemm(
              transA: false, transB: true, m: rows, n: n, k: layer.fanIn, alpha: 1, a: input, lda: layer.fanIn,
              b: p + layer.weight, ldb: layer.fanIn, beta: 1, c: out, ldc: n)
          }
        } else {
          // z = a W^T without the bias (it cancels in training mode; see the type's comment).
          if rows > 0 {
            T.gemm(
              transA: false, transB: true, m: rows, n: n, k: layer.fanIn, alpha: 1, a: input, lda: layer.fanIn,
              b: p + layer.weight, ldb: layer.fanIn, beta: 0, c: out, ldc: n)
          }
          let gamma = p + layer.gamma!
          let beta = p + layer.beta!
          switch mode {
          case .training:
            let mean = cache.mean[index].pointer
            let variance = cache.variance[index].pointer
            let invStd = cache.invStd[index].pointer
            let inverseCount = 1 / T(batch.globalCount)
            // Two passes (mean, then centered squares) rather than E[z^2] - E[z]^2: no cancellation.
            T.columnSums(out, rows: rows, cols: n, into: mean, accumulate: false)
            try batch.reduce(cache.mean[index].buffer)
            T.scale(mean, by: inverseCount, count: n)
            T.columnCenteredSquares(out, center: mean, rows: rows, cols: n, into: variance, accumulate: false)
            try batch.reduce(cache.variance[index].buffer)
            T.scale(variance, by: inverseCount, count: n)
            for j in 0..<n { invStd[j] = 1 / T.squareRoot(variance[j] + eps) }
            T.batchNormApply(
              out, rows: rows, cols: n, mean: mean, invStd: invStd, gamma: gamma, beta: beta,
              xhat: cache.xhat[index].pointer, y: out)
          case .inference:
            // (z + b - running_mean) / sqrt(running_var + eps)
            let center = cache.sums.pointer
            let invStd = cache.sums.pointer + n
            state.withUnsafeBufferPointer { sb in
              let rm = sb.baseAddress! + layer.runningMean!
              let rv = sb.baseAddress! + layer.runningVariance!
              for j in 0..<n {
                center[j] = rm[j] - p[layer.bias + j]
                invStd[j] = 1 / T.squareRoot(rv[j] + eps)
              }
            }
            T.batchNormApply(out, rows: rows, cols: n, mean: center, invStd: invStd, gamma: gamma, beta: beta, xhat: nil, y: out)
          }
        }
        if !isOutput { T.reluInPlace(out, count: rows * n) }
        input = UnsafePointer(out)
      }
    }
  }

  /// Moves the running averages toward the last training forward pass's batch statistics:
  /// `avg = alpha * avg + (1 - alpha) * batch` (mean of `z` including its bias; biased variance).
  public mutating func updateRunningStatistics(from cache: ForwardCache<T>, alpha: T) {
    guard architecture.batchNorm else { return }
    for (index, layer) in layers.dropLast().enumerated() {
      let mean = cache.mean[index].pointer
      let variance = cache.variance[index].pointer
      for j in 0..<layer.fanOut {
        let bias = parameters[layer.bias + j]
        state[layer.runningMean! + j] = alpha * state[layer.runningMean! + j] + (1 - alpha) * (mean[j] + bias)
        state[layer.runningVariance! + j] = alpha * state[layer.runningVariance! + j] + (1 - alpha) * variance[j]
      }
    }
  }

  // MARK: - Loss

  /// The loss of the scores in `cache` against `labels` (`[rows]`, in `0..<C`): the SUM over
  /// rows and the number of correct arg-max predictions. With `gradient`, also writes the
  /// gradient of the summed loss with respect to the scores into the cache for `backward`.
  public func loss(labels: UnsafePointer<Int32>, cache: ForwardCache<T>, gradient: Bool) -> (lossSum: Double, correct: Int) {
    let rows = cache.rows
    guard rows > 0 else { return (0, 0) }
    let g = gradient ? cache.gradientA.pointer : nil
    switch architecture.loss {
    case .crossEntropy:
      return T.softmaxCrossEntropy(logits: cache.scores.pointer, labels: labels, rows: rows, classes: architecture.classes, gradient: g)
    case .svm:
      return T.multiclassHinge(scores: cache.scores.pointer, labels: labels, rows: rows, classes: architecture.classes, gradient: g)
    }
  }

  // MARK: - Backward

  /// Back-propagates the score gradient that `loss(..., gradient: true)` left in `cache` and
  /// writes (or, with `accumulate`, adds) the gradient SUMS of every parameter into `gradients`
  /// (`layout.count` values). The caller divides by the global batch count; the L2 penalty's
  /// gradient is not included (the optimizer folds it in). `x` is the forward pass's input.
  ///
  /// Per layer, with `g = dL/dz_l` `[rows, out]`:
  ///     dW_l = g^T a_{l-1},   db_l = sum_rows g,   dL/da_{l-1} = g W_l
  /// ReLU passes `g` where its output is positive. BatchNorm, from the global sums
  /// `S1 = sum dy`, `S2 = sum dy * xhat` over the `N` samples of the global batch:
  ///     dgamma = S2,   dbeta = S1,   dz = gamma / sqrt(var + eps) * (dy - S1/N - xhat * S2/N)
  public func backward(
    _ x: UnsafePointer<T>, cache: ForwardCache<T>, batch: BatchContext, gradients: UnsafeMutablePointer<T>, accumulate: Bool
  ) throws {
    let rows = cache.rows
    let beta: T = accumulate ? 1 : 0
    var g = cache.gradientA.pointer
    var spare = cache.gradientB.pointer
    try parameters.withUnsafeBufferPointer { pb in
      let p = pb.baseAddress!
      for index in stride(from: layers.count - 1, through: 0, by: -1) {
        let layer = layers[index]
        let n = layer.fanOut
        let isOutput = index == layers.count - 1
        let input = index == 0 ? x : UnsafePointer(cache.activations[index - 1].pointer)
        if !isOutput {
          T.reluBackwardInPlace(g, output: cache.activations[index].pointer, count: rows * n)
          if architecture.batchNorm {
            let s1 = cache.sums.pointer
            let s2 = cache.sums.pointer + n
            let xhat = cache.xhat[index].pointer
            T.columnSums(g, rows: rows, cols: n, into: s1, accumulate: false)
            T.columnDots(g, xhat, rows: rows, cols: n, into: s2, accumulate: false)
            // Local sums are this replica's share of dgamma/dbeta (summed later with the others).
            let dGamma = gradients + layer.gamma!
            let dBeta = gradients + layer.beta!
            if accumulate {
              T.axpy(1, s2, dGamma, count: n)
              T.axpy(1, s1, dBeta, count: n)
            } else {
              dGamma.update(from: s2, count: n)
              dBeta.update(from: s1, count: n)
            }
            try batch.reduce(UnsafeMutableBufferPointer(start: cache.sums.pointer, count: 2 * n))
            T.batchNormBackwardInPlace(
              g, xhat: xhat, rows: rows, cols: n, gamma: p + layer.gamma!,
              invStd: cache.invStd[index].pointer, sumDy: s1, sumDyXhat: s2, count: batch.globalCount)
            if !accumulate { (gradients + layer.bias).update(repeating: 0, count: n) }
          } else {
            T.columnSums(g, rows: rows, cols: n, into: gradients + layer.bias, accumulate: accumulate)
          }
        } else {
          T.columnSums(g, rows: rows, cols: n, into: gradients + layer.bias, accumulate: accumulate)
        }
        let dW = gradients + layer.weight
        if rows > 0 {
          T.gemm(
            transA: true, transB: false, m: n, n: layer.fanIn, k: rows, alpha: 1, a: g, lda: n,
            b: input, ldb: layer.fanIn, beta: beta, c: dW, ldc: layer.fanIn)
        } else if !accumulate {
          dW.update(repeating: 0, count: n * layer.fanIn)
        }
        if index > 0 {
          if rows > 0 {
            T.gemm(
              transA: false, transB: false, m: rows, n: layer.fanIn, k: n, alpha: 1, a: g, lda: n,
              b: p + layer.weight, ldb: layer.fanIn, beta: 0, c: spare, ldc: layer.fanIn)
          }
          swap(&g, &spare)
        }
      }
    }
  }
}
