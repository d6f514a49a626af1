import Training

/// How a trial's settings become its `TrainingConfiguration`: the spec's `base` options, then
/// the final run's `overrides`, then the trial's parameters, applied over the defaults exactly as
/// `dptrain train` applies its flags; then the budget, the seed, and the sweep's BLAS threads
/// and GEMM backend. The trial's command (`TrainingConfiguration.arguments`) is rendered from
/// the result, so that every trial is a `dptrain train` run that can be repeated by hand.
///
/// - `name: value` is the option `--name value`; `true`/`false` set a flag; a list of widths is
///   `50,30`.
/// - `eta-min`, `eta-max` and `n-s` are the parts of `--cyclical ETA_MIN,ETA_MAX[,N_S]`: a
///   searched part replaces that part of the base's `cyclical` (or of the base's own `eta-min`...).
/// - The budget replaces the base's `epochs`, `cycles` and `max-steps`. `blas-threads` and `gemm`
///   are the sweep's unless the base sets them (OpenBLAS rounds differently with another thread
///   count, and another backend differently again, so the command that reproduces a trial to
///   the last bit names both).
public enum TrialConfiguration {
  /// Options a sweep sets itself, or that would make trials write where they should not.
  public static let reserved: Set<String> = ["seed", "out", "quiet", "verbose", "resume", "log-format"]
  public static let cyclicalParts = ["eta-min", "eta-max", "n-s"]

  public static func make(
    base: [String: ParameterValue], overrides: [String: ParameterValue] = [:], parameters: ParameterSet,
    searchOrder: [String], budget: Int?, unit: BudgetUnit, seed: UInt64, blasThreads: Int? = nil, gemm: String? = nil
  ) throws -> TrainingConfiguration {
    try TrainingConfiguration(
      options: options(
        base: base, overrides: overrides, parameters: parameters, searchOrder: searchOrder, budget: budget, unit: unit, seed: seed,
        blasThreads: blasThreads, gemm: gemm))
  }

  /// The trial's options, in the order they are applied.
  static func options(
    base: [String: ParameterValue], overrides: [String: ParameterValue], parameters: ParameterSet,
    searchOrder: [String], budget: Int?, unit: BudgetUnit, seed: UInt64, blasThreads: Int?, gemm: String?
  ) throws -> [(name: String, value: String)] {
    var settings = base.merging(overrides) { _, new in new }
    for (name, value) in parameters { settings[name] = value }
    var order = settings.keys.filter { !parameters.keys.contains($0) && !cyclicalParts.contains($0) }.sorted()
    order += searchOrder.filter { parameters.keys.contains($0) && !cyclicalParts.contains($0) }
    // The cyclical schedule from its parts.
    let parts = cyclicalParts.map { settings[$0] }
    if parts.contains(where: { $0 != nil }) {
      var pieces = (settings["cyclical"]?.description ?? "").split(separator: ",").map(String.init)
      while pieces.count < 2 { pieces.append("") }
      for (i, part) in parts.enumerated() {
        guard let part else { continue }
        if i == 2 && pieces.count < 3 { pieces.append("") }
        pieces[i] = part.description
      }
      guard !pieces[0].isEmpty, !pieces[1].isEmpty else {
        throw ConfigurationError(
          option: "eta-min/eta-max",
          ": a cyclical schedule needs both ends; set the other one, or `cyclical: ETA_MIN,ETA_MAX` in base")
      }
      settings["cyclical"] = .string(pieces.joined(separator: ","))
      if !order.contains("cyclical") { order.append("cyclical") }
    }
    if budget != nil { order.removeAll { ["epochs", "cycles", "max-steps"].contains($0) } }
    var options: [(name: String, value: String)] = []
    for name in order {
      guard let value = settings[name] else { continue }
      if reserved.contains(name) {
        let why = name == "seed" ? "use the spec's top-level seed and repeats" : "not a trial option"
        throw ConfigurationError(option: name, ": set by the sweep itself (\(why))")
      }
      options.append((name, value.description))
    }
    if let budget { options.append((unit.rawValue, String(budget))) }
    options.append(("seed", String(seed)))
    if let blasThreads, settings["blas-threads"] == nil { options.append(("blas-threads", String(blasThreads))) }
    if let gemm, settings["gemm"] == nil { options.append(("gemm", gemm)) }
    return options
  }
}
