import Foundation

/// The outcome of choosing a precision's GEMM backend at start-up.
public struct GEMMSelection: Sendable {
  /// What computes the products from now on.
  public var kernel: GEMMKernel
  /// What the user should read: a requested backend that failed its self-check, and what runs
  /// instead.
  public var warnings: [String]
}

/// Why no backend can run a precision's products.
public struct GEMMSelectionError: Error, CustomStringConvertible {
  public var description: String
}

/// The result of `GEMM.selfCheck`.
public struct GEMMSelfCheck: Sendable {
  public var passed: Bool
  /// The product that failed, with its worst element, or the number of products checked.
  public var detail: String
}

extension GEMM {
  /// The backend `request` names for `T`: auto is oneDNN for Float where built in, OpenBLAS
  /// otherwise. Throws, naming `--gemm`, for oneDNN in double precision or in a build without it.
  public static func requestedBackend<T: Real>(_ request: GEMMRequest, for _: T.Type) throws -> GEMMBackend {
    switch request {
    case .auto:
      return T.self == Float.self && GEMMBackend.onednn.isBuiltIn ? .onednn : .openblas
    case .openblas:
      return .openblas
    case .onednn:
      guard T.self == Float.self else {
        throw GEMMSelectionError(
          description: "--gemm onednn: oneDNN has no double-precision GEMM; use --gemm auto or openblas with --precision double")
      }
      guard GEMMBackend.onednn.isBuiltIn else {
        throw GEMMSelectionError(
          description:
            "--gemm onednn: this dptrain was built without oneDNN (package trait OneDNN off, or libdnnl-dev missing at build time); use --gemm auto or openblas"
        )
      }
      return .onednn
    }
  }

  /// Chooses `T`'s backend for `request` and checks it on a small fixed problem against a
  /// double-precision reference (`selfCheck`). A backend that computes wrong products is not
  /// used: Float falls back to the other backend with a warning naming both; when no backend
  /// passes, this throws and nothing trains. Call after `setThreads`, so that the check runs the
  /// threads that training will.
  public static func select<T: Real>(_: T.Type, request: GEMMRequest) throws -> GEMMSelection {
    // (A fault injected through `GEMM.injectFault` is in every product already.)
    let selection = try choose(T.self, request: request)
    if T.self == Float.self { use(selection.kernel.backend) }
    return selection
  }

  /// `select` without routing the products: what it would choose, with `injectedFault` (a
  /// backend whose products come out wrong) standing for a broken kernel.
  public static func choose<T: Real>(_: T.Type, request: GEMMRequest, injectedFault: GEMMBackend? = nil) throws -> GEMMSelection {
    let wanted = try requestedBackend(request, for: T.self)
    let check = checkedOnce(T.self, backend: wanted, injectedFault: injectedFault)
    if check.passed { return GEMMSelection(kernel: kernel(of: wanted), warnings: []) }
    let failed = "GEMM self-check: \(kernel(of: wanted)) computed a wrong \(T.dtypeName) product (\(check.detail))"
    let fallback = wanted.other
    guard T.self == Float.self, fallback.isBuiltIn else {
      throw GEMMSelectionError(
        description: "\(failed), and no other backend computes \(T.dtypeName) products in this build; not training on a broken kernel")
    }
    let second = checkedOnce(T.self, backend: fallback, injectedFault: injectedFault)
    guard second.passed else {
      throw GEMMSelectionError(
        description: "\(failed); \(kernel(of: fallback)) failed too (\(second.detail)); not training on a broken kernel")
    }
    return GEMMSelection(kernel: kernel(of: fallback), warnings: ["warning: \(failed); using \(kernel(of: fallback)) instead"])
  }

  /// `selfCheck`, run once per backend, precision, thread count and injected fault in a process
  /// (a sweep selects a backend for every trial).
  static func checkedOnce<T: Real>(_: T.Type, backend: GEMMBackend, injectedFault: GEMMBackend?) -> GEMMSelfCheck {
    let key = "\(backend) \(T.dtypeName) \(threads) \(String(describing: injectedFault)) \(String(describing: faultyBackend))"
    if let known = selfChecks.withLock({ selfCheckResults[key] }) { return known }
    let check = selfCheck(T.self, backend: backend, injectedFault: injectedFault)
    selfChecks.withLock { selfCheckResults[key] = check }
    return check
  }

  private static let selfChecks = NSLock()
  nonisolated(unsafe) private static var selfCheckResults: [String: GEMMSelfCheck] = [:]

  /// The shapes of the self-check: every transpose combination of a tiny, an odd-sized and a
  /// blocked product, one of them with padded leading dimensions, with beta 0 over a C full of
  /// NaN (which must not leak through) and with beta 1.
  static let selfCheckShapes: [(m: Int, n: Int, k: Int, pad: Int)] = [(3, 2, 5, 0), (37, 29, 53, 3), (64, 48, 80, 0)]

