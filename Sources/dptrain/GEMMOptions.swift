import ArgumentParser
import Foundation
import LinearAlgebra

/// `--gemm`, on every command that trains.
struct GEMMOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Matrix products: auto (oneDNN for float where built in, OpenBLAS otherwise and for double), onednn or openblas. The chosen backend is checked against a double-precision reference at start; a wrong result falls back to the other.",
      valueName: "auto|onednn|openblas"))
  var gemm = "auto"

  /// Test seam: the named backend computes wrong products, so that tests can show the
  /// self-check catching it.
  @Option(help: .hidden)
  var gemmFault: String?

  func validate() throws {
    guard GEMMRequest(rawValue: gemm) != nil else {
      throw ValidationError("--gemm: '\(gemm)' should be auto, onednn or openblas")
    }
    if let gemmFault, GEMMBackend(rawValue: gemmFault) == nil {
      throw ValidationError("--gemm-fault: '\(gemmFault)' should be onednn or openblas")
    }
  }

  /// The backend asked for (`validate()` refuses any other spelling).
  var request: GEMMRequest { GEMMRequest(rawValue: gemm) ?? .auto }

  /// Chooses and self-checks `T`'s backend for `request` (call after the threads are set);
  /// the printing rank shows what went wrong, if anything.
  func select<T: Real>(_: T.Type, request: GEMMRequest? = nil, printing: Bool) throws -> GEMMKernel {
    GEMM.injectFault(into: gemmFault.flatMap(GEMMBackend.init(rawValue:)))
    return try Self.select(T.self, request: request ?? self.request, printing: printing)
  }

  /// `GEMM.select` for a command: a backend that cannot run is a usage error (exit 64).
  static func select<T: Real>(_: T.Type, request: GEMMRequest, printing: Bool) throws -> GEMMKernel {
    let selection: GEMMSelection
    do {
      selection = try GEMM.select(T.self, request: request)
    } catch let error as GEMMSelectionError {
      throw ValidationError(error.description)
    }
    if printing { for warning in selection.warnings { printError(warning) } }
    return selection.kernel
  }
}

extension GEMMOptions {
  /// The header line that names what computes the products, and on which CPU:
  /// `matrix products: oneDNN 2.6.3 (avx2 kernels), 1 thread(s) per rank; CPU: AMD EPYC ...`.
  static func header(_ kernel: GEMMKernel) -> String {
    let origin = kernel.backend == .openblas ? " (core \(OpenBLASStartup.coreOrigin))" : ""
    return "matrix products: \(kernel)\(origin), \(BLAS.threads) thread(s) per rank; CPU: \(CPUInfo.current.summary)"
  }
}

/// Runs before anything else (before MPI_Init and before any thread starts): when OpenBLAS fell
/// back to a generic kernel on a CPU that has a better one, and the user did not set
/// `OPENBLAS_CORETYPE`, runs this program again with it set (once). See `OpenBLASCoreDecision`.
enum OpenBLASStartup {
  /// Set on the re-executed process: `DETECTED->CORE`, so that it does not loop and can say
  /// what it did.
  static let markerVariable = "DPTRAIN_OPENBLAS_CORE_FIXED"
  /// Test seam: treat `OPENBLAS_CORETYPE` as OpenBLAS's own detection (the only way to show
  /// the fallback on a CPU that 0.3.21 knows).
  static let simulateVariable = "DPTRAIN_TEST_CORETYPE_IS_DETECTED"

  static func ensureBestCore() {
    let environment = ProcessInfo.processInfo.environment
    guard environment[markerVariable] == nil else { return }
    let simulate = environment[simulateVariable] == "1"
    let decision = OpenBLAS.decide(
      cpu: .current, detectedCore: OpenBLAS.coreName, userCoreType: simulate ? nil : environment["OPENBLAS_CORETYPE"])
    guard case .reexecute(let core, let detected) = decision else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    setenv(markerVariable, "\(detected)->\(core)", 1)
    unsetenv(simulateVariable)
    let arguments = CommandLine.arguments
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &argv)
    // exec failed: go on with the detected core, saying so.
    printError(
      "warning: OpenBLAS runs its generic \(detected) kernel on this CPU, and re-running with OPENBLAS_CORETYPE=\(core) failed (\(String(cString: strerror(errno)))); set OPENBLAS_CORETYPE=\(core) yourself for full speed"
    )
  }

  /// How OpenBLAS's core came to be, for the header and `dptrain env`.
  static var coreOrigin: String {
    let environment = ProcessInfo.processInfo.environment
    if let fixed = environment[markerVariable], let arrow = fixed.range(of: "->") {
      return
        "set by dptrain: OpenBLAS \(OpenBLAS.version.split(separator: " ").last ?? "") detected \(fixed[..<arrow.lowerBound]) on this CPU, a generic kernel"
    }
    if let user = environment["OPENBLAS_CORETYPE"], !user.isEmpty { return "OPENBLAS_CORETYPE=\(user) from the environment" }
    return "detected by OpenBLAS"
  }
}
