import CKernels
import COpenBLAS

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A floating-point scalar dptrain computes in: `Float` (training default) or `Double`
/// (gradient checks, `--precision double`).
///
/// Every per-element loop of the library is a static requirement here. Generic model code
/// (`MLP<T>`, the trainer) is not specialized across module boundaries, so a loop written
/// generically there would pay a witness-table call per element; instead it calls one of
/// these kernels per tensor. The element-wise bodies are C (`CKernels`, vectorized with runtime
/// ISA dispatch), the loss bodies Swift (`Kernels.swift`); matrix products go to the GEMM
/// backend (`GEMM`: oneDNN or OpenBLAS for Float, OpenBLAS for Double).
public protocol Real: BinaryFloatingPoint, Codable, Sendable, CustomStringConvertible,
  LosslessStringConvertible, SIMDScalar
where RawSignificand: FixedWidthInteger {
  /// "float32" or "float64", as safetensors and NumPy name them.
  static var dtypeName: String { get }

  // MARK: BLAS (row-major)

  /// `C = alpha * op(A) * op(B) + beta * C`, row-major; `op(A)` is `m x k`, `op(B)` is `k x n`.
  static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Self, a: UnsafePointer<Self>, lda: Int,
    b: UnsafePointer<Self>, ldb: Int,
    beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)

  /// `y = alpha * op(A) * x + beta * y`, row-major `A` of `m x n`.
  static func gemv(
    trans: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
    x: UnsafePointer<Self>, beta: Self, y: UnsafeMutablePointer<Self>)

  // MARK: Elementary functions

  static func exp(_ x: Self) -> Self
  static func log(_ x: Self) -> Self
  static func squareRoot(_ x: Self) -> Self

  // MARK: Element-wise kernels (n elements unless stated)

  /// Each of `rows` rows of `y` (`[rows, cols]`, row stride `cols`) set to `v` (`[cols]`).
  static func broadcastRows(_ v: UnsafePointer<Self>, rows: Int, cols: Int, into y: UnsafeMutablePointer<Self>)
  /// `x = max(x, 0)` in place.
  static func reluInPlace(_ x: UnsafeMutablePointer<Self>, count: Int)
  /// `g = a > 0 ? g : 0` in place: ReLU backward given its output `a`.
  static func reluBackwardInPlace(_ g: UnsafeMutablePointer<Self>, output a: UnsafePointer<Self>, count: Int)
  /// `s[j] (+)= sum_i x[i, j]` over a row-major `[rows, cols]` matrix.
  static func columnSums(_ x: UnsafePointer<Self>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Self>, accumulate: Bool)
  /// `s[j] (+)= sum_i (x[i, j] - c[j])^2`.
  static func columnCenteredSquares(
    _ x: UnsafePointer<Self>, center c: UnsafePointer<Self>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Self>, accumulate: Bool)
  /// `s[j] (+)= sum_i x[i, j] * y[i, j]`.
  static func columnDots(
    _ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Self>, accumulate: Bool)
  /// Sum of squares of `n` elements, accumulated in Double.
  static func sumOfSquares(_ x: UnsafePointer<Self>, count: Int) -> Double
  /// `y += alpha * x`.
  static func axpy(_ alpha: Self, _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
  /// `x *= alpha`.
  static func scale(_ x: UnsafeMutablePointer<Self>, by alpha: Self, count: Int)

  /// Batch normalization, training or inference, per feature `j` of `[rows, cols]`:
  /// `xhat = (x - mean[j]) * invStd[j]`, `y = gamma[j] * xhat + beta[j]`. `xhat` may be nil.
  static func batchNormApply(
    _ x: UnsafePointer<Self>, rows: Int, cols: Int, mean: UnsafePointer<Self>, invStd: UnsafePointer<Self>,
    gamma: UnsafePointer<Self>, beta: UnsafePointer<Self>,
    xhat: UnsafeMutablePointer<Self>?, y: UnsafeMutablePointer<Self>)
  /// Batch normalization backward from the global sums `sumDy[j] = sum dy`,
  /// `sumDyXhat[j] = sum dy * xhat` over `count` samples:
  /// `dx = gamma * invStd * (dy - sumDy/count - xhat * sumDyXhat/count)`, written over `dy`.
  static func batchNormBackwardInPlace(
    _ dy: UnsafeMutablePointer<Self>, xhat: UnsafePointer<Self>, rows: Int, cols: Int,
    gamma: UnsafePointer<Self>, invStd: UnsafePointer<Self>,
    sumDy: UnsafePointer<Self>, sumDyXhat: UnsafePointer<Self>, count: Int)

  /// Row-wise softmax cross-entropy over `[rows, classes]` logits: writes `P - onehot(y)`
  /// into `gradient` (the gradient of the SUM of losses) and returns the sum of losses and
  /// the number of rows whose arg-max equals the label. `gradient` may be nil (evaluation).
  static func softmaxCrossEntropy(
    logits: UnsafePointer<Self>, labels: UnsafePointer<Int32>, rows: Int, classes: Int,
    gradient: UnsafeMutablePointer<Self>?
  ) -> (lossSum: Double, correct: Int)
  /// Multiclass hinge loss, margin 1: `l = sum_{j != y} max(0, s_j - s_y + 1)`; gradient of the
  /// sum of losses, arg-max accuracy as above.
  static func multiclassHinge(
    scores: UnsafePointer<Self>, labels: UnsafePointer<Int32>, rows: Int, classes: Int,
    gradient: UnsafeMutablePointer<Self>?
  ) -> (lossSum: Double, correct: Int)

  /// Momentum SGD over one parameter slot, in the course's form, with the gradient given as a
  /// SUM over `batchCount` samples and the L2 penalty's gradient `2 * lambda * theta` folded in:
  /// `g = sum / batchCount + decay * theta; v = rho * v + eta * g; theta -= v`.
  /// With `rho == 0` the velocity is not touched: `theta -= eta * g`.
  static func momentumStep(
    theta: UnsafeMutablePointer<Self>, velocity: UnsafeMutablePointer<Self>, gradientSum: UnsafePointer<Self>,
    count: Int, inverseBatch: Self, decay: Self, eta: Self, rho: Self)

  /// `momentumStep` with the gradient sum given as `operands` addends, added in order
  /// (`((s0 + s1) + s2) + ...`, the rank order of `allReduceSum`): every rank's copy of a
  /// segment, read in place, so that the reduction and the update are one pass.
  static func momentumStep(
    theta: UnsafeMutablePointer<Self>, velocity: UnsafeMutablePointer<Self>, gradientSums: UnsafePointer<UnsafePointer<Self>?>,
    operands: Int, count: Int, inverseBatch: Self, decay: Self, eta: Self, rho: Self)

  /// `y[i, j] = (Self(x[i, j]) * (1/255) - mean[j]) * invStd[j]` for the `rows` given by
  /// `indices` into row-major `UInt8` pixels `[*, cols]`: gathers and normalizes a batch.
  static func gatherNormalized(
    pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int>, rows: Int, cols: Int,
    mean: UnsafePointer<Self>, invStd: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>)
}

