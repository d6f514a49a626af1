import Files
import Foundation
import LinearAlgebra
import NeuralNetwork

/// `DIR/checkpoint.safetensors`: a run in progress, enough to finish it with the bits of an
/// uninterrupted run. Tensors `parameters` and `velocity` (the whole momentum buffer) and
/// `state.rank{r}` (each rank's BatchNorm running averages), in the training precision; metadata
/// `step`, `local_samples` (per rank), `metrics` (the rows so far, JSON) and `ranks`. The epoch
/// order needs no saving: it is a pure function of the seed and the epoch. The configuration is
/// the run's `config.json`.
///
/// Written atomically: a temporary file in the same directory, fsync, rename, fsync of the
/// directory; a failed write leaves the previous checkpoint as it was.
public enum Checkpoint {
  public static let fileName = "checkpoint.safetensors"

  public static func path(in directory: String) -> String { (directory as NSString).appendingPathComponent(fileName) }

  public static func write<T: Real>(_ state: Trainer<T>.State, to directory: String) throws {
    let final = path(in: directory)
    let temporary = final + ".tmp"
    var tensors: [(String, NamedTensor)] = [
      ("parameters", NamedTensor(shape: [state.parameters.count], values: state.parameters.map { Double($0) })),
      ("velocity", NamedTensor(shape: [state.velocity.count], values: state.velocity.map { Double($0) })),
    ]
    for (r, s) in state.statePerRank.enumerated() {
      tensors.append(("state.rank\(r)", NamedTensor(shape: [s.count], values: s.map { Double($0) })))
    }
    let metrics = String(decoding: try JSONEncoder().encode(state.metrics.map(CodableRow.init)), as: UTF8.self)
    let metadata = [
      "format": "dptrain-checkpoint", "version": dptrainVersion, "step": String(state.step), "ranks": String(state.statePerRank.count),
      "local_samples": state.localSamplesPerRank.map(String.init).joined(separator: ","), "metrics": metrics,
    ]
    do {
      do { try SafeTensors.write(tensors, dtype: T.self == Float.self ? "F32" : "F64", metadata: metadata, to: temporary) } catch {
        let reason = (error as? FileError)?.problem ?? describeIOError(error)
        throw FileError(
          .unwritable, path: final, problem: "cannot write the checkpoint (\(reason)); the previous checkpoint, if any, is intact")
      }
      try sync(temporary)
      guard rename(temporary, final) == 0 else {
        throw FileError(.unwritable, path: final, problem: "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
      }
      try sync(directory)
    } catch {
      unlink(temporary)
      throw error
    }
  }

  static func sync(_ path: String) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw FileError(.unwritable, path: path, problem: "cannot open to sync: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw FileError(.unwritable, path: path, problem: "fsync failed: \(String(cString: strerror(errno)))") }
  }

  public static func read<T: Real>(from directory: String, as: T.Type) throws -> Trainer<T>.State {
    let file = path(in: directory)
    guard FileManager.default.fileExists(atPath: file) else {
      throw FileError(
        .missing, path: file, problem: "no checkpoint here; the run wrote none yet (--checkpoint-every) or DIR is not a run directory")
    }
    let (tensors, metadata) = try SafeTensors.read(file)
    guard metadata["format"] == "dptrain-checkpoint", let step = metadata["step"].flatMap(Int.init), step >= 0,
      let ranks = metadata["ranks"].flatMap(Int.init), ranks >= 1,
      let parameters = tensors["parameters"], let velocity = tensors["velocity"], parameters.values.count == velocity.values.count
    else {
      throw FileError(.malformed, path: file, problem: "not a dptrain checkpoint (format, step, ranks, parameters or velocity missing)")
    }
    let samples = (metadata["local_samples"] ?? "").split(separator: ",").compactMap { Int($0) }
    var states: [[T]] = []
    for r in 0..<ranks {
      guard let s = tensors["state.rank\(r)"] else {
        throw FileError(.malformed, path: file, problem: "state.rank\(r) missing for \(ranks) ranks")
      }
      states.append(s.values.map { T($0) })
    }
    let rows: [CodableRow]
    do { rows = try JSONDecoder().decode([CodableRow].self, from: Data((metadata["metrics"] ?? "[]").utf8)) } catch {
      throw FileError(.malformed, path: file, problem: "metrics metadata unreadable: \(error)")
    }
    guard samples.count == ranks else {
      throw FileError(.malformed, path: file, problem: "local_samples has \(samples.count) entries for \(ranks) ranks")
    }
    if let bad = rows.firstIndex(where: { $0.values.count != 9 || !(Int($0.values[1]).map { (0...step).contains($0) } ?? false) }) {
      throw FileError(
        .malformed, path: file,
        problem:
          "metrics row \(bad + 1) is \(rows[bad].values.prefix(9)); expected the 9 fields of a metrics.csv line with a step in 0...\(step)")
    }
    return Trainer<T>.State(
      step: step, parameters: parameters.values.map { T($0) }, velocity: velocity.values.map { T($0) }, statePerRank: states,
      localSamplesPerRank: samples, metrics: rows.map(\.row))
  }
}

/// A metrics row with non-finite numbers kept (JSON has none: they travel as strings).
struct CodableRow: Codable {
  var values: [String]
  init(_ row: MetricsRow) {
    values = row.csvLine.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
  }
  var row: MetricsRow {
    let d = values.map { Double($0) }
    let validation = d.count == 9 && d[6] != nil ? SplitMetrics(loss: d[7] ?? .nan, cost: d[6]!, accuracy: d[8] ?? .nan) : nil
    return MetricsRow(
      epoch: d[0] ?? 0, step: Int(values[1]) ?? 0, eta: d[2] ?? 0,
      train: SplitMetrics(loss: d[4] ?? .nan, cost: d[3] ?? .nan, accuracy: d[5] ?? .nan), validation: validation)
  }
}
