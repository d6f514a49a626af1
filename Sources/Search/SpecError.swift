/// A sweep spec that cannot be used, located as precisely as the input allows.
///
/// `description` reads `FILE:LINE: FIELD: problem; expected ...`, e.g.
/// `quick.yaml:12: search.eta.log_uniform: expected two numbers [low, high] with 0 < low < high,
/// got [0.1, 0.01]`. The line is there when the YAML parser reported one (syntax errors, and
/// every field read from a file); the field is a dotted path in the file's documented spelling
/// (`strategy.top_k`, `search.batch-size.grid`), nil for problems of the file as a whole.
public struct SpecError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The file as the user named it (or a label such as `<stdin>`).
  public var file: String
  /// 1-based line of the offending node, when known.
  public var line: Int?
  /// Dotted path of the offending field (`search.eta.log_uniform`), nil for the whole file.
  public var field: String?
  /// What is wrong and what would be right.
  public var problem: String

  public init(file: String, line: Int? = nil, field: String?, problem: String) {
    self.file = file
    self.line = line
    self.field = field
    self.problem = problem
  }

  public var description: String {
    let place = line.map { "\(file):\($0)" } ?? file
    guard let field else { return "\(place): \(problem)" }
    return "\(place): \(field): \(problem)"
  }
}
