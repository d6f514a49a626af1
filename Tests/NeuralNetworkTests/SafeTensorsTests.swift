import Files
import Foundation
import NeuralNetwork
import Testing

@Suite("SafeTensors")
struct SafeTensorsTests {
  static func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
  }

  static let tensors: [(String, NamedTensor)] = [
    ("layer1.weight", NamedTensor(shape: [2, 3], values: [0.1, -2.5, 1e-30, .pi, -0.0, 123456.789])),
    ("layer1.bias", NamedTensor(shape: [2], values: [1.0 / 3.0, -7])),
    ("scalar", NamedTensor(shape: [], values: [42.125])),
    ("empty", NamedTensor(shape: [0, 4], values: [])),
  ]

  @Test("F64 and F32 round trips (F32 after Float rounding), metadata, 8-byte aligned header", arguments: ["F64", "F32"])
  func roundTrip(dtype: String) throws {
    let path = Self.temporaryPath("model.safetensors")
    let metadata = ["architecture": "{\"hidden\":[50]}", "format": "pt", "note": "ünïcode ✓"]
    try SafeTensors.write(Self.tensors, dtype: dtype, metadata: metadata, to: path)
    let (tensors, readMetadata) = try SafeTensors.read(path)
    #expect(readMetadata == metadata)
    #expect(Set(tensors.keys) == Set(Self.tensors.map(\.0)))
    for (name, t) in Self.tensors {
      let r = try #require(tensors[name], "\(name) missing")
      #expect(r.shape == t.shape, "\(name)")
      let expected = dtype == "F64" ? t.values : t.values.map { Double(Float($0)) }
      #expect(r.values.map(\.bitPattern) == expected.map(\.bitPattern), "\(name): \(r.values) vs \(expected)")
    }
    // Layout: 8-byte little-endian header length N, N bytes of JSON (padded to a multiple of 8),
    // then exactly the tensors' bytes.
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let n = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    #expect(n % 8 == 0, "header length \(n)")
    let width = dtype == "F64" ? 8 : 4
    let valueCount = Self.tensors.reduce(0) { $0 + $1.1.values.count }
    #expect(data.count == 8 + Int(n) + width * valueCount)
    let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + Int(n)))) as? [String: Any])
    let w = try #require(header["layer1.weight"] as? [String: Any])
    #expect(w["dtype"] as? String == dtype)
    #expect(w["shape"] as? [Int] == [2, 3])
    let offsets = try #require(w["data_offsets"] as? [Int])
    #expect(offsets[1] - offsets[0] == 6 * width)
    // The first value of layer1.weight, read straight from the data section at its offset.
    let start = 8 + Int(n) + offsets[0]
    let first = data.subdata(in: start..<(start + width)).withUnsafeBytes { raw -> Double in
      width == 8
        ? Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)))
        : Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self))))
    }
    #expect(first == (width == 8 ? 0.1 : Double(Float(0.1))))
  }

  @Test("no metadata: none is written and none is read")
  func noMetadata() throws {
    let path = Self.temporaryPath("m.safetensors")
    try SafeTensors.write([("a", NamedTensor(shape: [1], values: [1]))], dtype: "F64", metadata: [:], to: path)
    let (t, m) = try SafeTensors.read(path)
    #expect(m.isEmpty)
    #expect(t["a"]?.values == [1])
  }

  /// Writes `8-byte length (or lengthOverride) + header (padded) + data`.
  static func craft(header: String, data: [UInt8], lengthOverride: UInt64? = nil) -> String {
    var h = Array(header.utf8)
    while h.count % 8 != 0 { h.append(0x20) }
    var bytes = [UInt8]()
    withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { bytes.append(contentsOf: $0) }
    bytes += h + data
    let path = temporaryPath("bad.safetensors")
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
    return path
  }

  struct Corruption: Sendable, CustomTestStringConvertible {
    var testDescription: String
    /// A file that is not there cannot be read; every other corruption is malformed.
    var kind: FileError.Kind = .malformed
    var make: @Sendable () throws -> String
  }

  static let corruptions: [Corruption] = [
    Corruption(testDescription: "missing file", kind: .unreadable) { temporaryPath("absent.safetensors") },
    Corruption(testDescription: "shorter than the header length field") {
      let p = temporaryPath("short.safetensors")
      precondition(FileManager.default.createFile(atPath: p, contents: Data([1, 0, 0])), "cannot write \(p)")
      return p
    },
    Corruption(testDescription: "truncated tensor data") {
      let p = temporaryPath("t.safetensors")
      try SafeTensors.write(SafeTensorsTests.tensors, dtype: "F64", metadata: [:], to: p)
      let d = try Data(contentsOf: URL(fileURLWithPath: p))
      try d.prefix(d.count - 5).write(to: URL(fileURLWithPath: p))
      return p
    },
    Corruption(testDescription: "header length beyond the file") {
      craft(header: #"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8), lengthOverride: 4096)
    },
    Corruption(testDescription: "absurd header length") {
      craft(header: "{}", data: [], lengthOverride: UInt64.max)
    },
    Corruption(testDescription: "bad JSON") { craft(header: #"{"a": {"dtype": "F64", "#, data: Array(repeating: 0, count: 8)) },
    Corruption(testDescription: "JSON that is not an object") { craft(header: "[1, 2, 3]", data: []) },
    Corruption(testDescription: "offsets mismatching the shape") {
      craft(header: #"{"a":{"dtype":"F64","shape":[2,2],"data_offsets":[0,24]}}"#, data: Array(repeating: 0, count: 32))
    },
    Corruption(testDescription: "offsets beyond the data") {
      craft(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#, data: Array(repeating: 0, count: 16))
    },
    Corruption(testDescription: "unknown dtype") {
      craft(header: #"{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, data: Array(repeating: 0, count: 4))
    },
    Corruption(testDescription: "entry without shape") {
      craft(header: #"{"a":{"dtype":"F64","data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))
    },
    Corruption(testDescription: "negative dimension") {
      craft(header: #"{"a":{"dtype":"F64","shape":[-1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))
    },
  ]

  @Test("corrupted files throw FileError naming the path and the kind of failure", arguments: corruptions)
  func corrupted(_ c: Corruption) throws {
    let path = try c.make()
    let error = #expect(throws: FileError.self) { try SafeTensors.read(path) }
    if let error {
      #expect(error.kind == c.kind)
      #expect(error.path == path)
      #expect(error.description.contains(path), "\(error.description)")
      #expect(!error.problem.isEmpty)
    }
  }
}
