import CZlib
import Foundation
import Testing

@testable import Datasets

/// A fresh temporary directory, removed when the value is released.
final class TempDirectory {
  let path: String

  init() throws {
    let base = NSTemporaryDirectory() + "dptrain-datasets-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    path = base
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  func file(_ name: String) -> String { path + "/" + name }

  /// Writes `bytes` to `name`, gzip-compressed through zlib when `gzip` is true; returns the path.
  @discardableResult
  func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
    let p = file(name)
    if gzip {
      guard let f = gzopen(p, "wb") else { throw TestFailure("gzopen(\(p)) failed") }
      let written = bytes.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
      let closed = gzclose(f)
      guard Int(written) == bytes.count, closed == Z_OK else { throw TestFailure("gzwrite(\(p)) failed") }
    } else {
      try Data(bytes).write(to: URL(fileURLWithPath: p))
    }
    return p
  }

  func subdirectory(_ name: String) throws -> String {
    let p = file(name)
    try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

func bigEndian32(_ v: UInt32) -> [UInt8] {
  [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
}

/// IDX images file bytes: magic 0x803, count, rows, cols, pixels.
func idxImages(count: Int, rows: Int, cols: Int, pixels: [UInt8], magic: UInt32 = 0x0000_0803) -> [UInt8] {
  bigEndian32(magic) + bigEndian32(UInt32(count)) + bigEndian32(UInt32(rows)) + bigEndian32(UInt32(cols)) + pixels
}

/// IDX labels file bytes: magic 0x801, count, labels.
func idxLabels(_ labels: [UInt8], magic: UInt32 = 0x0000_0801) -> [UInt8] {
  bigEndian32(magic) + bigEndian32(UInt32(labels.count)) + labels
}

/// Deterministic pixel bytes, different for every (sample, feature).
func testPixels(count: Int, features: Int, salt: Int = 0) -> [UInt8] {
  (0..<(count * features)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / features &* 7 &+ salt) }
}

/// CIFAR-10 file bytes: per record one label byte then 3072 pixel bytes.
func cifarRecords(labels: [UInt8], pixels: [UInt8]) -> [UInt8] {
  var out: [UInt8] = []
  for (i, l) in labels.enumerated() {
    out.append(l)
    out += pixels[(i * 3072)..<((i + 1) * 3072)]
  }
  return out
}

/// Writes an IDX data set (train and t10k images and labels) with `train` and `test` samples
/// of `rows x cols` into `dir`; labels are `i % 10`. Returns (train pixels, test pixels).
@discardableResult
func writeIDXSet(
  in dir: TempDirectory, subdirectory: String? = nil, train: Int, test: Int, rows: Int = 4, cols: Int = 3,
  gzip: Bool = true
) throws -> (train: [UInt8], test: [UInt8]) {
  let prefix = subdirectory.map { $0 + "/" } ?? ""
  if let subdirectory { _ = try dir.subdirectory(subdirectory) }
  let f = rows * cols
  let trainPixels = testPixels(count: train, features: f, salt: 1)
  let testPix = testPixels(count: test, features: f, salt: 2)
  let ext = gzip ? ".gz" : ""
  try dir.write(prefix + "train-images-idx3-ubyte" + ext, idxImages(count: train, rows: rows, cols: cols, pixels: trainPixels), gzip: gzip)
  try dir.write(prefix + "train-labels-idx1-ubyte" + ext, idxLabels((0..<train).map { UInt8($0 % 10) }), gzip: gzip)
  try dir.write(prefix + "t10k-images-idx3-ubyte" + ext, idxImages(count: test, rows: rows, cols: cols, pixels: testPix), gzip: gzip)
  try dir.write(prefix + "t10k-labels-idx1-ubyte" + ext, idxLabels((0..<test).map { UInt8(($0 + 3) % 10) }), gzip: gzip)
  return (trainPixels, testPix)
}

/// Checks that `body` throws a `DatasetError` of `kind` whose description contains every string of `fragments`.
func expectDatasetError(
  _ kind: DatasetError.Kind, containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) {
  let error = #expect(throws: DatasetError.self, sourceLocation: sourceLocation) { try body() }
  guard let error else { return }
  #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
  for fragment in fragments {
    #expect(error.description.contains(fragment), "'\(error)' should contain '\(fragment)'", sourceLocation: sourceLocation)
  }
}
