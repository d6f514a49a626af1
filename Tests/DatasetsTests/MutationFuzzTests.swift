import Foundation
import LinearAlgebra
import Testing

@testable import Datasets

/// Seeded random mutations of valid files (a bounded, reproducible fuzzer): every reader either
/// reads the file or throws a `DatasetError` naming it; it never crashes, and a header that
/// claims more data than the file holds never makes it allocate for the claim.
@Suite("Readers under random mutation")
struct MutationFuzzTests {
  /// Mutations of `bytes`: bit flips, byte overwrites, truncation, a random header word,
  /// insertion and deletion of bytes, and appending junk.
  static func mutate(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
    var b = bytes
    for _ in 0..<(1 + rng.nextBelow(3)) {
      guard !b.isEmpty else { return [UInt8(rng.nextBelow(256))] }
      switch rng.nextBelow(7) {
      case 0: b[rng.nextBelow(b.count)] ^= UInt8(1 << rng.nextBelow(8))
      case 1: b[rng.nextBelow(b.count)] = UInt8(rng.nextBelow(256))
      case 2: b = Array(b.prefix(rng.nextBelow(b.count)))
      case 3:
        // A header word (the first 16 bytes) set to a random or extreme value.
        let at = 4 * rng.nextBelow(4)
        if b.count >= at + 4 {
          let v: UInt32 = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, UInt32(truncatingIfNeeded: rng.next())][rng.nextBelow(5)]
          b.replaceSubrange(at..<(at + 4), with: bigEndian32(v))
        }
      case 4: b.insert(UInt8(rng.nextBelow(256)), at: rng.nextBelow(b.count + 1))
      case 5: b.remove(at: rng.nextBelow(b.count))
      default: b += (0..<rng.nextBelow(64)).map { _ in UInt8(rng.nextBelow(256)) }
      }
    }
    return b
  }

  /// Runs `read` on `rounds` mutations of `original`, written raw or gzipped; returns how many
  /// were read and how many refused. Any error other than a `DatasetError` naming the file fails.
  static func fuzz(_ name: String, _ original: [UInt8], rounds: Int, seed: UInt64, read: (String) throws -> Int) throws -> (
    read: Int, refused: Int
  ) {
    let dir = try TempDirectory()
    var rng = SeededGenerator(seed: seed)
    var counts = (read: 0, refused: 0)
    for round in 0..<rounds {
      let gzip = round % 3 == 0
      let path = try dir.write(name + (gzip ? ".gz" : ""), mutate(original, &rng), gzip: gzip)
      do {
        _ = try read(path)
        counts.read += 1
      } catch let error as DatasetError {
        #expect(error.description.contains(path), "round \(round): '\(error)' does not name the file")
        counts.refused += 1
      } catch {
        Issue.record("round \(round): \(path): unexpected \(type(of: error)): \(error)")
      }
    }
    return counts
  }

  @Test("IDX images: 600 mutations of a valid file, each read or refused naming the file")
  func idxImages() throws {
    let valid = Datasets_idxImages(count: 20, rows: 4, cols: 3)
    let r = try Self.fuzz("train-images-idx3-ubyte", valid, rounds: 600, seed: 11) { try IDX.readImages(path: $0).count }
    #expect(r.refused > 300, "most mutations break a file: \(r)")
    #expect(r.read + r.refused == 600)
  }

  @Test("IDX labels: 600 mutations, out-of-range labels included")
  func idxLabels() throws {
    let valid = bigEndian32(0x801) + bigEndian32(50) + (0..<50).map { UInt8($0 % 10) }
    let r = try Self.fuzz("train-labels-idx1-ubyte", valid, rounds: 600, seed: 12) { try IDX.readLabels(path: $0).count }
    #expect(r.refused > 300, "\(r)")
  }

  @Test("random files of 0-20,000 bytes, raw and gzipped: every reader refuses them naming the file, or reads them")
  func randomFiles() throws {
    let dir = try TempDirectory()
    var rng = SeededGenerator(seed: 14)
    for round in 0..<150 {
      let bytes = (0..<rng.nextBelow(20_000)).map { _ in UInt8(rng.nextBelow(256)) }
      let path = try dir.write("random\(round)" + (round % 2 == 0 ? ".gz" : ""), bytes, gzip: round % 2 == 0)
      for read in [{ _ = try IDX.readImages(path: $0) }, { _ = try IDX.readLabels(path: $0) }, { _ = try CIFAR10.read(path: $0) }]
        as [(String) throws -> Void]
      {
        do { try read(path) } catch let error as DatasetError {
          #expect(error.description.contains(path), "\(error)")
        } catch {
          Issue.record("\(path): unexpected \(type(of: error)): \(error)")
        }
      }
    }
  }

  @Test("CIFAR-10 batches: 300 mutations of a 3-record file")
  func cifar() throws {
    let valid = cifarRecords(labels: [1, 2, 3], pixels: testPixels(count: 3, features: 3072))
    let r = try Self.fuzz("data_batch_1.bin", valid, rounds: 300, seed: 13) { try CIFAR10.read(path: $0).count }
    #expect(r.refused > 100, "\(r)")
  }
}

/// A valid IDX images file.
func Datasets_idxImages(count: Int, rows: Int, cols: Int) -> [UInt8] {
  idxImages(count: count, rows: rows, cols: cols, pixels: testPixels(count: count, features: rows * cols))
}
