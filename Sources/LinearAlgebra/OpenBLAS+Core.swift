/// What to do about the core OpenBLAS picked for this CPU, decided before anything else runs.
///
/// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from the CPU's model number
/// when it loads. A release that does not know a newer model falls back to a generic kernel:
/// 0.3.21 runs "Prescott" (SSE3) on Intel family 6 model 207 (Emerald Rapids), 28 GFLOP/s on a
/// training step's products instead of 114 with SkylakeX (upstream fixed the detection in
/// 0.3.25). `OPENBLAS_CORETYPE` is read when the library loads, so the remedy is to run the
/// program again with it set; a value the user set is always respected.
public enum OpenBLASCoreDecision: Equatable, Sendable {
  /// The detected core uses the widest vectors the CPU has (or dptrain has nothing better).
  case keep
  /// `OPENBLAS_CORETYPE` was set by the user (or the environment): used as it is.
  case respectUser(String)
  /// OpenBLAS fell back to `detected`: run again with `OPENBLAS_CORETYPE=core`.
  case reexecute(core: String, detected: String)
  /// A core name dptrain cannot rank (a newer OpenBLAS): left as it is.
  case unknownCore(String)
}

extension OpenBLAS {
  /// The vector ISA level of a core's kernels: 0 SSE, 1 AVX, 2 AVX2 + FMA, 3 AVX-512. The names
  /// are OpenBLAS 0.3.x's `openblas_get_corename()` values for x86-64 DYNAMIC_ARCH builds.
  static let coreLevels: [String: Int] = {
    var levels: [String: Int] = [:]
    for name in [
      "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington", "Nehalem",
      "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Bobcat", "Generic",
    ] { levels[name.lowercased()] = 0 }
    for name in ["Sandybridge", "Bulldozer", "Piledriver", "Steamroller"] { levels[name.lowercased()] = 1 }
    for name in ["Haswell", "Zen", "Excavator"] { levels[name.lowercased()] = 2 }
    for name in ["SkylakeX", "Cooperlake", "SapphireRapids"] { levels[name.lowercased()] = 3 }
    return levels
  }()

  /// The best core of OpenBLAS 0.3.21 for a CPU with `features` (nil when the generic kernel is
  /// all there is): SkylakeX for AVX-512 F/BW/VL/DQ/CD, Zen (AMD) or Haswell (others) for
  /// AVX2 + FMA, Sandybridge for AVX. Names 0.3.21 accepts in `OPENBLAS_CORETYPE`
  /// ("Cooperlake" and "SapphireRapids" it does not).
  public static func bestCore(features: Set<CPUFeature>, isAMD: Bool) -> String? {
    if features.isSuperset(of: CPUFeature.skylakeX) { return "SkylakeX" }
    if features.isSuperset(of: [.avx2, .fma]) { return isAMD ? "Zen" : "Haswell" }
    if features.contains(.avx) { return "Sandybridge" }
    return nil
  }

  /// The cores this CPU can run, generic first (for running tests under each).
  public static func runnableCores(features: Set<CPUFeature>, isAMD: Bool) -> [String] {
    var cores = ["Prescott"]
    if features.contains(.avx) { cores.append("Sandybridge") }
    if features.isSuperset(of: [.avx2, .fma]) { cores.append(contentsOf: isAMD ? ["Haswell", "Zen"] : ["Haswell"]) }
    if features.isSuperset(of: CPUFeature.skylakeX) { cores.append("SkylakeX") }
    return cores
  }

  /// The decision for a CPU, the core OpenBLAS reports, and the user's `OPENBLAS_CORETYPE`.
  public static func decide(cpu: CPUInfo, detectedCore: String, userCoreType: String?) -> OpenBLASCoreDecision {
    if let user = userCoreType, !user.isEmpty { return .respectUser(user) }
    guard let level = coreLevels[detectedCore.lowercased()] else { return .unknownCore(detectedCore) }
    guard let best = bestCore(features: cpu.features, isAMD: cpu.isAMD), let bestLevel = coreLevels[best.lowercased()], bestLevel > level
    else {
      return .keep
    }
    return .reexecute(core: best, detected: detectedCore)
  }
}
