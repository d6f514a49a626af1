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
final class ZReader {
  let path: String
  private let file: gzFile
  /// Bytes delivered so far (uncompressed).
  private(set) var offset = 0

  init(path: String) throws {
    self.path = path
    switch fileKind(path) {
    case .missing:
      throw DatasetError(.missingFile, path: path, "file not found: expected a readable file")
    case .directory:
      throw DatasetError(.missingFile, path: path, "is a directory, expected a regular file")
    default: break
    }
    guard let f = gzopen(path, "rb") else {
      let reason = String(cString: strerror(errno))
      throw DatasetError(.missingFile, path: path, "cannot open (\(reason)): expected a readable file")
    }
    file = f
    gzbuffer(file, 1 << 18)
  }

  deinit { gzclose(file) }

  /// True when the file is a gzip stream being decompressed (false: read directly).
  var isCompressed: Bool { gzdirect(file) == 0 }

  /// "bytes" or "uncompressed bytes", for messages.
  var byteWord: String { isCompressed ? "uncompressed bytes" : "bytes" }

  /// Reads up to `count` bytes into `buffer`; fewer only at the end of the data. Throws on a
  /// corrupted gzip stream (including one that ends prematurely) or an I/O error.
  func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
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
