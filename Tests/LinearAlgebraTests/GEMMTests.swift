import Foundation
import LinearAlgebra
import TestSupport
import Testing

@Suite("GEMM backends: choice, kernel decision, self-check")
struct GEMMTests {
  init() { _ = TestGEMM.backend }

  struct CoreCase: Sendable, CustomTestStringConvertible {
    var cpu: String
    var features: Set<CPUFeature>
    var isAMD: Bool
    var detected: String
    var user: String?
    var expected: OpenBLASCoreDecision
    var testDescription: String { "\(cpu), OpenBLAS picked \(detected), OPENBLAS_CORETYPE=\(user ?? "unset")" }
  }

  static let sse: Set<CPUFeature> = [.sse2, .sse3, .ssse3, .sse41, .sse42]
  static let avx2: Set<CPUFeature> = sse.union([.avx, .fma, .avx2])
  static let avx512: Set<CPUFeature> = avx2.union(CPUFeature.skylakeX).union([.avx512vnni, .avx512bf16, .avx512fp16])

  /// CPU features x the core OpenBLAS reports x the user's OPENBLAS_CORETYPE -> what dptrain does.
  static let coreCases: [CoreCase] = [
    // Emerald Rapids under 0.3.21: model 207 unknown, fell through to Prescott.
    CoreCase(
      cpu: "Emerald Rapids", features: avx512, isAMD: false, detected: "Prescott", user: nil,
      expected: .reexecute(core: "SkylakeX", detected: "Prescott")),
    CoreCase(cpu: "Emerald Rapids", features: avx512, isAMD: false, detected: "SkylakeX", user: nil, expected: .keep),
    CoreCase(
      cpu: "Emerald Rapids", features: avx512, isAMD: false, detected: "Prescott", user: "Haswell", expected: .respectUser("Haswell")),
    CoreCase(
      cpu: "Emerald Rapids", features: avx512, isAMD: false, detected: "Haswell", user: nil,
      expected: .reexecute(core: "SkylakeX", detected: "Haswell")),
    // Zen 4 under 0.3.21: picked Cooperlake (AVX-512): nothing better.
    CoreCase(cpu: "Zen 4", features: avx512, isAMD: true, detected: "Cooperlake", user: nil, expected: .keep),
    // Zen 3: Zen, the best there is; a fallback would get Zen back.
    CoreCase(cpu: "Zen 3", features: avx2, isAMD: true, detected: "Zen", user: nil, expected: .keep),
    CoreCase(
      cpu: "Zen 3", features: avx2, isAMD: true, detected: "Prescott", user: nil, expected: .reexecute(core: "Zen", detected: "Prescott")),
    CoreCase(
      cpu: "Zen 3", features: avx2, isAMD: true, detected: "Nehalem", user: "", expected: .reexecute(core: "Zen", detected: "Nehalem")),
    // An AVX2 Intel CPU 0.3.21 does not know.
    CoreCase(
      cpu: "AVX2 Intel", features: avx2, isAMD: false, detected: "Prescott", user: nil,
      expected: .reexecute(core: "Haswell", detected: "Prescott")),
    CoreCase(cpu: "AVX2 Intel", features: avx2, isAMD: false, detected: "Haswell", user: nil, expected: .keep),
    // AVX without AVX2 (Sandy Bridge): Sandybridge; a Nehalem pick is a fallback.
    CoreCase(
      cpu: "Sandy Bridge", features: sse.union([.avx]), isAMD: false, detected: "Nehalem", user: nil,
      expected: .reexecute(core: "Sandybridge", detected: "Nehalem")),
    // An SSE-only CPU: the generic kernel is the right one.
    CoreCase(cpu: "SSE only", features: sse, isAMD: false, detected: "Prescott", user: nil, expected: .keep),
    // A core name a newer OpenBLAS may report: left alone.
    CoreCase(
      cpu: "Emerald Rapids", features: avx512, isAMD: false, detected: "GraniteRapids", user: nil, expected: .unknownCore("GraniteRapids")),
    // AVX-512 F without BW/VL (Knights Landing): SkylakeX's kernels would fault; Haswell.
    CoreCase(
      cpu: "Knights Landing", features: avx2.union([.avx512f, .avx512cd]), isAMD: false, detected: "Prescott", user: nil,
      expected: .reexecute(core: "Haswell", detected: "Prescott")),
  ]

