import Files
import Foundation

/// A tensor read from or written to a safetensors file, kept as Double so that float32 and
/// float64 files load alike.
public struct NamedTensor: Sendable, Equatable {
  public var shape: [Int]
  public var values: [Double]
  public init(shape: [Int], values: [Double]) {
    precondition(shape.reduce(1, *) == values.count, "tensor shape \(shape) does not hold \(values.count) values")
    self.shape = shape
    self.values = values
  }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then
/// the little-endian tensor bytes. Read by PyTorch, NumPy (safetensors.numpy) and others.
public enum SafeTensors {
  /// Header size limit: a header claiming more is rejected before anything is allocated.
  public static let maxHeaderBytes = 100 << 20

  /// Writes `tensors` with `dtype` "F32" or "F64" atomically (temporary file, then rename).
  public static func write(_ tensors: [(String, NamedTensor)], dtype: String, metadata: [String: String], to path: String) throws {
    precondition(dtype == "F32" || dtype == "F64", "dtype must be F32 or F64")
    let width = dtype == "F32" ? 4 : 8
    var header: [String: Any] = [:]
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var offset = 0
    for (name, tensor) in tensors {
      let bytes = tensor.values.count * width
      header[name] = ["dtype": dtype, "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
      offset += bytes
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    // Pad the header with spaces to a multiple of 8 so that the data is aligned.
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data(capacity: 8 + json.count + offset)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for (_, tensor) in tensors {
      if width == 4 {
        for v in tensor.values { withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
      } else {
        for v in tensor.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
      }
    }
    do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
      throw FileError(.unwritable, path: path, problem: "cannot write: \(describeIOError(error))")
    }
  }

  /// Reads every tensor (F32 or F64) and the metadata of a safetensors file. Throws a
  /// `FileError`, `.unreadable` or `.malformed`, naming the file and what is wrong.
  public static func read(_ path: String) throws -> (tensors: [String: NamedTensor], metadata: [String: String]) {
    func fail(_ problem: String) -> FileError { FileError(.malformed, path: path, problem: problem) }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw FileError(.unreadable, path: path, problem: "cannot read the file (missing or unreadable); expected a safetensors model")
    }
    guard data.count >= 8 else { throw fail("truncated: \(data.count) bytes, a safetensors file starts with an 8-byte header length") }
    let headerLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard headerLength <= UInt64(maxHeaderBytes), Int(headerLength) <= data.count - 8 else {
      throw fail("header length \(headerLength) exceeds the file (\(data.count) bytes) or the \(maxHeaderBytes)-byte limit")
    }
    let body = 8 + Int(headerLength)
    guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<body)) as? [String: Any] else {
      throw fail("the header is not a JSON object")
    }
    var metadata: [String: String] = [:]
    var tensors: [String: NamedTensor] = [:]
    for (name, value) in header {
      if name == "__metadata__" {
        metadata = (value as? [String: String]) ?? [:]
        continue
      }
      guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
        let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
      else { throw fail("tensor '\(name)': expected {dtype, shape, data_offsets}") }
      let width: Int
      switch dtype {
      case "F32": width = 4
      case "F64": width = 8
      default: throw fail("tensor '\(name)': dtype \(dtype) is not supported (expected F32 or F64)")
      }
      guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 8 else { throw fail("tensor '\(name)': invalid shape \(shape)") }
      let (count, overflow) = shape.reduce((1, false)) { acc, d in
        let r = acc.0.multipliedReportingOverflow(by: d)
        return (r.partialValue, acc.1 || r.overflow)
      }
      let begin = offsets[0]
      let end = offsets[1]
      let (bytes, tooMany) = count.multipliedReportingOverflow(by: width)
      guard !overflow, !tooMany, begin >= 0, end >= begin, end - begin == bytes, end <= data.count - body else {
        throw fail(
          "tensor '\(name)': data_offsets \(offsets) do not match shape \(shape) x \(width) bytes within the file's \(data.count - body) data bytes"
        )
      }
      var values = [Double](repeating: 0, count: count)
      data.withUnsafeBytes { raw in
        let base = raw.baseAddress! + body + begin
        for i in 0..<count {
          if width == 4 {
            values[i] = Double(Float(bitPattern: UInt32(littleEndian: (base + 4 * i).loadUnaligned(as: UInt32.self))))
          } else {
            values[i] = Double(bitPattern: UInt64(littleEndian: (base + 8 * i).loadUnaligned(as: UInt64.self)))
          }
        }
      }
      tensors[name] = NamedTensor(shape: shape, values: values)
    }
    return (tensors, metadata)
  }
}
