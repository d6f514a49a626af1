import CKernels
import COpenBLAS

#if ONEDNN
  import CDNNL
#endif

/// A library that computes dptrain's matrix products.
///
/// Float products go to the backend chosen at start-up (`GEMM.select`); Double products always
/// go to OpenBLAS (oneDNN has no dgemm). Measured on one 784-256-128-10 step's eight products,
/// one thread (`../shared/gemm-study`): on an AVX-512 Xeon, oneDNN 2.6.3 reached 84% of the
/// fp32 FMA peak against OpenBLAS 0.3.21's 70% (with its SkylakeX kernel; 18% with the generic
/// kernel 0.3.21 falls back to on CPUs it does not know). oneDNN picks its code from CPU
/// feature flags, so that fallback cannot happen to it.
public enum GEMMBackend: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
  case openblas, onednn

  /// "OpenBLAS" or "oneDNN".
  public var description: String { self == .openblas ? "OpenBLAS" : "oneDNN" }

  /// The other backend (what a failed self-check falls back to).
  public var other: GEMMBackend { self == .openblas ? .onednn : .openblas }

  /// Whether this build links the backend (oneDNN is the package trait `OneDNN`).
  public var isBuiltIn: Bool {
    switch self {
    case .openblas: true
    case .onednn:
      #if ONEDNN
        true
      #else
        false
      #endif
    }
  }
}

/// `--gemm auto|onednn|openblas`: auto is oneDNN for float where it is built in, OpenBLAS
/// otherwise and for double.
public enum GEMMRequest: String, Codable, Sendable, CaseIterable {
  case auto, onednn, openblas

  /// Exactly this backend.
  public init(_ backend: GEMMBackend) {
    switch backend {
    case .onednn: self = .onednn
    case .openblas: self = .openblas
    }
  }

  /// The backend asked for, nil for auto.
  public var backend: GEMMBackend? { GEMMBackend(rawValue: rawValue) }
}

/// The library, version and kernel that ran a precision's products: what every figure names.
public struct GEMMKernel: Codable, Sendable, Equatable, CustomStringConvertible {
  public var backend: GEMMBackend
  /// "OpenBLAS 0.3.21", "oneDNN 2.6.3".
  public var library: String
  /// OpenBLAS's core ("Zen", "SkylakeX", "Prescott") or oneDNN's effective ISA ("avx2",
  /// "avx512_core_bf16").
  public var kernel: String

  public init(backend: GEMMBackend, library: String, kernel: String) {
    self.backend = backend
    self.library = library
    self.kernel = kernel
  }

  /// `OpenBLAS 0.3.21 (Zen kernel)`, `oneDNN 2.6.3 (avx2 kernels)`.
  public var description: String { "\(library) (\(kernel) kernel\(backend == .onednn ? "s" : ""))" }
}

/// Process-wide GEMM settings: the Float backend, the threads of each backend, and the
/// start-up self-check.
public enum GEMM {
  /// The Float backend. Set once at start-up by `select` (or by a test); read by every
  /// `Float.gemm`.
  nonisolated(unsafe) public private(set) static var floatBackend: GEMMBackend = GEMMBackend.onednn.isBuiltIn ? .onednn : .openblas

  /// oneDNN's OpenMP threads per product (OpenBLAS keeps its own count).
  nonisolated(unsafe) static var oneDNNThreads: Int32 = openblas_get_num_threads()

  /// Test seam: the backend whose products come out wrong (the first element of C off by one),
  /// to show that the self-check catches a broken kernel. Never set in a real run.
  nonisolated(unsafe) public private(set) static var faultyBackend: GEMMBackend?

  /// Routes Float products to `backend` (which must be built in).
  public static func use(_ backend: GEMMBackend) {
    precondition(backend.isBuiltIn, "\(backend) is not built into this dptrain")
    floatBackend = backend
  }