  @Test("OpenBLAS core decision", arguments: coreCases)
  func coreDecision(_ c: CoreCase) {
    let cpu = CPUInfo(
      vendor: c.isAMD ? "AuthenticAMD" : "GenuineIntel", brand: c.cpu, family: c.isAMD ? 25 : 6, model: 1, features: c.features)
    #expect(OpenBLAS.decide(cpu: cpu, detectedCore: c.detected, userCoreType: c.user) == c.expected)
  }

  @Test("the cores a CPU can run, generic first, best last")
  func runnableCores() {
    #expect(OpenBLAS.runnableCores(features: Self.avx512, isAMD: false) == ["Prescott", "Sandybridge", "Haswell", "SkylakeX"])
    #expect(OpenBLAS.runnableCores(features: Self.avx2, isAMD: true) == ["Prescott", "Sandybridge", "Haswell", "Zen"])
    #expect(OpenBLAS.runnableCores(features: Self.sse, isAMD: false) == ["Prescott"])
    for features in [Self.avx512, Self.avx2, Self.sse] {
      #expect(
        OpenBLAS.runnableCores(features: features, isAMD: true).last == OpenBLAS.bestCore(features: features, isAMD: true) ?? "Prescott")
    }
  }

  @Test("this CPU: the features cpuid reports are consistent, and OpenBLAS runs a core it can")
  func thisCPU() {
    let cpu = CPUInfo.current
    #expect(cpu.features.contains(.sse2), "every x86-64 CPU has SSE2: \(cpu.features)")
    if cpu.features.contains(.avx2) { #expect(cpu.features.contains(.avx)) }
    if cpu.features.contains(.avx512bw) { #expect(cpu.features.contains(.avx512f)) }
    #expect(["GenuineIntel", "AuthenticAMD"].contains(cpu.vendor) || !cpu.vendor.isEmpty)
    let runnable = OpenBLAS.runnableCores(features: cpu.features, isAMD: cpu.isAMD).map { $0.lowercased() }
    let core = OpenBLAS.coreName.lowercased()
    // Under scripts/test's per-core runs, OPENBLAS_CORETYPE names the core that must be running.
    if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !forced.isEmpty {
      #expect(core == forced.lowercased(), "OPENBLAS_CORETYPE=\(forced) but OpenBLAS runs \(OpenBLAS.coreName)")
    } else if cpu.isAMD || cpu.vendor == "GenuineIntel" {
      #expect(
        runnable.contains(core) || core == "cooperlake" || core == "sapphirerapids", "OpenBLAS runs \(OpenBLAS.coreName) on \(cpu.summary)")
    }
    // Under the per-ISA runs, ONEDNN_MAX_CPU_ISA names the ISA oneDNN must be running.
    if let isa = ProcessInfo.processInfo.environment["ONEDNN_MAX_CPU_ISA"], !isa.isEmpty, GEMMBackend.onednn.isBuiltIn {
      #expect(
        GEMM.kernel(of: .onednn).kernel == isa.lowercased(), "ONEDNN_MAX_CPU_ISA=\(isa) but oneDNN runs \(GEMM.kernel(of: .onednn).kernel)")
    }
  }

  @Test("auto is oneDNN for float where built in, OpenBLAS for double; oneDNN for double is refused naming --gemm")
  func requests() throws {
    #expect(try GEMM.requestedBackend(.auto, for: Float.self) == (GEMMBackend.onednn.isBuiltIn ? .onednn : .openblas))
    #expect(try GEMM.requestedBackend(.auto, for: Double.self) == .openblas)
    #expect(try GEMM.requestedBackend(.openblas, for: Float.self) == .openblas)
    #expect { try GEMM.requestedBackend(.onednn, for: Double.self) } throws: {
      "\($0)".contains("--gemm onednn") && "\($0)".contains("double")
    }
    if GEMMBackend.onednn.isBuiltIn {
      #expect(try GEMM.requestedBackend(.onednn, for: Float.self) == .onednn)
    } else {
      #expect { try GEMM.requestedBackend(.onednn, for: Float.self) } throws: { "\($0)".contains("built without oneDNN") }
    }
  }

  @Test("every built-in backend passes the self-check in each precision it computes")
  func selfCheckPasses() {
    for backend in GEMMBackend.allCases where backend.isBuiltIn {
      let float = GEMM.selfCheck(Float.self, backend: backend)
      #expect(float.passed, "\(backend) float: \(float.detail)")
    }
    let double = GEMM.selfCheck(Double.self, backend: .openblas)
    #expect(double.passed, "\(double.detail)")
  }

  @Test("a wrong backend is caught by the self-check: Float falls back to the other, naming both; Double stops")
  func wrongBackendFallsBack() throws {
    for faulty in GEMMBackend.allCases where faulty.isBuiltIn {
      let check = GEMM.selfCheck(Float.self, backend: faulty, injectedFault: faulty)
      #expect(!check.passed)
      #expect(check.detail.contains("C[0, 0]"), "\(check.detail)")
      // The other backend is not affected by this one's fault.
      #expect(GEMM.selfCheck(Float.self, backend: faulty.other, injectedFault: faulty).passed || !faulty.other.isBuiltIn)
    }
    if GEMMBackend.onednn.isBuiltIn {
      let selection = try GEMM.choose(Float.self, request: .onednn, injectedFault: .onednn)
      #expect(selection.kernel.backend == .openblas)
      #expect(selection.warnings.count == 1)
      let warning = selection.warnings.first ?? ""
      #expect(warning.contains("oneDNN") && warning.contains("OpenBLAS") && warning.contains("self-check"), "\(warning)")
      let other = try GEMM.choose(Float.self, request: .openblas, injectedFault: .openblas)
      #expect(other.kernel.backend == .onednn)
    } else {
      #expect { try GEMM.choose(Float.self, request: .openblas, injectedFault: .openblas) } throws: {
        "\($0)".contains("not training on a broken kernel")
      }
    }
    #expect { try GEMM.choose(Double.self, request: .auto, injectedFault: .openblas) } throws: {
      "\($0)".contains("not training on a broken kernel") && "\($0)".contains("float64")
    }
    // Without a fault, the request is granted as asked.
    #expect(try GEMM.choose(Float.self, request: .openblas).kernel.backend == .openblas)
    #expect(try GEMM.choose(Float.self, request: .openblas).warnings.isEmpty)
  }

  @Test("every backend's products equal a naive double product to float rounding, and repeat bit for bit")
  func backendsAgree() {
    var rng = SeededGenerator(seed: 11)
    let (m, n, k) = (100, 64, 96)
    let a = (0..<(m * k)).map { _ in Float(rng.nextGaussian()) }
    let b = (0..<(n * k)).map { _ in Float(rng.nextGaussian()) }
    var reference = [Double](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { for p in 0..<k { reference[i * n + j] += Double(a[i * k + p]) * Double(b[j * k + p]) } } }
    for backend in GEMMBackend.allCases where backend.isBuiltIn {
      func product() -> [Float] {
        var c = [Float](repeating: .nan, count: m * n)
        GEMM.product(
          Float.self, backend: backend, transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: &c,
          ldc: n)
        return c
      }
      let c = product()
      let worst = zip(c, reference).map { abs(Double($0) - $1) }.max()!
      #expect(worst < 1e-4, "\(backend): max |c - reference| \(worst)")
      #expect(product() == c, "\(backend) is not deterministic")
    }
  }

  @Test("the kernel is named: library with version, and the kernel that runs")
  func kernelNames() {
    let openblas = GEMM.kernel(of: .openblas)
    #expect(openblas.library.hasPrefix("OpenBLAS 0."))
    #expect(openblas.kernel == OpenBLAS.coreName && !openblas.kernel.isEmpty)
    #expect(openblas.description.contains(openblas.kernel))
    if GEMMBackend.onednn.isBuiltIn {
      let onednn = GEMM.kernel(of: .onednn)
      #expect(onednn.library.hasPrefix("oneDNN "))
      #expect(
        ["sse41", "avx", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"].contains(
          onednn.kernel))
    }
    #expect(GEMM.kernel(for: Double.self).backend == .openblas)
    #expect(GEMM.kernel(for: Float.self).backend == TestGEMM.backend)
  }
}
