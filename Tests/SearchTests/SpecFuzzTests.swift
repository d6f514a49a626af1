import Foundation
import LinearAlgebra
import Search
import Testing

/// Seeded random edits of a valid spec: each parses or is refused with a `SpecError` naming the
/// file; the parser never crashes.
@Suite("Sweep specs under random edits")
struct SpecFuzzTests {
  static let valid = """
    seed: 1
    repeats: 2
    metric: val_accuracy
    base:
      hidden: "50"
      epochs: 1
    search:
      eta: { log_uniform: [1.0e-4, 1.0e-1] }
      lambda: { log_uniform: [1.0e-6, 1.0e-1] }
      batch-size: { grid: [50, 100] }
    strategy: { kind: coarse-to-fine, stages: 2, trials: 4, top_k: 2 }
    final: { validation: 1000 }

    """

  @Test("1,000 random edits: parsed, or refused naming the file")
  func edits() throws {
    var rng = SeededGenerator(seed: 31)
    let alphabet = Array("{}[]:,-_ \n\"'#&*!|>0123456789.eEabcdefghijklmnopqrstuvwxyz")
    var refused = 0
    for round in 0..<1000 {
      var text = Array(Self.valid)
      for _ in 0..<(1 + rng.nextBelow(3)) {
        guard !text.isEmpty else { break }
        let i = rng.nextBelow(text.count)
        switch rng.nextBelow(3) {
        case 0: text[i] = alphabet[rng.nextBelow(alphabet.count)]
        case 1: text.remove(at: i)
        default: text.insert(alphabet[rng.nextBelow(alphabet.count)], at: i)
        }
      }
      do {
        _ = try SweepSpec.parse(String(text), file: "fuzz\(round).yaml")
      } catch let error as SpecError {
        #expect(error.description.hasPrefix("fuzz\(round).yaml"), "\(error)")
        refused += 1
      } catch {
        Issue.record("round \(round): unexpected \(type(of: error)): \(error)")
      }
    }
    #expect(refused > 200, "\(refused) of 1000 refused")
  }
}
