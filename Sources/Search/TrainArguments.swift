/// How a trial's settings become `dptrain train` options, so that every trial is exactly a
/// `dptrain train` run that can be repeated by hand (its command is in the database).
///
/// - `name: value` becomes `--name value`; `true` becomes the flag `--name`, `false` omits it;
///   a list of widths becomes `50,30`; numbers keep every digit (shortest round-trip form).
/// - `eta-min`, `eta-max` and `n-s` are the parts of `--cyclical ETA_MIN,ETA_MAX[,N_S]`: a searched
///   part replaces that part of the base's `cyclical` (or of the base's own `eta-min`...).
/// - Order: the base's options by name, then the searched ones in spec order, then the budget
///   (`--epochs B` or `--cycles B`), then `--seed`, then `--blas-threads` unless the base sets it
///   (OpenBLAS rounds differently with another thread count, so the command that reproduces a
///   trial to the last bit names it), and `--gemm` when the sweep names a backend and the base
///   does not (another backend rounds differently too).
public enum TrainArguments {
  /// Options a sweep sets itself, or that would make trials write where they should not.
  public static let reserved: Set<String> = ["seed", "out", "quiet", "verbose", "resume", "log-format"]
  public static let cyclicalParts = ["eta-min", "eta-max", "n-s"]

  /// The options of a trial: `base` with `overrides` (the final run's) and then `parameters`
  /// applied, the budget in `unit`, and `seed`.
  public static func make(
    base: [String: ParameterValue], overrides: [String: ParameterValue] = [:], parameters: ParameterSet,
    searchOrder: [String], budget: Int?, unit: BudgetUnit, seed: UInt64, blasThreads: Int? = nil, gemm: String? = nil
  ) throws -> [String] {
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
        throw TrainArgumentsError("eta-min/eta-max: a cyclical schedule needs both ends; set the other one, or `cyclical: ETA_MIN,ETA_MAX` in base")
      }
      settings["cyclical"] = .string(pieces.joined(separator: ","))
      if !order.contains("cyclical") { order.append("cyclical") }
    }
    var arguments: [String] = []
    for name in order {
      guard let value = settings[name] else { continue }
      if reserved.contains(name) {
        throw TrainArgumentsError("\(name): set by the sweep itself (\(name == "seed" ? "use the spec's top-level seed and repeats" : "not a trial option"))")
      }
      switch value {
      case .bool(true): arguments.append("--\(name)")
      case .bool(false): continue
      default: arguments += ["--\(name)", value.description]
      }
    }
    if let budget {
      arguments.removeOptions(unit == .epochs ? ["--epochs", "--cycles", "--max-steps"] : ["--cycles", "--epochs", "--max-steps"])
      arguments += ["--\(unit.rawValue)", String(budget)]
    }
    arguments += ["--seed", String(seed)]
    if let blasThreads, !arguments.contains("--blas-threads") { arguments += ["--blas-threads", String(blasThreads)] }
    if let gemm, !arguments.contains("--gemm") { arguments += ["--gemm", gemm] }
    return arguments
  }
}

extension [String] {
  /// Drops `--name value` pairs.
  mutating func removeOptions(_ names: Set<String>) {
    var out: [String] = []
    var i = startIndex
    while i < endIndex {
      if names.contains(self[i]) { i += 2; continue }
      out.append(self[i])
      i += 1
    }
    self = out
  }
}

public struct TrainArgumentsError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
