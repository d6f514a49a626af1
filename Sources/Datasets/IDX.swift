/// Reader of the IDX format of MNIST and Fashion-MNIST (`*-images-idx3-ubyte[.gz]`,
/// `*-labels-idx1-ubyte[.gz]`): a big-endian header — magic `0x00000803` then the dimensions
/// `count, rows, cols` for images; magic `0x00000801` then `count` for labels — followed by
/// the unsigned bytes. Files may be gzip-compressed or plain.
///
/// Everything is validated: magic, dimension count, zero dimensions, a declared size above
/// `DatasetLimits.maximumBytes` (rejected before any allocation), truncated data, trailing
/// bytes, labels outside `0..<classes`, and corrupted gzip streams. Data is read in bounded
/// chunks, so memory grows only with bytes actually present in the file.
public enum IDX {
  /// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
  public static let imagesMagic: UInt32 = 0x0000_0803
  /// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
  public static let labelsMagic: UInt32 = 0x0000_0801

  /// Reads an images file: `pixels` is `[count, rows * cols]` row-major.
  public static func readImages(path: String) throws -> (pixels: [UInt8], count: Int, rows: Int, cols: Int) {
    let r = try ZReader(path: path)
    let dims = try readHeader(r, dimensions: 3, what: "images")
    let (count, rows, cols) = (dims[0], dims[1], dims[2])
    let headerBytes = 16
    guard count > 0 else {
      throw DatasetError(.empty, path: path, "IDX images file declares 0 images, expected at least 1")
    }
    guard rows > 0, cols > 0 else {
      throw DatasetError(
        .badDimensions, path: path, "IDX images file declares \(rows) x \(cols) images, expected positive rows and columns")
    }
    let (a, o1) = count.multipliedReportingOverflow(by: rows)
    let (declared, o2) = a.multipliedReportingOverflow(by: cols)
    guard !o1, !o2, declared <= DatasetLimits.maximumBytes else {
      throw DatasetError(
        .tooLarge, path: path,
        "IDX header declares \(count) x \(rows) x \(cols) pixel bytes, over the limit of \(DatasetLimits.maximumBytes) bytes (2 GiB); expected a smaller or uncorrupted header"
      )
    }
    let pixels = try r.readArray(limit: declared)
    let what = "\(headerBytes)-byte header + \(count) x \(rows) x \(cols) pixels"
    try checkLength(r, got: pixels.count, expected: declared, headerBytes: headerBytes, what: what)
    return (pixels, count, rows, cols)
  }

  /// Reads a labels file, checking every label is in `0..<classes`.
  public static func readLabels(path: String, classes: Int = 10) throws -> [Int32] {
    let r = try ZReader(path: path)
    let dims = try readHeader(r, dimensions: 1, what: "labels")
    let count = dims[0]
    let headerBytes = 8
    guard count > 0 else {
      throw DatasetError(.empty, path: path, "IDX labels file declares 0 labels, expected at least 1")
    }
    guard count <= DatasetLimits.maximumBytes else {
      throw DatasetError(
        .tooLarge, path: path,
        "IDX header declares \(count) labels, over the limit of \(DatasetLimits.maximumBytes) bytes (2 GiB); expected a smaller or uncorrupted header"
      )
    }
    let bytes = try r.readArray(limit: count)
    try checkLength(r, got: bytes.count, expected: count, headerBytes: headerBytes, what: "\(headerBytes)-byte header + \(count) labels")
    var labels = [Int32](repeating: 0, count: count)
    var bad: (index: Int, value: UInt8)? = nil
    bytes.withUnsafeBufferPointer { src in
      labels.withUnsafeMutableBufferPointer { dst in
        guard let s = src.baseAddress, let d = dst.baseAddress else { return }
        for i in 0..<count {
          let v = s[i]
          if Int(v) >= classes {
            bad = (i, v)
            return
          }
          d[i] = Int32(v)
        }
      }
    }
    if let bad {
      throw DatasetError(
        .labelOutOfRange, path: path, "label \(bad.value) at index \(bad.index) is out of range, expected 0...\(classes - 1)")
    }
    return labels
  }

