import LinearAlgebra
import TestSupport
import Testing

// Every kernel of `Real` against a plain Double loop over the same inputs.

@Suite("BLAS gemm")
struct GemmTests {
  /// `C = alpha op(A) op(B) + beta C` with padded leading dimensions (catches stride mistakes).
  func check<T: Real>(_: T.Type, transA: Bool, transB: Bool) {
    let m = 5
    let n = 4
    let k = 3
    let pad = 2
    // Stored shapes: A is [m, k] or, transposed, [k, m]; B is [k, n] or [n, k]; C is [m, n].
    let aRows = transA ? k : m
    let aCols = transA ? m : k
    let bRows = transB ? n : k
    let bCols = transB ? k : n
    let lda = aCols + pad
    let ldb = bCols + pad
    let ldc = n + pad
    let a: [T] = randomValues(aRows * lda, seed: 1)
    let b: [T] = randomValues(bRows * ldb, seed: 2)
    var c: [T] = randomValues(m * ldc, seed: 3)
    let alpha: T = 1.5
    let beta: T = 0.5
    func A(_ i: Int, _ p: Int) -> Double { Double(transA ? a[p * lda + i] : a[i * lda + p]) }
    func B(_ p: Int, _ j: Int) -> Double { Double(transB ? b[j * ldb + p] : b[p * ldb + j]) }
    var expected = c.map(Double.init)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += A(i, p) * B(p, j) }
        expected[i * ldc + j] = Double(alpha) * s + Double(beta) * Double(c[i * ldc + j])
      }
    }
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          T.gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: pa.baseAddress!, lda: lda,
            b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
        }
      }
    }
    // The padding columns of C must be untouched, hence the comparison of the whole buffer.
    expectClose(c.map(Double.init), expected, tolerance: tolerance(T.self), "\(T.self) gemm transA=\(transA) transB=\(transB)")
  }

  @Test("gemm matches a naive triple loop", arguments: [false, true], [false, true])
  func gemm(transA: Bool, transB: Bool) {
    check(Float.self, transA: transA, transB: transB)
    check(Double.self, transA: transA, transB: transB)
  }

  @Test("gemv matches a naive loop", arguments: [false, true])
  func gemv(trans: Bool) {
    let m = 4
    let n = 6
    let a: [Double] = randomValues(m * n, seed: 4)
    let x: [Double] = randomValues(trans ? m : n, seed: 5)
    var y: [Double] = randomValues(trans ? n : m, seed: 6)
    var expected = y
    for r in 0..<(trans ? n : m) {
      var s = 0.0
      for p in 0..<(trans ? m : n) { s += (trans ? a[p * n + r] : a[r * n + p]) * x[p] }
      expected[r] = 2 * s - 1 * y[r]
    }
    a.withUnsafeBufferPointer { pa in
      x.withUnsafeBufferPointer { px in
        y.withUnsafeMutableBufferPointer { py in
          Double.gemv(trans: trans, m: m, n: n, alpha: 2, a: pa.baseAddress!, lda: n, x: px.baseAddress!, beta: -1, y: py.baseAddress!)
        }
      }
    }
    expectClose(y, expected, tolerance: 1e-14, "gemv trans=\(trans)")
  }
}

@Suite("Loss kernels")
struct LossKernelTests {
  func naiveCrossEntropy(_ s: [Double], _ y: [Int32], classes: Int) -> (loss: Double, gradient: [Double], correct: Int) {
    var loss = 0.0
    var correct = 0
    var g = [Double](repeating: 0, count: s.count)
    for i in 0..<y.count {
      let row = Array(s[(i * classes)..<((i + 1) * classes)])
      let m = row.max()!
      let z = row.reduce(0) { $0 + Foundation_exp($1 - m) }
      loss += m + Foundation_log(z) - row[Int(y[i])]
      for j in 0..<classes { g[i * classes + j] = Foundation_exp(row[j] - m) / z - (j == Int(y[i]) ? 1 : 0) }
      if row.firstIndex(of: m)! == Int(y[i]) { correct += 1 }
    }
    return (loss, g, correct)
  }

