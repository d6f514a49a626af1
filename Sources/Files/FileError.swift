import Foundation

/// A file dptrain reads or writes (a model, a checkpoint, a run directory's files, the sweep
/// database, a report's inputs) that could not be used: the file, what was wrong, and what to
/// do when there is something to do. Printed as `path: problem`.
public struct FileError: Error, CustomStringConvertible {
  /// What went wrong, for code and tests that must tell the failures apart; the message is
  /// `problem`.
  public enum Kind: Sendable, Hashable {
    /// Not there: a checkpoint the run has not written, a directory without a sweep database.
    case missing
    /// There (or perhaps not: the system does not always say) but it cannot be opened or read.
    case unreadable
    /// Read, but not what dptrain writes or expects here: truncated, another format, or
    /// inconsistent with itself or with the run that reads it.
    case malformed
    /// Creating, writing, syncing or renaming failed (no space, no permission).
    case unwritable
  }

  public var kind: Kind
  public var path: String
  public var problem: String

  public init(_ kind: Kind, path: String, problem: String) {
    self.kind = kind
    self.path = path
    self.problem = problem
  }

  public var description: String { "\(path): \(problem)" }
}

/// The system's reason for a failed file operation ("No space left on device", "Permission
/// denied"), not Foundation's wrapper text.
public func describeIOError(_ error: any Error, path: String? = nil) -> String {
  let ns = error as NSError
  if let inner = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
    let underlying = inner as NSError
    if underlying.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(underlying.code))) }
  }
  if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
  var isDirectory: ObjCBool = false
  if let path, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
    return "it is a directory"
  }
  // Foundation's own codes (its text reads "The operation could not be completed").
  guard ns.domain == NSCocoaErrorDomain else { return ns.localizedDescription }
  switch ns.code {
  case 4, 260: return String(cString: strerror(ENOENT))
  case 257, 513: return String(cString: strerror(EACCES))
  case 516: return "a file of that name already exists"
  case 640: return String(cString: strerror(ENOSPC))
  case 512, 256: return "the write failed (is the path a directory, or its parent missing or read-only?)"
  default: return ns.localizedDescription
  }
}
