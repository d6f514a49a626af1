import Files
import Foundation
import LinearAlgebra
import NeuralNetwork
import Testing

/// Seeded random mutations of a valid safetensors file: each is read or refused with a
/// `FileError` (`.malformed`) naming the file; the reader never crashes and never allocates for a header
/// length or data offsets it cannot check against the file.
@Suite("safetensors under random mutation")
struct SafeTensorsFuzzTests {
  @Test("800 mutations of a valid file: read, or refused naming the file")
  func mutations() throws {
    let dir = NSTemporaryDirectory() + "dptrain-st-fuzz-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let valid = dir + "/valid.safetensors"
    try SafeTensors.write(
      [
        ("layer1.weight", NamedTensor(shape: [3, 4], values: (0..<12).map(Double.init))),
        ("layer1.bias", NamedTensor(shape: [3], values: [1, 2, 3])),
      ],
      dtype: "F32", metadata: ["format": "dptrain"], to: valid)
    let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: valid)))
    var rng = SeededGenerator(seed: 21)
    var refused = 0
    for round in 0..<800 {
      var b = original
      for _ in 0..<(1 + rng.nextBelow(3)) {
        guard !b.isEmpty else { break }
        switch rng.nextBelow(5) {
        case 0: b[rng.nextBelow(b.count)] ^= UInt8(1 << rng.nextBelow(8))
        case 1: b = Array(b.prefix(rng.nextBelow(b.count)))
        case 2: b[rng.nextBelow(min(8, b.count))] = UInt8(rng.nextBelow(256))  // the header length
        case 3:
          // A digit of the JSON header (shapes, offsets) changed.
          let digits = b.indices.filter { $0 >= 8 && $0 < min(b.count, 8 + 200) && b[$0] >= 0x30 && b[$0] <= 0x39 }
          if let i = digits.randomElement(using: &rng) { b[i] = UInt8(0x30 + rng.nextBelow(10)) }
        default: b.insert(UInt8(rng.nextBelow(256)), at: rng.nextBelow(b.count + 1))
        }
      }
      let path = dir + "/m\(round).safetensors"
      try Data(b).write(to: URL(fileURLWithPath: path))
      do {
        _ = try SafeTensors.read(path)
      } catch let error as FileError {
        #expect(error.kind == .malformed, "round \(round): '\(error)'")
        #expect(error.description.contains(path), "round \(round): '\(error)'")
        refused += 1
      } catch {
        Issue.record("round \(round): unexpected \(type(of: error)): \(error)")
      }
      try? FileManager.default.removeItem(atPath: path)
    }
    #expect(refused > 400, "most mutations break the file: \(refused) of 800 refused")
  }
}