  func check<T: Real>(_: T.Type, scale: Double) {
    let rows = 9
    let classes = 5
    let s: [T] = randomValues(rows * classes, seed: 11, scale: scale)
    let y = randomLabels(rows, classes: classes, seed: 12)
    let expected = naiveCrossEntropy(s.map(Double.init), y, classes: classes)
    var g = [T](repeating: .nan, count: rows * classes)
    let r = s.withUnsafeBufferPointer { ps in
      y.withUnsafeBufferPointer { py in
        g.withUnsafeMutableBufferPointer { pg in
          T.softmaxCrossEntropy(logits: ps.baseAddress!, labels: py.baseAddress!, rows: rows, classes: classes, gradient: pg.baseAddress!)
        }
      }
    }
    let tol = T.self == Float.self ? 1e-5 : 1e-13
    #expect(
      abs(r.lossSum - expected.loss) <= tol * max(1, abs(expected.loss)), "\(T.self) scale \(scale): loss \(r.lossSum) vs \(expected.loss)")
    #expect(r.correct == expected.correct)
    expectClose(g.map(Double.init), expected.gradient, tolerance: tol, "\(T.self) softmax gradient, scale \(scale)")
    // Without a gradient buffer: same loss and accuracy.
    let r2 = s.withUnsafeBufferPointer { ps in
      y.withUnsafeBufferPointer { py in
        T.softmaxCrossEntropy(logits: ps.baseAddress!, labels: py.baseAddress!, rows: rows, classes: classes, gradient: nil)
      }
    }
    #expect(r2.lossSum == r.lossSum && r2.correct == r.correct)
  }

  @Test("softmaxCrossEntropy: loss, gradient P - onehot and accuracy", arguments: [1.0, 5.0, 80.0])
  func softmaxCrossEntropy(scale: Double) {
    check(Double.self, scale: scale)
    check(Float.self, scale: scale)
  }

  @Test("softmaxCrossEntropy is stable for huge logits and counts the first maximum")
  func softmaxEdgeCases() {
    // Row 0: huge logits (naive exp overflows); row 1: a tie, first maximum is class 1 = label;
    // row 2: tie, label is the second maximum -> not correct.
    let s: [Double] = [1000, 1001, 999, 1, 3, 3, 1, 3, 3]
    let y: [Int32] = [1, 1, 2]
    var g = [Double](repeating: 0, count: 9)
    let r = Double.softmaxCrossEntropy(logits: s, labels: y, rows: 3, classes: 3, gradient: &g)
    let l0 = Foundation_log(Foundation_exp(-1) + 1 + Foundation_exp(-2))
    let l1 = Foundation_log(Foundation_exp(-2) + 2)  // for both tie rows
    #expect(abs(r.lossSum - (l0 + 2 * l1)) < 1e-12, "loss \(r.lossSum) vs \(l0 + 2 * l1)")
    #expect(r.correct == 2)
    #expect(g.allSatisfy { $0.isFinite })
    #expect(abs(g[1] - (1 / (Foundation_exp(-1) + 1 + Foundation_exp(-2)) - 1)) < 1e-15)
  }

  func naiveHinge(_ s: [Double], _ y: [Int32], classes: Int) -> (loss: Double, gradient: [Double], correct: Int) {
    var loss = 0.0
    var correct = 0
    var g = [Double](repeating: 0, count: s.count)
    for i in 0..<y.count {
      let yi = Int(y[i])
      let sy = s[i * classes + yi]
      var best = 0
      for j in 0..<classes where s[i * classes + j] > s[i * classes + best] { best = j }
      if best == yi { correct += 1 }
      for j in 0..<classes where j != yi {
        let margin = s[i * classes + j] - sy + 1
        if margin > 0 {
          loss += margin
          g[i * classes + j] = 1
          g[i * classes + yi] -= 1
        }
      }
    }
    return (loss, g, correct)
  }

  func checkHinge<T: Real>(_: T.Type) {
    let rows = 11
    let classes = 4
    var s: [T] = randomValues(rows * classes, seed: 21, scale: 2)
    // A margin of exactly 0 (s_j = s_y - 1) is inactive: max(0, 0) = 0, subgradient 0.
    let y = randomLabels(rows, classes: classes, seed: 22)
    let other = (Int(y[0]) + 1) % classes
    s[other] = s[Int(y[0])] - 1
    let expected = naiveHinge(s.map(Double.init), y, classes: classes)
    var g = [T](repeating: .nan, count: rows * classes)
    let r = T.multiclassHinge(scores: s, labels: y, rows: rows, classes: classes, gradient: &g)
    let tol = T.self == Float.self ? 1e-5 : 1e-13
    #expect(abs(r.lossSum - expected.loss) <= tol * max(1, expected.loss), "\(T.self) hinge loss \(r.lossSum) vs \(expected.loss)")
    #expect(r.correct == expected.correct)
    #expect(g.map(Double.init) == expected.gradient, "\(T.self) hinge gradient")
    #expect(expected.gradient[other] == 0)
    let r2 = T.multiclassHinge(scores: s, labels: y, rows: rows, classes: classes, gradient: nil)
    #expect(r2.lossSum == r.lossSum && r2.correct == r.correct)
  }

  @Test("multiclassHinge: loss, gradient and accuracy")
  func multiclassHinge() {
    checkHinge(Double.self)
    checkHinge(Float.self)
  }

  @Test("multiclassHinge on a hand-computed example")
  func hingeByHand() {
    // scores [3, 1, 2.5], y = 0: margins 1-3+1 = -1 (inactive), 2.5-3+1 = 0.5 (active).
    var g = [Double](repeating: 9, count: 3)
    let r = Double.multiclassHinge(scores: [3, 1, 2.5], labels: [0], rows: 1, classes: 3, gradient: &g)
    #expect(r.lossSum == 0.5)
    #expect(r.correct == 1)
    #expect(g == [-1, 0, 1])
  }
}