/// BLAS threads of this process: those of every GEMM backend (OpenBLAS's pool, oneDNN's
/// OpenMP threads), so that ranks x threads stay within the node's cores whichever runs.
public enum BLAS {
  public static var threads: Int { GEMM.threads }
  public static func setThreads(_ n: Int) { GEMM.setThreads(n) }
}

@inline(__always) @usableFromInline
func blasInt(_ x: Int) -> blasint {
  precondition(x >= 0 && x <= Int(Int32.max), "BLAS dimension \(x) out of 32-bit range")
  return blasint(x)
}

extension Float: Real {
  public static var dtypeName: String { "float32" }

  @inline(__always)
  public static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    GEMM.sgemm(
      transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
      backend: GEMM.floatBackend)
  }
  public static func gemv(
    trans: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
    beta: Float, y: UnsafeMutablePointer<Float>
  ) {
    cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a, blasInt(lda), x, 1, beta, y, 1)
  }
  @inline(__always) public static func exp(_ x: Float) -> Float { _expf(x) }
  @inline(__always) public static func log(_ x: Float) -> Float { _logf(x) }
  @inline(__always) public static func squareRoot(_ x: Float) -> Float { x.squareRoot() }

  public static func broadcastRows(_ v: UnsafePointer<Float>, rows: Int, cols: Int, into y: UnsafeMutablePointer<Float>) {
    dp_broadcast_rows_f32(v, rows, cols, y)
  }
  public static func reluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { dp_relu_f32(x, count) }
  public static func reluBackwardInPlace(_ g: UnsafeMutablePointer<Float>, output a: UnsafePointer<Float>, count: Int) {
    dp_relu_backward_f32(g, a, count)
  }
  public static func columnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Float>, accumulate: Bool) {
    dp_column_sums_f32(x, rows, cols, s, accumulate ? 1 : 0)
  }
  public static func columnCenteredSquares(
    _ x: UnsafePointer<Float>, center c: UnsafePointer<Float>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Float>, accumulate: Bool
  ) { dp_column_centered_squares_f32(x, c, rows, cols, s, accumulate ? 1 : 0) }
  public static func columnDots(
    _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Float>, accumulate: Bool
  ) { dp_column_dots_f32(x, y, rows, cols, s, accumulate ? 1 : 0) }
  public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double { return dp_sum_of_squares_f32(x, count) }
  public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    dp_axpy_f32(alpha, x, y, count)
  }
  public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) { dp_scale_f32(x, alpha, count) }
  public static func batchNormApply(
    _ x: UnsafePointer<Float>, rows: Int, cols: Int, mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
    beta: UnsafePointer<Float>, xhat: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>
  ) { dp_batchnorm_apply_f32(x, rows, cols, mean, invStd, gamma, beta, xhat, y) }
  public static func batchNormBackwardInPlace(
    _ dy: UnsafeMutablePointer<Float>, xhat: UnsafePointer<Float>, rows: Int, cols: Int, gamma: UnsafePointer<Float>,
    invStd: UnsafePointer<Float>, sumDy: UnsafePointer<Float>, sumDyXhat: UnsafePointer<Float>, count: Int
  ) { dp_batchnorm_backward_f32(dy, xhat, rows, cols, gamma, invStd, sumDy, sumDyXhat, count) }
  public static func softmaxCrossEntropy(
    logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, classes: Int, gradient: UnsafeMutablePointer<Float>?
  ) -> (lossSum: Double, correct: Int) { Kernels.softmaxCrossEntropy(logits, labels, rows, classes, gradient) }
  public static func multiclassHinge(
    scores: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, classes: Int, gradient: UnsafeMutablePointer<Float>?
  ) -> (lossSum: Double, correct: Int) { Kernels.multiclassHinge(scores, labels, rows, classes, gradient) }
  public static func momentumStep(
    theta: UnsafeMutablePointer<Float>, velocity: UnsafeMutablePointer<Float>, gradientSum: UnsafePointer<Float>, count: Int,
    inverseBatch: Float, decay: Float, eta: Float, rho: Float
  ) { dp_momentum_step_f32(theta, velocity, gradientSum, count, inverseBatch, decay, eta, rho) }
  public static func momentumStep(
    theta: UnsafeMutablePointer<Float>, velocity: UnsafeMutablePointer<Float>, gradientSums: UnsafePointer<UnsafePointer<Float>?>,
    operands: Int, count: Int, inverseBatch: Float, decay: Float, eta: Float, rho: Float
  ) {
    dp_momentum_step_summing_f32(theta, velocity, gradientSums, Int32(operands), count, inverseBatch, decay, eta, rho)
  }
  public static func gatherNormalized(
    pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int>, rows: Int, cols: Int, mean: UnsafePointer<Float>,
    invStd: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>
  ) { dp_gather_normalized_f32(pixels, indices, rows, cols, mean, invStd, y) }
}

