import Foundation
import Yams

/// Reads typed values out of a composed YAML tree, turning every mismatch into a `SpecError`
/// that names the field and, from the node's mark, the line.
///
/// Scalars are read from their text, not from YAML's type resolution: the YAML 1.1 resolver
/// reads `1e-5` (no dot) as a string, and a spec must not depend on such spellings. So a
/// number is any scalar `Double(String)` parses (finite), an integer any scalar `Int(String)`
/// parses, and only quoting (`"50"`) keeps a number-like scalar a string in option values.
struct SpecReader {
  let file: String
  /// The line of every field read so far, by dotted path, so that problems found after
  /// reading (`SweepSpec.validate`) still point into the file.
  private(set) var lines: [String: Int] = [:]

  init(file: String) { self.file = file }

  /// An entry of a mapping: the key normalised (`_` -> `-`), the key as written, and nodes.
  struct Entry {
    var key: String
    var written: String
    var keyNode: Node
    var value: Node
  }

  // MARK: - Errors and positions

  func error(_ node: Node?, _ field: String?, _ problem: String) -> SpecError {
    SpecError(file: file, line: node?.mark?.line, field: field, problem: problem)
  }

  /// Remembers where `field` is, for errors found later.
  mutating func note(_ node: Node, _ field: String) {
    if let line = node.mark?.line { lines[field] = line }
  }

  /// The line of `field`, or of its nearest enclosing field that was read (a field that was
  /// defaulted has no line of its own: `strategy.trials` then points at `strategy`).
  func line(of field: String?) -> Int? {
    var path = field
    while let p = path {
      if let line = lines[p] { return line }
      path = p.lastIndex(of: ".").map { String(p[..<$0]) }
    }
    return nil
  }

  // MARK: - Structure

  /// `parent.key`, or `key` at the top level.
  static func path(_ parent: String?, _ key: String) -> String {
    parent.map { "\($0).\(key)" } ?? key
  }

  /// The spelling used in paths and messages for a fixed key: the documented `top_k` form.
  static func display(_ key: String) -> String {
    key.replacingOccurrences(of: "-", with: "_")
  }

  /// The entries of a mapping in file order; a null (empty) value reads as an empty mapping.
  /// Keys are normalised (`_` -> `-`), and two spellings of one key are an error.
  func entries(_ node: Node, _ field: String?, expecting: String) throws -> [Entry] {
    if isNull(node) { return [] }
    guard case .mapping(let mapping) = node else {
      throw error(node, field, "expected \(expecting), got \(Self.render(node))")
    }
    var result: [Entry] = []
    var seen: [String: String] = [:]
    for (keyNode, value) in mapping {
      guard case .scalar(let k) = keyNode else {
        throw error(keyNode, field, "expected a plain name as key, got \(Self.render(keyNode))")
      }
      let key = k.string.replacingOccurrences(of: "_", with: "-")
      if let earlier = seen[key] {
        throw error(keyNode, Self.path(field, k.string), "same key as \(earlier) (`_` and `-` are the same); keep one")
      }
      seen[key] = k.string
      result.append(Entry(key: key, written: k.string, keyNode: keyNode, value: value))
    }
    return result
  }

  /// `~`, `null` or nothing at all (`base:` with no value).
  func isNull(_ node: Node) -> Bool {
    guard case .scalar(let s) = node, s.style == .plain || s.style == .any else { return false }
    return ["", "~", "null", "Null", "NULL"].contains(s.string)
  }

  // MARK: - Scalars

  /// The text of a scalar (quoted or not), trimmed.
  func text(_ node: Node, _ field: String, expecting: String) throws -> String {
    guard case .scalar(let s) = node, !isNull(node) else {
      throw error(node, field, "expected \(expecting), got \(Self.render(node))")
    }
    return s.string.trimmingCharacters(in: .whitespaces)
  }

  func integer(_ node: Node, _ field: String, expecting: String) throws -> Int {
    let t = try text(node, field, expecting: expecting)
    guard let n = Int(t) else { throw error(node, field, "expected \(expecting), got \(t)") }
    return n
  }

  /// A finite number: any scalar `Double(String)` parses (`1e-5`, `0.001`, `3`).
  func number(_ node: Node, _ field: String, expecting: String) throws -> Double {
    let t = try text(node, field, expecting: expecting)
    guard let x = Double(t), x.isFinite else { throw error(node, field, "expected \(expecting), got \(t)") }
    return x
  }

  /// A value of a `train` option: quoted scalars are strings; otherwise `true`/`false`, an
  /// integer, a finite number, or else a string; a sequence must hold integers (widths).
  func value(_ node: Node, _ field: String) throws -> ParameterValue {
    let expecting = "a number, a string, true/false or a list of integers such as [100, 50]"
    switch node {
    case .scalar(let s):
      if isNull(node) { throw error(node, field, "expected \(expecting), got nothing") }
      return Self.scalarValue(s)
    case .sequence(let items):
      var widths: [Int] = []
      for item in items {
        guard case .scalar(let s) = item, let n = Int(s.string.trimmingCharacters(in: .whitespaces)) else {
          throw error(item, field, "expected a list of integers such as [100, 50], got \(Self.render(node))")
        }
        widths.append(n)
      }
      if widths.isEmpty { throw error(node, field, "expected a list of integers such as [100, 50], got []") }
      return .list(widths)
    default:
      throw error(node, field, "expected \(expecting), got \(Self.render(node))")
    }
  }

  static func scalarValue(_ s: Node.Scalar) -> ParameterValue {
    let quoted: Set<Node.Scalar.Style> = [.singleQuoted, .doubleQuoted, .literal, .folded]
    if quoted.contains(s.style) { return .string(s.string) }
    let t = s.string.trimmingCharacters(in: .whitespaces)
    switch t {
    case "true", "True", "TRUE": return .bool(true)
    case "false", "False", "FALSE": return .bool(false)
    default: break
    }
    if let n = Int(t) { return .integer(n) }
    if let x = Double(t), x.isFinite { return .number(x) }
    return .string(t)
  }

  /// The node as the user would write it, for `got ...` in messages.
  static func render(_ node: Node) -> String {
    switch node {
    case .scalar(let s):
      if s.style == .singleQuoted || s.style == .doubleQuoted { return "\"\(s.string)\"" }
      return s.string.isEmpty ? "nothing" : s.string
    case .sequence(let items):
      return "[" + items.map(render).joined(separator: ", ") + "]"
    case .mapping(let m):
      return "{" + m.map { "\(render($0.key)): \(render($0.value))" }.joined(separator: ", ") + "}"
    case .alias:
      return "an alias"
    }
  }
}