@Suite("Column reductions, element-wise kernels")
struct ElementwiseKernelTests {
  let rows = 7, cols = 5

  func check<T: Real>(_: T.Type, accumulate: Bool) {
    let x: [T] = randomValues(rows * cols, seed: 31)
    let y: [T] = randomValues(rows * cols, seed: 32)
    let c: [T] = randomValues(cols, seed: 33)
    let start: [T] = randomValues(cols, seed: 34)
    var sums = [Double](repeating: 0, count: cols)
    var squares = sums
    var dots = sums
    for j in 0..<cols {
      let base = accumulate ? Double(start[j]) : 0
      sums[j] = base
      squares[j] = base
      dots[j] = base
      for i in 0..<rows {
        let xv = Double(x[i * cols + j])
        let d = xv - Double(c[j])
        sums[j] += xv
        squares[j] += d * d
        dots[j] += xv * Double(y[i * cols + j])
      }
    }
    var s1 = accumulate ? start : [T](repeating: .nan, count: cols)
    var s2 = s1
    var s3 = s1
    T.columnSums(x, rows: rows, cols: cols, into: &s1, accumulate: accumulate)
    T.columnCenteredSquares(x, center: c, rows: rows, cols: cols, into: &s2, accumulate: accumulate)
    T.columnDots(x, y, rows: rows, cols: cols, into: &s3, accumulate: accumulate)
    let tol = tolerance(T.self)
    expectClose(s1.map(Double.init), sums, tolerance: tol, "\(T.self) columnSums accumulate=\(accumulate)")
    expectClose(s2.map(Double.init), squares, tolerance: tol, "\(T.self) columnCenteredSquares accumulate=\(accumulate)")
    expectClose(s3.map(Double.init), dots, tolerance: tol, "\(T.self) columnDots accumulate=\(accumulate)")
  }

  @Test("columnSums, columnCenteredSquares, columnDots", arguments: [false, true])
  func columnReductions(accumulate: Bool) {
    check(Double.self, accumulate: accumulate)
    check(Float.self, accumulate: accumulate)
  }

  func checkSumOfSquares<T: Real>(_: T.Type, count: Int) {
    let x: [T] = randomValues(count, seed: 41, scale: 3)
    let expected = x.reduce(0.0) { $0 + Double($1) * Double($1) }
    let actual = T.sumOfSquares(x, count: count)
    let tol = T.self == Float.self ? 1e-5 : 1e-13
    #expect(abs(actual - expected) <= tol * max(1, expected), "\(T.self) sumOfSquares n=\(count): \(actual) vs \(expected)")
  }

  @Test("sumOfSquares across block boundaries", arguments: [0, 1, 1023, 1024, 1025, 5000])
  func sumOfSquares(count: Int) {
    checkSumOfSquares(Double.self, count: count)
    checkSumOfSquares(Float.self, count: count)
  }

  @Test("broadcastRows, relu, reluBackward, axpy, scale")
  func simpleKernels() {
    let v: [Double] = [1, -2, 3]
    var y = [Double](repeating: 0, count: 9)
    Double.broadcastRows(v, rows: 3, cols: 3, into: &y)
    #expect(y == v + v + v)
    var x: [Double] = [-1, 0, 2, -0.5, 3]
    Double.reluInPlace(&x, count: 5)
    #expect(x == [0, 0, 2, 0, 3])
    var g: [Double] = [5, 6, 7, 8, 9]
    Double.reluBackwardInPlace(&g, output: x, count: 5)
    #expect(g == [0, 0, 7, 0, 9])
    var z: [Float] = [1, 2, 3]
    Float.axpy(2, [1, 1, -1], &z, count: 3)
    #expect(z == [3, 4, 1])
    Float.scale(&z, by: -0.5, count: 3)
    #expect(z == [-1.5, -2, -0.5])
  }