  /// Reads a matching pair of images and labels files into one set of 28 x 28 (or whatever
  /// the header says) grayscale images; the two counts must agree.
  public static func readImageSet(imagesPath: String, labelsPath: String, classes: Int = 10) throws -> ImageSet {
    let images = try readImages(path: imagesPath)
    let labels = try readLabels(path: labelsPath, classes: classes)
    guard images.count == labels.count else {
      throw DatasetError(
        .countMismatch, path: imagesPath,
        "has \(images.count) images but labels file \(labelsPath) has \(labels.count) labels; expected the same count")
    }
    let shape = ImageShape(height: images.rows, width: images.cols, channels: 1, layout: .grayscale)
    return ImageSet(unchecked: images.pixels, labels: labels, shape: shape, classes: classes)
  }

  // MARK: Header and length checks

  /// Reads the magic and `dimensions` big-endian sizes.
  private static func readHeader(_ r: ZReader, dimensions: Int, what: String) throws -> [Int] {
    let expectedMagic = UInt32(0x0800) | UInt32(dimensions)
    let headerBytes = 4 + 4 * dimensions
    var magicBytes = [UInt8](repeating: 0, count: 4)
    let got = try magicBytes.withUnsafeMutableBytes { try r.read(into: $0.baseAddress!, count: 4) }
    guard got == 4 else {
      throw DatasetError(
        .truncated, path: r.path,
        "truncated IDX header: expected \(headerBytes) \(r.byteWord) (magic \(hex(expectedMagic)) + \(dimensions) dimension(s)), got \(got)"
      )
    }
    let magic = bigEndian(magicBytes, 0)
    if magicBytes[0] != 0 || magicBytes[1] != 0 || magicBytes[2] != 0x08 {
      throw DatasetError(
        .badMagic, path: r.path,
        "bad magic number \(hex(magic)), expected \(hex(expectedMagic)) (IDX unsigned-byte \(what) with \(dimensions) dimension(s))")
    }
    let nd = Int(magicBytes[3])
    guard nd == dimensions else {
      throw DatasetError(
        .badDimensions, path: r.path,
        "IDX header (magic \(hex(magic))) declares \(nd) dimension(s), expected \(dimensions) for \(what) (magic \(hex(expectedMagic)))")
    }
    var dimBytes = [UInt8](repeating: 0, count: 4 * dimensions)
    let gotDims = try dimBytes.withUnsafeMutableBytes { try r.read(into: $0.baseAddress!, count: 4 * dimensions) }
    guard gotDims == 4 * dimensions else {
      throw DatasetError(
        .truncated, path: r.path,
        "truncated IDX header: expected \(headerBytes) \(r.byteWord) (magic + \(dimensions) dimension(s)), got \(4 + gotDims)")
    }
    return (0..<dimensions).map { Int(bigEndian(dimBytes, 4 * $0)) }
  }

  private static func checkLength(_ r: ZReader, got: Int, expected: Int, headerBytes: Int, what: String) throws {
    guard got == expected else {
      throw DatasetError(
        .truncated, path: r.path,
        "truncated: expected \(headerBytes + expected) \(r.byteWord) (\(what)), got \(headerBytes + got)")
    }
    let extra = try r.countRemaining()
    guard extra == 0 else {
      throw DatasetError(
        .trailingBytes, path: r.path,
        "\(extra) trailing \(extra == 1 ? "byte" : "bytes") after the expected \(headerBytes + expected) \(r.byteWord) (\(what)); expected the file to end there"
      )
    }
  }

  private static func bigEndian(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
  }
}

/// `0x00000803`.
func hex(_ v: UInt32) -> String {
  let s = String(v, radix: 16, uppercase: true)
  return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
