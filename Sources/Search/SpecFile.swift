import Foundation
import Yams

/// Reading a sweep spec file (YAML, or JSON, which is YAML too); the format is the example
/// in `SweepSpec`'s doc comment.
extension SweepSpec {
  /// Reads and parses the spec at `path`; errors name `path` as given.
  public static func load(path: String) throws -> SweepSpec {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw SpecError(file: path, field: nil, problem: "cannot read the sweep spec (\(readFailure(path, error)))")
    }
    return try parse(text, file: path)
  }

  /// Parses spec text; `file` labels error messages (`FILE:LINE: FIELD: problem`).
  ///
  /// Keys take `_` or `-` alike (`top_k`, `top-k`; option names are stored with `-`).
  /// Defaults: `seed: 1`, `repeats: 1`, `metric: val_accuracy`, `base: {}`, no final run;
  /// `final: true` means `{validation: 1000}`, and a `final` mapping without `validation` gets
  /// `validation: 1000`. The result has passed `validate(file:)`.
  public static func parse(_ text: String, file: String) throws -> SweepSpec {
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch let e as YamlError {
      throw syntaxError(e, file: file)
    } catch {
      throw SpecError(file: file, field: nil, problem: "not valid YAML (\(error))")
    }
    guard let root else {
      throw SpecError(
        file: file, field: nil, problem: "the sweep spec is empty; expected a mapping with search and strategy")
    }
    var reader = SpecReader(file: file)
    let spec = try reader.spec(root)
    do {
      try spec.validate(file: file)
    } catch var e as SpecError {
      e.line = reader.line(of: e.field)
      throw e
    }
    return spec
  }

  private static func syntaxError(_ e: YamlError, file: String) -> SpecError {
    func at(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> SpecError {
      let within = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
      return SpecError(file: file, line: mark.line, field: nil, problem: "not valid YAML: \(problem)\(within)")
    }
    switch e {
    case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
      .composer(let context, let problem, let mark, _):
      return at(mark, problem, context)
    case .duplicatedKeysInMapping(let duplicates, let context):
      let keys = duplicates.sorted().joined(separator: ", ")
      return SpecError(
        file: file, line: context.mark.line, field: nil, problem: "key \(keys) appears twice in one mapping; keep one")
    default:
      return SpecError(file: file, field: nil, problem: "not valid YAML: \(e)")
    }
  }

  private static func readFailure(_ path: String, _ error: any Error) -> String {
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) { return "no such file" }
    if isDirectory.boolValue { return "it is a directory" }
    return error.localizedDescription
  }
}

extension SpecReader {
  static let topLevelKeys = ["seed", "repeats", "metric", "base", "search", "strategy", "final"]

  /// The whole spec; semantic checks are left to `SweepSpec.validate`.
  mutating func spec(_ root: Node) throws -> SweepSpec {
    let top = try entries(root, nil, expecting: "a mapping with keys such as search and strategy")
    var seed: UInt64 = 1
    var repeats = 1
    var metric = Metric.validationAccuracy
    var base: [String: ParameterValue] = [:]
    var parameters: [SearchParameter] = []
    var strategy: Strategy?
    var final: [String: ParameterValue]?
    for entry in top {
      let field = Self.display(entry.key)
      note(entry.value, field)
      switch entry.key {
      case "seed":
        let t = try text(entry.value, field, expecting: "a non-negative integer")
        guard let s = UInt64(t) else { throw error(entry.value, field, "expected a non-negative integer, got \(t)") }
        seed = s
      case "repeats":
        repeats = try integer(entry.value, field, expecting: "an integer >= 1 (seeds per configuration)")
      case "metric":
        let t = try text(entry.value, field, expecting: "val_accuracy, val_loss or val_cost")
        guard let m = Metric(rawValue: t.replacingOccurrences(of: "-", with: "_")) else {
          throw error(entry.value, field, "expected val_accuracy, val_loss or val_cost, got \(t)")
        }
        metric = m
      case "base":
        base = try options(entry.value, field)
      case "search":
        parameters = try search(entry.value)
      case "strategy":
        strategy = try self.strategy(entry.value)
      case "final":
        final = try self.final(entry.value)
      default:
        throw error(
          entry.keyNode, entry.written,
          "unknown key; expected one of \(Self.topLevelKeys.joined(separator: ", "))")
      }
    }
    guard let strategy else {
      throw error(
        nil, "strategy",
        "missing; expected \(Self.strategyKinds), e.g. strategy: { kind: random, trials: 20 }")
    }
    return SweepSpec(
      base: base, parameters: parameters, strategy: strategy, repeats: repeats, metric: metric, seed: seed,
      final: final)
  }