  @Test("batchNormApply and batchNormBackwardInPlace")
  func batchNorm() {
    let rows = 6
    let cols = 3
    let x: [Double] = randomValues(rows * cols, seed: 51, scale: 2)
    let mean: [Double] = [0.1, -0.2, 0.3]
    let invStd: [Double] = [1.5, 0.7, 2]
    let gamma: [Double] = [1.1, 0.9, -0.4]
    let beta: [Double] = [0.05, 0, -1]
    var xhat = [Double](repeating: 0, count: rows * cols)
    var out = xhat
    var out2 = xhat
    Double.batchNormApply(x, rows: rows, cols: cols, mean: mean, invStd: invStd, gamma: gamma, beta: beta, xhat: &xhat, y: &out)
    out2.withUnsafeMutableBufferPointer { p in
      Double.batchNormApply(x, rows: rows, cols: cols, mean: mean, invStd: invStd, gamma: gamma, beta: beta, xhat: nil, y: p.baseAddress!)
    }
    var eh = xhat
    var ey = xhat
    for i in 0..<rows {
      for j in 0..<cols {
        eh[i * cols + j] = (x[i * cols + j] - mean[j]) * invStd[j]
        ey[i * cols + j] = gamma[j] * eh[i * cols + j] + beta[j]
      }
    }
    expectClose(xhat, eh, tolerance: 1e-15, "xhat")
    expectClose(out, ey, tolerance: 1e-15, "batchNormApply y")
    expectClose(out2, ey, tolerance: 1e-15, "batchNormApply y without xhat")

    let dy: [Double] = randomValues(rows * cols, seed: 52)
    let count = 10  // global count larger than the local rows (synchronized BN)
    let s1: [Double] = [0.3, -0.1, 0.2]
    let s2: [Double] = [0.05, 0.4, -0.6]
    var dx = dy
    Double.batchNormBackwardInPlace(
      &dx, xhat: xhat, rows: rows, cols: cols, gamma: gamma, invStd: invStd, sumDy: s1, sumDyXhat: s2, count: count)
    var expected = dy
    for i in 0..<rows {
      for j in 0..<cols {
        let k = i * cols + j
        expected[k] = gamma[j] * invStd[j] * (dy[k] - s1[j] / 10 - xhat[k] * s2[j] / 10)
      }
    }
    expectClose(dx, expected, tolerance: 1e-14, "batchNormBackwardInPlace")
  }
}

extension Array {
  /// Calls `body` with a buffer pointer to each inner array (nested, so all stay valid).
  func withUnsafeBufferPointers<E, R>(_ body: ([UnsafeBufferPointer<E>]) throws -> R) rethrows -> R where Element == [E] {
    func nest(_ i: Int, _ acc: [UnsafeBufferPointer<E>]) throws -> R {
      i == count ? try body(acc) : try self[i].withUnsafeBufferPointer { try nest(i + 1, acc + [$0]) }
    }
    return try nest(0, [])
  }
}

@Suite("Optimizer and data kernels")
struct OptimizerKernelTests {
  func check<T: Real>(_: T.Type, rho: Double, decay: Double) {
    let n = 17
    var theta: [T] = randomValues(n, seed: 61)
    let sum: [T] = randomValues(n, seed: 62, scale: 10)
    var v: [T] = rho == 0 ? [T](repeating: 7, count: n) : randomValues(n, seed: 63, scale: 0.1)
    let inverseBatch = 1.0 / 8
    let eta = 0.05
    var et = theta.map(Double.init)
    var ev = v.map(Double.init)
    for i in 0..<n {
      let g = Double(sum[i]) * inverseBatch + decay * et[i]
      if rho == 0 {
        et[i] -= eta * g
      } else {
        ev[i] = rho * ev[i] + eta * g
        et[i] -= ev[i]
      }
    }
    T.momentumStep(
      theta: &theta, velocity: &v, gradientSum: sum, count: n, inverseBatch: T(inverseBatch), decay: T(decay), eta: T(eta), rho: T(rho))
    let tol = tolerance(T.self)
    expectClose(theta.map(Double.init), et, tolerance: tol, "\(T.self) momentumStep theta rho=\(rho) decay=\(decay)")
    if rho == 0 {
      #expect(v.allSatisfy { $0 == 7 }, "rho = 0 must leave the velocity untouched")
    } else {
      expectClose(v.map(Double.init), ev, tolerance: tol, "\(T.self) momentumStep velocity rho=\(rho)")
    }
  }

