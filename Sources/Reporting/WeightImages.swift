import CZlib
import Foundation

/// An 8-bit image: `channels` 1 (gray) or 3 (RGB), pixels row by row, channels interleaved.
public struct Image: Sendable, Equatable {
  public var width: Int
  public var height: Int
  public var channels: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height * channels, "\(pixels.count) pixels for \(width)x\(height)x\(channels)")
    self.width = width
    self.height = height
    self.channels = channels
    self.pixels = pixels
  }
}

/// The first layer's weights as pictures, as in the course's reports: each row of `W [out, in]`
/// (one hidden unit, or one class of a 1-layer network) reshaped to the input image and
/// contrast-stretched on its own: `p = round(255 (w - min) / (max - min))` (a constant row is
/// mid-gray).
public enum WeightImages {
  /// Input layout of the images: grayscale `[h, w]`, or CIFAR-10's planar `[3, h, w]` (all red,
  /// then green, then blue), drawn as RGB.
  public enum Layout: Sendable { case grayscale, planarRGB }

  /// Tiles of the first `count` rows of `weights` (`[rows, height * width * channels]`, row-major).
  public static func tiles(weights: [Double], rows: Int, height: Int, width: Int, layout: Layout, count: Int) -> [Image] {
    let channels = layout == .grayscale ? 1 : 3
    let d = height * width * channels
    precondition(weights.count == rows * d, "weights: \(weights.count) values for \(rows) rows of \(d)")
    return (0..<min(count, rows)).map { r in
      let row = weights[(r * d)..<((r + 1) * d)]
      let lo = row.min() ?? 0
      let hi = row.max() ?? 0
      var pixels = [UInt8](repeating: 128, count: d)
      if hi > lo {
        for y in 0..<height {
          for x in 0..<width {
            for c in 0..<channels {
              // Planar input index -> interleaved pixel index.
              let input = layout == .grayscale ? y * width + x : c * height * width + y * width + x
              let value = row[row.startIndex + input]
              pixels[(y * width + x) * channels + c] = UInt8((255 * (value - lo) / (hi - lo)).rounded())
            }
          }
        }
      }
      return Image(width: width, height: height, channels: channels, pixels: pixels)
    }
  }
}

/// PNG encoding (8-bit gray or RGB, no filter, zlib-compressed), for images inlined in reports
/// as `data:` URIs.
public enum PNG {
  public static func encode(_ image: Image) -> [UInt8] {
    var raw: [UInt8] = []
    let stride = image.width * image.channels
    raw.reserveCapacity((stride + 1) * image.height)
    for y in 0..<image.height {
      raw.append(0)  // filter: none
      raw += image.pixels[(y * stride)..<((y + 1) * stride)]
    }
    var compressedLength = compressBound(uLong(raw.count))
    var compressed = [UInt8](repeating: 0, count: Int(compressedLength))
    let rc = compress2(&compressed, &compressedLength, raw, uLong(raw.count), 9)
    precondition(rc == Z_OK, "zlib compress2 failed: \(rc)")
    compressed.removeLast(compressed.count - Int(compressedLength))

    var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    var header: [UInt8] = []
    header += bigEndian(UInt32(image.width))
    header += bigEndian(UInt32(image.height))
    header += [8, image.channels == 1 ? 0 : 2, 0, 0, 0]  // depth 8; gray or RGB; deflate; no filter; no interlace
    chunk("IHDR", header, into: &png)
    chunk("IDAT", compressed, into: &png)
    chunk("IEND", [], into: &png)
    return png
  }

  /// `data:image/png;base64,...`
  public static func dataURI(_ image: Image) -> String {
    "data:image/png;base64," + Data(encode(image)).base64EncodedString()
  }

  static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

  static func chunk(_ type: String, _ data: [UInt8], into png: inout [UInt8]) {
    let typeBytes = Array(type.utf8)
    png += bigEndian(UInt32(data.count))
    png += typeBytes
    png += data
    let body = typeBytes + data
    let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
    png += bigEndian(UInt32(crc))
  }
}
