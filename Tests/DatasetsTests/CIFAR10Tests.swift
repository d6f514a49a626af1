import Foundation
import Testing

@testable import Datasets

/// Writes `data_batch_1..5.bin` and `test_batch.bin` with `perBatch` records each into `dir`
/// (or its subdirectory). Record `i` of batch `b` has label `(i + b) % 10` and pixels from
/// `testPixels(salt: b)`. Returns the expected concatenated training pixels and labels.
@discardableResult
func writeCIFARSet(in dir: TempDirectory, subdirectory: String? = nil, perBatch: Int) throws -> (pixels: [UInt8], labels: [Int32]) {
  let prefix = subdirectory.map { $0 + "/" } ?? ""
  if let subdirectory { _ = try dir.subdirectory(subdirectory) }
  var allPixels: [UInt8] = []
  var allLabels: [Int32] = []
  for b in 1...6 {
    let px = testPixels(count: perBatch, features: 3072, salt: b)
    let labels = (0..<perBatch).map { UInt8(($0 + b) % 10) }
    let name = b == 6 ? "test_batch.bin" : "data_batch_\(b).bin"
    try dir.write(prefix + name, cifarRecords(labels: labels, pixels: px))
    if b <= 5 {
      allPixels += px
      allLabels += labels.map(Int32.init)
    }
  }
  return (allPixels, allLabels)
}

@Suite("CIFAR-10 reader")
struct CIFAR10Tests {
  @Test("records round trip with channel-major layout preserved")
  func roundTrip() throws {
    let dir = try TempDirectory()
    // Record 0: red plane all 10, green plane 20, blue plane 30, except pixel (row 1, col 2)
    // of the blue plane, which is 255.
    var first = [UInt8](repeating: 10, count: 1024) + [UInt8](repeating: 20, count: 1024) + [UInt8](repeating: 30, count: 1024)
    first[2048 + 1 * 32 + 2] = 255
    let second = testPixels(count: 1, features: 3072, salt: 5)
    let p = try dir.write("data_batch_1.bin", cifarRecords(labels: [7, 0], pixels: first + second))
    let set = try CIFAR10.read(path: p)
    #expect(set.count == 2)
    #expect(set.shape == .cifar10)
    #expect(set.shape.layout == .channelMajor)
    #expect(set.features == 3072)
    #expect(set.labels == [7, 0])
    #expect(Array(set.pixels[0..<3072]) == first)
    #expect(Array(set.pixels[3072..<6144]) == second)
    #expect(set.pixels[0] == 10 && set.pixels[1024] == 20 && set.pixels[2048] == 30)
    #expect(set.pixels[2048 + 34] == 255)
  }

  @Test func severalFilesConcatenate() throws {
    let dir = try TempDirectory()
    let expected = try writeCIFARSet(in: dir, perBatch: 3)
    let set = try CIFAR10.read(paths: CIFAR10.trainingFiles.map { dir.file($0) })
    #expect(set.count == 15)
    #expect(set.labels == expected.labels)
    #expect(set.pixels == expected.pixels)
  }

  @Test func sizeNotMultipleOfRecord() throws {
    let dir = try TempDirectory()
    let p = try dir.write("data_batch_1.bin", [UInt8](repeating: 1, count: 3073 * 2 + 100))
    expectDatasetError(.badSize, containing: ["data_batch_1.bin", "6246", "not a multiple of the 3073-byte record"]) {
      _ = try CIFAR10.read(path: p)
    }
  }

  @Test func labelTen() throws {
    let dir = try TempDirectory()
    let p = try dir.write("test_batch.bin", cifarRecords(labels: [1, 10], pixels: testPixels(count: 2, features: 3072)))
    expectDatasetError(.labelOutOfRange, containing: ["test_batch.bin", "label 10", "record 1", "0...9"]) {
      _ = try CIFAR10.read(path: p)
    }
  }

  @Test func emptyAndMissing() throws {
    let dir = try TempDirectory()
    let p = try dir.write("data_batch_3.bin", [])
    expectDatasetError(.empty, containing: ["data_batch_3.bin", "empty file"]) { _ = try CIFAR10.read(path: p) }
    expectDatasetError(.missingFile, containing: ["data_batch_4.bin", "not found"]) {
      _ = try CIFAR10.read(path: dir.file("data_batch_4.bin"))
    }
  }

  @Test func gzippedBatchRejected() throws {
    let dir = try TempDirectory()
    let p = try dir.write("data_batch_1.bin", cifarRecords(labels: [1], pixels: [UInt8](repeating: 0, count: 3072)), gzip: true)
    let size = try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int ?? -1
    let error = #expect(throws: DatasetError.self) { _ = try CIFAR10.read(path: p) }
    #expect(error?.description.contains("data_batch_1.bin") == true, "size \(size): \(String(describing: error))")
  }
}
