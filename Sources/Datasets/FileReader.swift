import CDeflate
import CZlib

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What `stat` says about a path.
enum FileKind {
  case missing, directory
  case regular(size: Int)
  case other
}

func fileKind(_ path: String) -> FileKind {
  var st = stat()
  guard stat(path, &st) == 0 else { return .missing }
  switch st.st_mode & S_IFMT {
  case S_IFDIR: return .directory
  case S_IFREG: return .regular(size: Int(st.st_size))
  default: return .other
  }
}

func fileExists(_ path: String) -> Bool {
  if case .regular = fileKind(path) { return true }
  return false
}

func joinPath(_ directory: String, _ name: String) -> String {
  directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// The last path component, for messages that also quote the full path.
func baseName(_ path: String) -> String {
  path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
}

/// A sequential reader of a gzip-compressed or plain file through zlib (`gzread` reads
/// non-gzip files transparently). Every failure is a `DatasetError` naming the file.
///
/// A single-member gzip file whose trailer's size is plausible is first inflated whole by
/// libdeflate (0.07-0.10 s for Fashion-MNIST's training images against zlib's 0.14-0.17 s) and
/// read from memory; when libdeflate refuses it (corrupt, cut short, several members, a size
/// that does not match), the file is read through zlib as before, which names the problem.
final class ZReader {
  let path: String
  private let file: gzFile
  /// The whole uncompressed data, when libdeflate inflated it.
  private var inflated: [UInt8]?
  /// Bytes delivered so far (uncompressed).
  private(set) var offset = 0

  init(path: String) throws {
    self.path = path
    switch fileKind(path) {
    case .missing:
      throw DatasetError(.missingFile, path: path, "file not found: expected a readable file")
    case .directory:
      throw DatasetError(.missingFile, path: path, "is a directory, expected a regular file")
    case .other:
      // Reading a FIFO would wait for a writer, a device could be endless.
      throw DatasetError(.missingFile, path: path, "is not a regular file (a FIFO, a device or a socket), expected a regular file")
    default: break
    }
    guard let f = gzopen(path, "rb") else {
      let reason = String(cString: strerror(errno))
      throw DatasetError(.missingFile, path: path, "cannot open (\(reason)): expected a readable file")
    }
    file = f
    gzbuffer(file, 1 << 18)
    if case .regular(let size) = fileKind(path) { inflated = Self.inflateWhole(path, size: size) }
  }

  deinit { gzclose(file) }

  /// The uncompressed bytes of a single-member gzip file by libdeflate, or nil (not gzip, or
  /// anything libdeflate does not accept: zlib then reads the file and names the problem).
  static func inflateWhole(_ path: String, size: Int) -> [UInt8]? {
    // A gzip member is at least 18 bytes and DEFLATE expands at most ~1032 times. Data the
    // trailer says is over 256 MiB (no data set file is; a gzip bomb may claim up to 4 GiB) is
    // left to zlib's streaming, which grows its buffer only as data arrives.
    guard size >= 18, size < 1 << 31, let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var compressed = [UInt8](repeating: 0, count: size)
    guard compressed.withUnsafeMutableBytes({ fread($0.baseAddress, 1, size, f) }) == size, compressed[0] == 0x1f, compressed[1] == 0x8b
    else { return nil }
    let claimed = (0..<4).reduce(0) { $0 | Int(compressed[size - 4 + $1]) << (8 * $1) }
    guard claimed <= min(size * 1032, 1 << 28), let decompressor = libdeflate_alloc_decompressor() else { return nil }
    defer { libdeflate_free_decompressor(decompressor) }
    var output = [UInt8](repeating: 0, count: claimed)
    var consumed = 0
    let result = compressed.withUnsafeBytes { input in
      output.withUnsafeMutableBytes { out in
        // Without an output-size pointer libdeflate requires exactly `claimed` bytes.
        libdeflate_gzip_decompress_ex(decompressor, input.baseAddress, size, out.baseAddress, claimed, &consumed, nil)
      }
    }
    guard result == LIBDEFLATE_SUCCESS, consumed == size else { return nil }
    return output
  }

  /// True when the file is a gzip stream being decompressed (false: read directly).
  var isCompressed: Bool { inflated != nil || gzdirect(file) == 0 }

  /// "bytes" or "uncompressed bytes", for messages.
  var byteWord: String { isCompressed ? "uncompressed bytes" : "bytes" }

  /// Reads up to `count` bytes into `buffer`; fewer only at the end of the data. Throws on a
  /// corrupted gzip stream (including one that ends prematurely) or an I/O error.
  func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
    if let inflated {
      // (After `readArray` took the rest, `inflated` is empty and `offset` at the end.)
      let n = max(0, min(count, inflated.count - offset))
      if n > 0 { inflated.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + offset, byteCount: n) } }
      offset += n
      return n
    }
    var done = 0
    while done < count {
      let want = UInt32(min(count - done, 1 << 30))
      let got = gzread(file, buffer + done, want)
      if got < 0 { throw zlibError() }
      done += Int(got)
      offset += Int(got)
      if got == 0 || UInt32(got) < want {
        // End of input: a clean end, or a gzip stream cut short (Z_BUF_ERROR).
        var errnum: Int32 = 0
        _ = gzerror(file, &errnum)
        if errnum != Z_OK { throw zlibError() }
        break
      }
    }
    return done
  }

  /// Reads and discards the rest of the data, returning how many bytes there were.
  func countRemaining() throws -> Int {
    let scratchSize = 1 << 16
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchSize, alignment: 16)
    defer { scratch.deallocate() }
    var total = 0
    while true {
      let n = try read(into: scratch, count: scratchSize)
      total += n
      if n < scratchSize { return total }
    }
  }

  /// Reads up to `limit` bytes into a new array in bounded chunks, growing the array only as
  /// data actually arrives (at most doubling, never beyond `limit`): a header that claims more
  /// than the file holds costs nothing.
  func readArray(limit: Int) throws -> [UInt8] {
    if var data = inflated {
      let n = max(0, min(limit, data.count - offset))
      guard n == data.count - offset else {
        defer { offset += n }
        return Array(data[offset..<(offset + n)])
      }
      // The rest of the data, the usual case: handed over without a copy of 47 MB (the shift
      // moves the bytes within the buffer, which this reader no longer needs).
      inflated = []
      data.removeFirst(offset)
      offset += n
      return data
    }
    let chunk = 1 << 20
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
    defer { scratch.deallocate() }
    var bytes: [UInt8] = []
    while bytes.count < limit {
      let want = min(chunk, limit - bytes.count)
      let got = try read(into: scratch, count: want)
      if got == 0 { break }
      if bytes.capacity < bytes.count + got {
        bytes.reserveCapacity(min(limit, max(2 * bytes.capacity, bytes.count + got)))
      }
      bytes.append(contentsOf: UnsafeRawBufferPointer(start: scratch, count: got).bindMemory(to: UInt8.self))
      if got < want { break }
    }
    return bytes
  }

  private func zlibError() -> DatasetError {
    var errnum: Int32 = 0
    var text = gzerror(file, &errnum).map { String(cString: $0) } ?? "unknown error"
    // zlib prefixes its message with the path, which the error names already.
    if text.hasPrefix(path + ": ") { text.removeFirst(path.count + 2) }
    if errnum == Z_ERRNO {
      let reason = String(cString: strerror(errno))
      return DatasetError(.compression, path: path, "read error after \(offset) bytes: \(reason)")
    }
    return DatasetError(
      .compression, path: path,
      "corrupted gzip stream after \(offset) uncompressed bytes: zlib error \(errnum): \(text); expected a valid gzip or uncompressed file"
    )
  }
}