  /// Makes `backend`'s products wrong from now on (tests of the self-check only).
  public static func injectFault(into backend: GEMMBackend?) { faultyBackend = backend }

  /// The backend that computes `T`'s products now.
  public static func backend<T: Real>(for _: T.Type) -> GEMMBackend { T.self == Float.self ? floatBackend : .openblas }

  /// What runs `T`'s products now.
  public static func kernel<T: Real>(for _: T.Type) -> GEMMKernel { kernel(of: backend(for: T.self)) }

  /// Library, version and kernel of `backend`.
  public static func kernel(of backend: GEMMBackend) -> GEMMKernel {
    switch backend {
    case .openblas:
      return GEMMKernel(backend: .openblas, library: OpenBLAS.version, kernel: OpenBLAS.coreName)
    case .onednn:
      #if ONEDNN
        let v = dnnl_version()!.pointee
        return GEMMKernel(
          backend: .onednn, library: "oneDNN \(v.major).\(v.minor).\(v.patch)", kernel: oneDNNISAName(dnnl_get_effective_cpu_isa()))
      #else
        return GEMMKernel(backend: .onednn, library: "oneDNN", kernel: "not built in")
      #endif
    }
  }

  #if ONEDNN
    static func oneDNNISAName(_ isa: dnnl_cpu_isa_t) -> String {
      switch isa {
      case dnnl_cpu_isa_sse41: "sse41"
      case dnnl_cpu_isa_avx: "avx"
      case dnnl_cpu_isa_avx2: "avx2"
      case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
      case dnnl_cpu_isa_avx512_core: "avx512_core"
      case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
      case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
      case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
      default: "isa 0x\(String(isa.rawValue, radix: 16))"
      }
    }
  #endif

  /// Threads per product for both backends (OpenBLAS's pool and oneDNN's OpenMP threads).
  public static func setThreads(_ n: Int) {
    precondition(n >= 1, "GEMM threads must be >= 1, got \(n)")
    openblas_set_num_threads(Int32(n))
    oneDNNThreads = Int32(n)
  }

  /// Threads per product.
  public static var threads: Int { Int(openblas_get_num_threads()) }

  // MARK: - Dispatch

  @inline(__always)
  static func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, backend: GEMMBackend
  ) {
    switch backend {
    case .openblas:
      cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    case .onednn:
      #if ONEDNN
        let status = dptrain_dnnl_sgemm(
          transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc),
          oneDNNThreads)
        precondition(
          status == dnnl_success,
          "dnnl_sgemm(\(transA ? "T" : "N")\(transB ? "T" : "N"), m \(m), n \(n), k \(k), lda \(lda), ldb \(ldb), ldc \(ldc)) failed with status \(status.rawValue)"
        )
      #else
        preconditionFailure("oneDNN is not built into this dptrain")
      #endif
    }
    if _slowPath(faultyBackend == backend) && m > 0 && n > 0 { c[0] += 1 }
  }

  static func dgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
    b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    cblas_dgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      blasInt(m), blasInt(n), blasInt(k), alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    if _slowPath(faultyBackend == .openblas) && m > 0 && n > 0 { c[0] += 1 }
  }
}

/// Facts about the OpenBLAS this process loaded.
public enum OpenBLAS {
  /// "OpenBLAS 0.3.21" (the first two words of `openblas_get_config()`).
  public static var version: String {
    String(cString: openblas_get_config()).split(separator: " ").prefix(2).joined(separator: " ")
  }

  /// The core whose kernels OpenBLAS runs ("Zen", "SkylakeX", "Haswell", "Prescott", ...): what
  /// it detected, or what `OPENBLAS_CORETYPE` forced when the library loaded.
  public static var coreName: String { String(cString: openblas_get_corename()) }

  /// `openblas_get_config()` in full: version, build options, core, thread limit.
  public static var configuration: String { String(cString: openblas_get_config()).trimmingSpaces }
}