extension Double: Real {
  public static var dtypeName: String { "float64" }

  @inline(__always)
  public static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
    b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    GEMM.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
  }
  public static func gemv(
    trans: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int, x: UnsafePointer<Double>,
    beta: Double, y: UnsafeMutablePointer<Double>
  ) {
    cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, blasInt(m), blasInt(n), alpha, a, blasInt(lda), x, 1, beta, y, 1)
  }
  @inline(__always) public static func exp(_ x: Double) -> Double { _exp(x) }
  @inline(__always) public static func log(_ x: Double) -> Double { _log(x) }
  @inline(__always) public static func squareRoot(_ x: Double) -> Double { x.squareRoot() }

  public static func broadcastRows(_ v: UnsafePointer<Double>, rows: Int, cols: Int, into y: UnsafeMutablePointer<Double>) {
    dp_broadcast_rows_f64(v, rows, cols, y)
  }
  public static func reluInPlace(_ x: UnsafeMutablePointer<Double>, count: Int) { dp_relu_f64(x, count) }
  public static func reluBackwardInPlace(_ g: UnsafeMutablePointer<Double>, output a: UnsafePointer<Double>, count: Int) {
    dp_relu_backward_f64(g, a, count)
  }
  public static func columnSums(_ x: UnsafePointer<Double>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Double>, accumulate: Bool) {
    dp_column_sums_f64(x, rows, cols, s, accumulate ? 1 : 0)
  }
  public static func columnCenteredSquares(
    _ x: UnsafePointer<Double>, center c: UnsafePointer<Double>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Double>,
    accumulate: Bool
  ) { dp_column_centered_squares_f64(x, c, rows, cols, s, accumulate ? 1 : 0) }
  public static func columnDots(
    _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Double>, accumulate: Bool
  ) { dp_column_dots_f64(x, y, rows, cols, s, accumulate ? 1 : 0) }
  public static func sumOfSquares(_ x: UnsafePointer<Double>, count: Int) -> Double { return dp_sum_of_squares_f64(x, count) }
  public static func axpy(_ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) {
    dp_axpy_f64(alpha, x, y, count)
  }
  public static func scale(_ x: UnsafeMutablePointer<Double>, by alpha: Double, count: Int) { dp_scale_f64(x, alpha, count) }
  public static func batchNormApply(
    _ x: UnsafePointer<Double>, rows: Int, cols: Int, mean: UnsafePointer<Double>, invStd: UnsafePointer<Double>,
    gamma: UnsafePointer<Double>, beta: UnsafePointer<Double>, xhat: UnsafeMutablePointer<Double>?, y: UnsafeMutablePointer<Double>
  ) { dp_batchnorm_apply_f64(x, rows, cols, mean, invStd, gamma, beta, xhat, y) }
  public static func batchNormBackwardInPlace(
    _ dy: UnsafeMutablePointer<Double>, xhat: UnsafePointer<Double>, rows: Int, cols: Int, gamma: UnsafePointer<Double>,
    invStd: UnsafePointer<Double>, sumDy: UnsafePointer<Double>, sumDyXhat: UnsafePointer<Double>, count: Int
  ) { dp_batchnorm_backward_f64(dy, xhat, rows, cols, gamma, invStd, sumDy, sumDyXhat, count) }
  public static func softmaxCrossEntropy(
    logits: UnsafePointer<Double>, labels: UnsafePointer<Int32>, rows: Int, classes: Int, gradient: UnsafeMutablePointer<Double>?
  ) -> (lossSum: Double, correct: Int) { Kernels.softmaxCrossEntropy(logits, labels, rows, classes, gradient) }
  public static func multiclassHinge(
    scores: UnsafePointer<Double>, labels: UnsafePointer<Int32>, rows: Int, classes: Int, gradient: UnsafeMutablePointer<Double>?
  ) -> (lossSum: Double, correct: Int) { Kernels.multiclassHinge(scores, labels, rows, classes, gradient) }
  public static func momentumStep(
    theta: UnsafeMutablePointer<Double>, velocity: UnsafeMutablePointer<Double>, gradientSum: UnsafePointer<Double>, count: Int,
    inverseBatch: Double, decay: Double, eta: Double, rho: Double
  ) { dp_momentum_step_f64(theta, velocity, gradientSum, count, inverseBatch, decay, eta, rho) }
  public static func momentumStep(
    theta: UnsafeMutablePointer<Double>, velocity: UnsafeMutablePointer<Double>, gradientSums: UnsafePointer<UnsafePointer<Double>?>,
    operands: Int, count: Int, inverseBatch: Double, decay: Double, eta: Double, rho: Double
  ) {
    dp_momentum_step_summing_f64(theta, velocity, gradientSums, Int32(operands), count, inverseBatch, decay, eta, rho)
  }
  public static func gatherNormalized(
    pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int>, rows: Int, cols: Int, mean: UnsafePointer<Double>,
    invStd: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>
  ) { dp_gather_normalized_f64(pixels, indices, rows, cols, mean, invStd, y) }
}

@inline(__always) private func _expf(_ x: Float) -> Float { expf(x) }
@inline(__always) private func _logf(_ x: Float) -> Float { logf(x) }
@inline(__always) private func _exp(_ x: Double) -> Double { exp(x) }
@inline(__always) private func _log(_ x: Double) -> Double { log(x) }

/// Memory hints.
public enum Prefetch {
  /// Starts bringing `rows` records of `cols` bytes at `pixels + indices[i] * cols` into cache.
  @inline(__always)
  public static func rows(pixels: UnsafePointer<UInt8>, indices: UnsafePointer<Int>, rows: Int, cols: Int) {
    dp_prefetch_rows(pixels, indices, rows, cols)
  }
}

extension Array where Element: Real {
  /// `count` zeros, filled as bytes (all-zero bytes are 0.0). `[T](repeating: 0, count:)` in
  /// generic code that is not specialized copies element by element through value witnesses,
  /// about 20x slower.
  public static func zeros(_ count: Int) -> [Element] {
    [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
      if count > 0 {
        UnsafeMutableRawPointer(buffer.baseAddress!).initializeMemory(
          as: UInt8.self, repeating: 0, count: count * MemoryLayout<Element>.stride)
      }
      initialized = count
    }
  }
}
