import CKernels

/// An instruction-set feature a program can use on this CPU (cpuid, and enabled by the OS).
public enum CPUFeature: String, CaseIterable, Sendable, Codable, Comparable {
  case sse2, sse3, ssse3
  case sse41 = "sse4.1"
  case sse42 = "sse4.2"
  case avx, fma, avx2
  case avx512f, avx512dq, avx512cd, avx512bw, avx512vl
  case avx512vnni = "avx512_vnni"
  case avx512bf16 = "avx512_bf16"
  case avx512fp16 = "avx512_fp16"
  case amx

  var bit: UInt64 {
    switch self {
    case .sse2: UInt64(DP_CPU_SSE2)
    case .sse3: UInt64(DP_CPU_SSE3)
    case .ssse3: UInt64(DP_CPU_SSSE3)
    case .sse41: UInt64(DP_CPU_SSE41)
    case .sse42: UInt64(DP_CPU_SSE42)
    case .avx: UInt64(DP_CPU_AVX)
    case .fma: UInt64(DP_CPU_FMA)
    case .avx2: UInt64(DP_CPU_AVX2)
    case .avx512f: UInt64(DP_CPU_AVX512F)
    case .avx512dq: UInt64(DP_CPU_AVX512DQ)
    case .avx512cd: UInt64(DP_CPU_AVX512CD)
    case .avx512bw: UInt64(DP_CPU_AVX512BW)
    case .avx512vl: UInt64(DP_CPU_AVX512VL)
    case .avx512vnni: UInt64(DP_CPU_AVX512VNNI)
    case .avx512bf16: UInt64(DP_CPU_AVX512BF16)
    case .avx512fp16: UInt64(DP_CPU_AVX512FP16)
    case .amx: UInt64(DP_CPU_AMX)
    }
  }

  public static func < (a: CPUFeature, b: CPUFeature) -> Bool { a.bit < b.bit }

  /// The AVX-512 subsets OpenBLAS's SkylakeX kernels use.
  public static let skylakeX: Set<CPUFeature> = [.avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512cd]
}

/// This machine's processor, as cpuid describes it.
public struct CPUInfo: Sendable, Codable, Equatable {
  /// "GenuineIntel", "AuthenticAMD", ...
  public var vendor: String
  /// The brand string, e.g. "AMD EPYC 7B13 64-Core Processor" (a VM may show a generic one).
  public var brand: String
  /// Family and model as the vendor numbers them (extended fields folded in): Intel 6/207 is
  /// Emerald Rapids, AMD 25/1 Zen 3 (Milan).
  public var family: Int
  public var model: Int
  public var features: Set<CPUFeature>

  public init(vendor: String, brand: String, family: Int, model: Int, features: Set<CPUFeature>) {
    self.vendor = vendor
    self.brand = brand
    self.family = family
    self.model = model
    self.features = features
  }

  /// The CPU this process runs on.
  public static let current: CPUInfo = {
    var info = dp_cpu_info_t()
    dp_cpu_info(&info)
    let vendor = withUnsafeBytes(of: &info.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let brand = withUnsafeBytes(of: &info.brand) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return CPUInfo(
      vendor: vendor, brand: brand.trimmingSpaces, family: Int(info.family), model: Int(info.model),
      features: Set(CPUFeature.allCases.filter { info.features & $0.bit != 0 }))
  }()

  public var isAMD: Bool { vendor == "AuthenticAMD" }

  /// The widest vector ISA of the features: "avx512", "avx2", "avx" or "sse".
  public var vectorISA: String {
    if features.isSuperset(of: CPUFeature.skylakeX) { return "avx512" }
    if features.isSuperset(of: [.avx2, .fma]) { return "avx2" }
    return features.contains(.avx) ? "avx" : "sse"
  }

  /// One line: `AMD EPYC 7B13 (AuthenticAMD family 25 model 1), avx2`.
  public var summary: String {
    "\(brand.isEmpty ? "unknown CPU" : brand) (\(vendor) family \(family) model \(model)), \(vectorISA)"
  }
}

extension String {
  /// Without leading and trailing spaces (cpuid's brand string, OpenBLAS's configuration).
  var trimmingSpaces: String {
    var s = Substring(self)
    while s.first == " " { s.removeFirst() }
    while s.last == " " { s.removeLast() }
    return String(s)
  }
}
