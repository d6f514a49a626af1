/// What a slot of the flat parameter buffer holds; decides the L2 penalty (weights only).
public enum ParameterKind: String, Codable, Sendable {
  case weight, bias, gamma, beta
  case runningMean = "running_mean"
  case runningVariance = "running_var"
}

/// One named tensor inside a flat buffer: `buffer[offset ..< offset + count]`, row-major `shape`.
public struct ParameterSlot: Codable, Sendable, Equatable {
  public var name: String
  public var kind: ParameterKind
  /// 1-based layer number, as in the saved names `layer1.weight`.
  public var layer: Int
  public var shape: [Int]
  public var offset: Int
  public var count: Int { shape.reduce(1, *) }
  public var range: Range<Int> { offset..<(offset + count) }
}

/// The layout shared by parameters, gradients and momentum (one flat buffer each), so that one
/// allreduce, one optimizer loop, one broadcast and one checkpoint cover every layer
/// (llm.c's ParameterTensors). BatchNorm running statistics live in a second layout of their own:
/// they are state, not parameters.
public struct ParameterLayout: Codable, Sendable, Equatable {
  public private(set) var slots: [ParameterSlot] = []
  public private(set) var count = 0

  public init() {}

  @discardableResult
  public mutating func append(layer: Int, kind: ParameterKind, shape: [Int]) -> ParameterSlot {
    let slot = ParameterSlot(name: "layer\(layer).\(kind.rawValue)", kind: kind, layer: layer, shape: shape, offset: count)
    slots.append(slot)
    count += slot.count
    return slot
  }

  public func slot(named name: String) -> ParameterSlot? { slots.first { $0.name == name } }
}
