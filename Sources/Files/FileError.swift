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
public func describeIOError(_ error: any Error) -> String {
  let ns = error as NSError
  if let inner = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
    let underlying = inner as NSError
    if underlying.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(underlying.code))) }
  }
  if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
  return ns.localizedDescription
}