  /// Runs `backend`'s `T` products on `selfCheckShapes` and compares each element with a
  /// Double reference: `|c - r| <= 2 (k + 2) u (|alpha| sum_p |a_ip b_pj| + |beta c_ij|)` with
  /// `u` the unit roundoff of `T`, the standard bound on a dot product's rounding (Higham,
  /// Accuracy and Stability of Numerical Algorithms, 3.1) with a factor 2 of margin. About
  /// 11 ms (measured with perf on a Zen 3); the first oneDNN call also compiles its kernels
  /// (~20-40 ms, once per process).
  @_specialize(where T == Float) @_specialize(where T == Double)
  public static func selfCheck<T: Real>(_: T.Type, backend: GEMMBackend, injectedFault: GEMMBackend? = nil) -> GEMMSelfCheck {
    precondition(T.self == Float.self || backend == .openblas, "only OpenBLAS computes double products")
    var rng = SeededGenerator(seed: 0x5E1F)
    var checked = 0
    let u = Double(T.ulpOfOne) / 2
    for (m, n, k, pad) in selfCheckShapes {
      for transA in [false, true] {
        for transB in [false, true] {
          for (alpha, beta) in [(1.0, 0.0), (-0.5, 1.0)] {
            var problem = SelfCheckProblem(m: m, n: n, k: k, pad: pad, transA: transA, transB: transB, alpha: alpha, beta: beta)
            // Values exactly representable in T, so that the reference sees what the backend sees.
            problem.fill { Double(T(2 * rng.nextUnit() - 1)) }
            var c = problem.c0.map { T($0) }
            product(
              T.self, backend: backend, transA: transA, transB: transB, m: m, n: n, k: k, alpha: T(alpha), a: problem.a.map { T($0) },
              lda: problem.lda, b: problem.b.map { T($0) }, ldb: problem.ldb, beta: T(beta), c: &c, ldc: problem.ldc)
            if injectedFault == backend { c[0] += 1 }
            if let failure = problem.firstError(c.map { Double($0) }, unitRoundoff: u) {
              return GEMMSelfCheck(passed: false, detail: failure)
            }
            checked += 1
          }
        }
      }
    }
    return GEMMSelfCheck(passed: true, detail: "\(checked) products within rounding")
  }
}

extension GEMM {
  /// One product on a given backend, over arrays (for tests and measurements).
  public static func product<T: Real>(
    _: T.Type, backend: GEMMBackend, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T, a: [T], lda: Int,
    b: [T], ldb: Int, beta: T, c: inout [T], ldc: Int
  ) {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          let (a, b, c) = (pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
          if T.self == Float.self {
            sgemm(
              transA: transA, transB: transB, m: m, n: n, k: k, alpha: Float(alpha),
              a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
              lda: lda, b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, beta: Float(beta),
              c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc, backend: backend)
          } else {
            T.gemm(
              transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
          }
        }
      }
    }
  }
}

/// One product of the self-check, in Double: operands, the expected result and its bound.
struct SelfCheckProblem {
  let m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Double, beta: Double
  let lda: Int, ldb: Int, ldc: Int
  var a: [Double], b: [Double], c0: [Double]

  init(m: Int, n: Int, k: Int, pad: Int, transA: Bool, transB: Bool, alpha: Double, beta: Double) {
    (self.m, self.n, self.k, self.transA, self.transB, self.alpha, self.beta) = (m, n, k, transA, transB, alpha, beta)
    lda = (transA ? m : k) + pad
    ldb = (transB ? k : n) + pad
    ldc = n + pad
    a = [Double](repeating: 0, count: (transA ? k : m) * lda)
    b = [Double](repeating: 0, count: (transB ? n : k) * ldb)
    c0 = [Double](repeating: 0, count: m * ldc)
  }

  /// Random operands from `next`, and a C of NaN where beta is 0 (it must not leak through).
  mutating func fill(_ next: () -> Double) {
    for i in a.indices { a[i] = next() }
    for i in b.indices { b[i] = next() }
    for i in c0.indices { c0[i] = beta == 0 ? .nan : next() }
  }

  /// The first element of `c` (the backend's result, row stride `ldc`) outside the rounding
  /// bound, or padding of C that was written; nil when all is well.
  func firstError(_ c: [Double], unitRoundoff u: Double) -> String? {
    a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in firstError(c, a: a, b: b, unitRoundoff: u) } }
  }

  private func firstError(_ c: [Double], a: UnsafeBufferPointer<Double>, b: UnsafeBufferPointer<Double>, unitRoundoff u: Double) -> String?
  {
    for i in 0..<m {
      for j in 0..<ldc {
        let got = c[i * ldc + j]
        let before = c0[i * ldc + j]
        guard j < n else {
          if !(got == before || (got.isNaN && before.isNaN)) { return "\(m)x\(n)x\(k) wrote C's padding at [\(i), \(j)]" }
          continue
        }
        var reference = 0.0
        var magnitude = 0.0
        for p in 0..<k {
          let x = transA ? a[p * lda + i] : a[i * lda + p]
          let y = transB ? b[j * ldb + p] : b[p * ldb + j]
          reference += x * y
          magnitude += abs(x * y)
        }
        reference *= alpha
        magnitude *= abs(alpha)
        if beta != 0 {
          reference += beta * before
          magnitude += abs(beta * before)
        }
        let bound = 2 * Double(k + 2) * u * magnitude
        if !(abs(got - reference) <= bound) {
          return
            "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(n)x\(k), alpha \(alpha), beta \(beta): C[\(i), \(j)] = \(got), expected \(reference) within \(bound)"
        }
      }
    }
    return nil
  }
}