  /// `train` options by flag name (`_` -> `-`).
  mutating func options(_ node: Node, _ field: String) throws -> [String: ParameterValue] {
    var result: [String: ParameterValue] = [:]
    for entry in try entries(node, field, expecting: "a mapping of train options, e.g. { epochs: 1, hidden: \"50\" }") {
      let path = Self.path(field, entry.key)
      note(entry.value, path)
      result[entry.key] = try value(entry.value, path)
    }
    return result
  }

  /// `final: true` -> validation 1000; `false`/null -> no final run; a mapping -> those options
  /// with `validation: 1000` unless it says otherwise.
  mutating func final(_ node: Node) throws -> [String: ParameterValue]? {
    if isNull(node) { return nil }
    if case .scalar = node {
      switch try value(node, "final") {
      case .bool(true): return ["validation": .integer(1000)]
      case .bool(false): return nil
      default:
        let expecting = "true, false or a mapping of train options such as { epochs: 10 }"
        throw error(node, "final", "expected \(expecting), got \(Self.render(node))")
      }
    }
    var options = try options(node, "final")
    if options["validation"] == nil { options["validation"] = .integer(1000) }
    return options
  }

  /// Searched parameters in file order.
  mutating func search(_ node: Node) throws -> [SearchParameter] {
    let expecting = "a mapping from parameter name to domain, e.g. eta: { log_uniform: [1.0e-5, 1.0e-1] }"
    var result: [SearchParameter] = []
    for entry in try entries(node, "search", expecting: expecting) {
      let field = "search.\(entry.key)"
      note(entry.value, field)
      result.append(SearchParameter(name: entry.key, domain: try domain(entry.value, field)))
    }
    return result
  }

  static let domainKinds = "log_uniform, uniform, int_uniform, choice or grid"

  /// `{ log_uniform: [lo, hi] }` and the other kinds; bounds are ordered by `validate`.
  mutating func domain(_ node: Node, _ field: String) throws -> Domain {
    let kinds = try entries(node, field, expecting: "one domain, e.g. { log_uniform: [1.0e-5, 1.0e-1] }")
    guard kinds.count == 1, let entry = kinds.first else {
      let got = kinds.isEmpty ? "none" : kinds.map(\.written).joined(separator: " and ")
      throw error(node, field, "expected exactly one of \(Self.domainKinds), got \(got)")
    }
    let path = "\(field).\(Self.display(entry.key))"
    note(entry.value, path)
    switch entry.key {
    case "log-uniform":
      let (low, high) = try numberPair(entry.value, path, expecting: "two numbers [low, high] with 0 < low < high")
      return .logUniform(low: low, high: high)
    case "uniform":
      let (low, high) = try numberPair(entry.value, path, expecting: "two numbers [low, high] with low < high")
      return .uniform(low: low, high: high)
    case "int-uniform":
      let expecting = "two integers [low, high] with low <= high"
      let items = try pair(entry.value, path, expecting: expecting)
      return .intUniform(
        low: try integer(items.0, path, expecting: expecting), high: try integer(items.1, path, expecting: expecting))
    case "choice":
      return .choice(try values(entry.value, path))
    case "grid":
      return .grid(try values(entry.value, path))
    default:
      throw error(entry.keyNode, "\(field).\(entry.written)", "unknown domain; expected \(Self.domainKinds)")
    }
  }

  private func pair(_ node: Node, _ field: String, expecting: String) throws -> (Node, Node) {
    guard case .sequence(let items) = node, items.count == 2 else {
      throw error(node, field, "expected \(expecting), got \(Self.render(node))")
    }
    return (items[0], items[1])
  }

  private func numberPair(_ node: Node, _ field: String, expecting: String) throws -> (Double, Double) {
    let items = try pair(node, field, expecting: expecting)
    func read(_ item: Node) throws -> Double {
      do { return try number(item, field, expecting: expecting) } catch {
        throw self.error(item, field, "expected \(expecting), got \(Self.render(node))")
      }
    }
    return (try read(items.0), try read(items.1))
  }

  /// The values of `choice`/`grid`: scalars, or lists of integers (`[[50], [100, 50]]`).
  private func values(_ node: Node, _ field: String) throws -> [ParameterValue] {
    guard case .sequence(let items) = node, !items.isEmpty else {
      throw error(node, field, "expected a non-empty list of values, e.g. [50, 100], got \(Self.render(node))")
    }
    return try items.enumerated().map { try value($0.element, "\(field)[\($0.offset)]") }
  }
}
