import Files
import Foundation

extension SweepStore {
  /// The store of a sweep session in `directory`: a new one with the spec's header (`specText`
  /// is the file as written), or (`resume`) the existing one, which must have been started with
  /// the same spec; its interrupted trials are queued again (`requeued`).
  public static func session(
    directory: String, spec: SweepSpec, specFile: String, specText: String, resume: Bool, ranks: Int, ranksPerTrial: Int
  ) throws -> (store: SweepStore, requeued: Int?) {
    let store = try SweepStore(directory: directory, create: !resume)
    guard resume else {
      try store.writeHeader(spec: spec, specFile: specFile, specText: specText, ranks: ranks, ranksPerTrial: ranksPerTrial)
      return (store, nil)
    }
    guard let header = try store.header() else {
      throw FileError(.malformed, path: store.path, problem: "the sweep has no header row; start a new sweep")
    }
    guard header.spec == spec else {
      throw FileError(
        .malformed, path: specFile,
        problem:
          "this is not the spec \(directory) was started with (\(header.specFile)); resume with that spec, or start a new sweep in another --out"
      )
    }
    return (store, try store.resume(ranks: ranks, ranksPerTrial: ranksPerTrial))
  }
}
