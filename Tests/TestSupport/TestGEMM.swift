import Foundation
import LinearAlgebra

/// The GEMM backend of a test process: `DPTRAIN_TEST_GEMM=openblas|onednn` routes Float
/// products there (scripts/test runs the fixture, gradient-check and data-parallel suites again
/// under each backend and each OpenBLAS core the CPU can run); unset, the library's default
/// (oneDNN where built in). Suites that compare numbers read `TestGEMM.backend` in their
/// `init`, so the choice is made before their first product and never changes afterwards.
public enum TestGEMM {
  public static let backend: GEMMBackend = {
    if let name = ProcessInfo.processInfo.environment["DPTRAIN_TEST_GEMM"], !name.isEmpty {
      guard let backend = GEMMBackend(rawValue: name), backend.isBuiltIn else {
        fatalError("DPTRAIN_TEST_GEMM=\(name): expected openblas or onednn (built in)")
      }
      GEMM.use(backend)
    }
    return GEMM.floatBackend
  }()
}
