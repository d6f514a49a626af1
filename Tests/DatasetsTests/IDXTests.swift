import Foundation
import Testing

@testable import Datasets

@Suite("IDX reader")
struct IDXTests {
  @Test("images and labels round trip, gzipped and plain", arguments: [true, false])
  func roundTrip(gzip: Bool) throws {
    let dir = try TempDirectory()
    let pixels = testPixels(count: 5, features: 6)
    let labels: [UInt8] = [3, 0, 9, 1, 7]
    let ext = gzip ? ".gz" : ""
    let ip = try dir.write("x-images-idx3-ubyte" + ext, idxImages(count: 5, rows: 2, cols: 3, pixels: pixels), gzip: gzip)
    let lp = try dir.write("x-labels-idx1-ubyte" + ext, idxLabels(labels), gzip: gzip)
    if gzip {
      // The file on disk really is gzip (magic 1f 8b), not the raw IDX bytes.
      let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: ip)))
      #expect(Array(raw.prefix(2)) == [0x1F, 0x8B])
    }
    let images = try IDX.readImages(path: ip)
    #expect(images.count == 5 && images.rows == 2 && images.cols == 3)
    #expect(images.pixels == pixels)
    #expect(try IDX.readLabels(path: lp) == [3, 0, 9, 1, 7])

    let set = try IDX.readImageSet(imagesPath: ip, labelsPath: lp)
    #expect(set.count == 5)
    #expect(set.features == 6)
    #expect(set.shape == ImageShape(height: 2, width: 3, channels: 1, layout: .grayscale))
    #expect(set.pixels == pixels)
    #expect(set.labels == [3, 0, 9, 1, 7])
    #expect(set.classes == 10)
  }

  @Test func wrongMagic() throws {
    let dir = try TempDirectory()
    let p = try dir.write("bad-images-idx3-ubyte", idxImages(count: 1, rows: 1, cols: 1, pixels: [0], magic: 0x1234_5678))
    expectDatasetError(.badMagic, containing: ["bad-images-idx3-ubyte", "0x12345678", "expected 0x00000803"]) {
      _ = try IDX.readImages(path: p)
    }
    let lp = try dir.write("bad-labels.gz", idxLabels([1], magic: 0x0000_0901), gzip: true)
    expectDatasetError(.badMagic, containing: ["bad-labels.gz", "0x00000901", "expected 0x00000801"]) {
      _ = try IDX.readLabels(path: lp)
    }
  }

  @Test func wrongDimensionCount() throws {
    let dir = try TempDirectory()
    // A labels file (1 dimension) given as images.
    let p = try dir.write("swapped-idx1-ubyte", idxLabels([1, 2, 3]))
    expectDatasetError(.badDimensions, containing: ["swapped-idx1-ubyte", "declares 1 dimension", "expected 3"]) {
      _ = try IDX.readImages(path: p)
    }
  }

  @Test("truncated pixel data names expected and actual sizes", arguments: [true, false])
  func truncated(gzip: Bool) throws {
    let dir = try TempDirectory()
    // Declares 4 x 2 x 2 = 16 pixel bytes, holds 10.
    let bytes = idxImages(count: 4, rows: 2, cols: 2, pixels: [UInt8](repeating: 7, count: 10))
    let p = try dir.write("short-images", bytes, gzip: gzip)
    expectDatasetError(.truncated, containing: ["short-images", "truncated", "expected 32", "got 26"]) {
      _ = try IDX.readImages(path: p)
    }
    // A header cut short.
    let h = try dir.write("short-header", Array(bytes.prefix(9)), gzip: gzip)
    expectDatasetError(.truncated, containing: ["short-header", "header", "expected 16", "got 9"]) {
      _ = try IDX.readImages(path: h)
    }
    let l = try dir.write("short-labels", Array(idxLabels([1, 2, 3, 4]).prefix(10)), gzip: gzip)
    expectDatasetError(.truncated, containing: ["short-labels", "expected 12", "got 10"]) {
      _ = try IDX.readLabels(path: l)
    }
  }

  @Test("trailing bytes are an error", arguments: [true, false])
  func trailing(gzip: Bool) throws {
    let dir = try TempDirectory()
    let p = try dir.write(
      "long-images", idxImages(count: 2, rows: 2, cols: 2, pixels: [UInt8](repeating: 1, count: 8)) + [9, 9, 9], gzip: gzip)
    expectDatasetError(.trailingBytes, containing: ["long-images", "3 trailing bytes", "expected 24"]) {
      _ = try IDX.readImages(path: p)
    }
    let l = try dir.write("long-labels", idxLabels([1, 2]) + [0], gzip: gzip)
    expectDatasetError(.trailingBytes, containing: ["long-labels", "1 trailing byte", "expected 10"]) {
      _ = try IDX.readLabels(path: l)
    }
  }

  @Test func countMismatch() throws {
    let dir = try TempDirectory()
    let ip = try dir.write("m-images", idxImages(count: 3, rows: 1, cols: 2, pixels: [1, 2, 3, 4, 5, 6]))
    let lp = try dir.write("m-labels", idxLabels([1, 2]))
    expectDatasetError(.countMismatch, containing: ["m-images", "m-labels", "3 images", "2 labels"]) {
      _ = try IDX.readImageSet(imagesPath: ip, labelsPath: lp)
    }
  }

  @Test func labelOutOfRange() throws {
    let dir = try TempDirectory()
    let lp = try dir.write("oor-labels.gz", idxLabels([0, 9, 4, 10, 2]), gzip: true)
    expectDatasetError(.labelOutOfRange, containing: ["oor-labels.gz", "label 10", "index 3", "0...9"]) {
      _ = try IDX.readLabels(path: lp)
    }
  }

  /// libdeflate inflates a single-member file whole; what it refuses goes through zlib: two
  /// members (valid gzip, read in full) and a trailer whose size is wrong (zlib's error).
  @Test("gzip read whole by libdeflate, or through zlib when libdeflate refuses it")
  func libdeflateOrZlib() throws {
    let dir = try TempDirectory()
    let pixels = testPixels(count: 40, features: 64)
    let bytes = idxImages(count: 40, rows: 8, cols: 8, pixels: pixels)
    let single = try dir.write("single.gz", bytes, gzip: true)
    let size = try [UInt8](Data(contentsOf: URL(fileURLWithPath: single))).count
    #expect(ZReader.inflateWhole(single, size: size) == bytes)
    #expect(try IDX.readImages(path: single).pixels == pixels)

    let half = bytes.count / 2
    let first = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try dir.write("a.gz", Array(bytes.prefix(half)), gzip: true))))
    let second = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try dir.write("b.gz", Array(bytes.dropFirst(half)), gzip: true))))
    let members = dir.file("members.gz")
    try Data(first + second).write(to: URL(fileURLWithPath: members))
    #expect(ZReader.inflateWhole(members, size: first.count + second.count) == nil)
    #expect(try IDX.readImages(path: members).pixels == pixels)

    var wrong = try [UInt8](Data(contentsOf: URL(fileURLWithPath: single)))
    wrong[wrong.count - 4] &+= 1
    let mislabelled = dir.file("wrong-size.gz")
    try Data(wrong).write(to: URL(fileURLWithPath: mislabelled))
    #expect(ZReader.inflateWhole(mislabelled, size: wrong.count) == nil)
    expectDatasetError(.compression, containing: ["wrong-size.gz", "corrupted gzip stream", "zlib error"]) {
      _ = try IDX.readImages(path: mislabelled)
    }
  }

  @Test func corruptedGzip() throws {
    let dir = try TempDirectory()
    // A gzip header followed by garbage that is not a deflate stream.
    let garbage: [UInt8] = [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0x03] + [UInt8](repeating: 0xFF, count: 64)
    let p = dir.file("garbage-images.gz")
    try Data(garbage).write(to: URL(fileURLWithPath: p))
    expectDatasetError(.compression, containing: ["garbage-images.gz", "corrupted gzip stream", "zlib error"]) {
      _ = try IDX.readImages(path: p)
    }
    // A valid gzip stream cut in the middle.
    let good = try dir.write(
      "cut-images.gz", idxImages(count: 50, rows: 8, cols: 8, pixels: testPixels(count: 50, features: 64)), gzip: true)
    let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
    try Data(whole.prefix(whole.count / 2)).write(to: URL(fileURLWithPath: good))
    expectDatasetError(.compression, containing: ["cut-images.gz", "zlib error"]) {
      _ = try IDX.readImages(path: good)
    }
  }

  @Test func missingFile() throws {
    let dir = try TempDirectory()
    expectDatasetError(.missingFile, containing: ["nothing-here", "not found"]) {
      _ = try IDX.readImages(path: dir.file("nothing-here"))
    }
  }

  @Test("a header declaring more than 2 GiB fails fast, before reading")
  func declaredSizeOverCap() throws {
    let dir = try TempDirectory()
    // 100000 x 200 x 200 = 4e9 bytes declared, 4 bytes present.
    let p = try dir.write("huge-images", idxImages(count: 100_000, rows: 200, cols: 200, pixels: [1, 2, 3, 4]))
    let start = ContinuousClock.now
    expectDatasetError(.tooLarge, containing: ["huge-images", "100000 x 200 x 200", "2 GiB"]) {
      _ = try IDX.readImages(path: p)
    }
    // Maximal 32-bit dimensions must not overflow either.
    let q = try dir.write("max-images", idxImages(count: Int(UInt32.max), rows: Int(UInt32.max), cols: Int(UInt32.max), pixels: []))
    expectDatasetError(.tooLarge, containing: ["max-images", "limit"]) {
      _ = try IDX.readImages(path: q)
    }
    // Under the cap but far beyond the data: truncated, without allocating the claimed 1.5 GB.
    let r = try dir.write("liar-images", idxImages(count: 1_500_000, rows: 1000, cols: 1, pixels: [1, 2, 3]))
    expectDatasetError(.truncated, containing: ["liar-images", "expected 1500000016", "got 19"]) {
      _ = try IDX.readImages(path: r)
    }
    #expect(ContinuousClock.now - start < .seconds(1))
  }

  @Test func emptySetsRejected() throws {
    let dir = try TempDirectory()
    let p = try dir.write("zero-images", idxImages(count: 0, rows: 28, cols: 28, pixels: []))
    expectDatasetError(.empty, containing: ["zero-images", "0 images"]) { _ = try IDX.readImages(path: p) }
    let l = try dir.write("zero-labels", idxLabels([]))
    expectDatasetError(.empty, containing: ["zero-labels", "0 labels"]) { _ = try IDX.readLabels(path: l) }
    let z = try dir.write("zero-rows", idxImages(count: 3, rows: 0, cols: 28, pixels: []))
    expectDatasetError(.badDimensions, containing: ["zero-rows", "0 x 28"]) { _ = try IDX.readImages(path: z) }
    let e = try dir.write("empty-file", [])
    expectDatasetError(.truncated, containing: ["empty-file", "got 0"]) { _ = try IDX.readImages(path: e) }
  }
}