  @Test("momentumStep with and without momentum", arguments: [0.0, 0.9], [0.0, 0.02])
  func momentumStep(rho: Double, decay: Double) {
    check(Double.self, rho: rho, decay: decay)
    check(Float.self, rho: rho, decay: decay)
  }

  /// With k addends, the update equals summing them in order ((s0 + s1) + s2) + ... first and
  /// then stepping with the sum, bit for bit (lengths across the 1024-element blocks).
  func checkAddends<T: Real>(_: T.Type, operands k: Int, n: Int, rho: Double) {
    let addends: [[T]] = (0..<k).map { randomValues(n, seed: 70 + UInt64($0), scale: 10) }
    var total = addends[0]
    for a in addends.dropFirst() { for i in 0..<n { total[i] = total[i] + a[i] } }
    let theta0: [T] = randomValues(n, seed: 69)
    let v0: [T] = randomValues(n, seed: 68, scale: 0.1)
    var (theta1, v1) = (theta0, v0)
    T.momentumStep(
      theta: &theta1, velocity: &v1, gradientSum: total, count: n, inverseBatch: T(0.125), decay: T(0.02), eta: T(0.05), rho: T(rho))
    var (theta2, v2) = (theta0, v0)
    addends.withUnsafeBufferPointers { pointers in
      let operands = pointers.map { Optional($0.baseAddress!) }
      T.momentumStep(
        theta: &theta2, velocity: &v2, gradientSums: operands, operands: k, count: n, inverseBatch: T(0.125), decay: T(0.02), eta: T(0.05),
        rho: T(rho))
    }
    #expect(theta2 == theta1 && v2 == v1, "\(T.self) \(k) addends, n = \(n), rho = \(rho)")
  }

  @Test("momentumStep over addends: the bits of summing in order first", arguments: [1, 2, 3, 4])
  func momentumAddends(operands: Int) {
    for n in [1, 17, 1024, 2500] {
      for rho in [0.0, 0.9] {
        checkAddends(Float.self, operands: operands, n: n, rho: rho)
        checkAddends(Double.self, operands: operands, n: n, rho: rho)
      }
    }
  }

  @Test("momentumStep by hand: two steps")
  func momentumByHand() {
    var theta: [Double] = [1]
    var v: [Double] = [0]
    // g = 4/2 + 0.5*1 = 2.5; v = 0.1*2.5 = 0.25; theta = 0.75
    Double.momentumStep(theta: &theta, velocity: &v, gradientSum: [4], count: 1, inverseBatch: 0.5, decay: 0.5, eta: 0.1, rho: 0.5)
    #expect(v == [0.25] && theta == [0.75])
    // g = 2 + 0.375 = 2.375; v = 0.125 + 0.2375 = 0.3625; theta = 0.3875
    Double.momentumStep(theta: &theta, velocity: &v, gradientSum: [4], count: 1, inverseBatch: 0.5, decay: 0.5, eta: 0.1, rho: 0.5)
    #expect(abs(v[0] - 0.3625) < 1e-16 && abs(theta[0] - 0.3875) < 1e-16)
  }

  func checkGather<T: Real>(_: T.Type) {
    let total = 10
    let cols = 6
    var rng = SeededGenerator(seed: 71)
    let pixels = (0..<(total * cols)).map { _ in UInt8(rng.nextBelow(256)) }
    let indices = [7, 0, 9, 7, 3]
    let mean: [T] = randomValues(cols, seed: 72, scale: 0.5)
    let invStd: [T] = (0..<cols).map { T(1 + Double($0) * 0.5) }
    var y = [T](repeating: .nan, count: indices.count * cols)
    T.gatherNormalized(pixels: pixels, indices: indices, rows: indices.count, cols: cols, mean: mean, invStd: invStd, into: &y)
    var expected = [Double](repeating: 0, count: y.count)
    for (i, r) in indices.enumerated() {
      for j in 0..<cols {
        expected[i * cols + j] = (Double(pixels[r * cols + j]) / 255 - Double(mean[j])) * Double(invStd[j])
      }
    }
    expectClose(y.map(Double.init), expected, tolerance: tolerance(T.self), "\(T.self) gatherNormalized")
  }

  @Test("gatherNormalized gathers rows and normalizes pixels")
  func gatherNormalized() {
    checkGather(Double.self)
    checkGather(Float.self)
  }
}
