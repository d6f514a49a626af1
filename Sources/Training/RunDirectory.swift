import Files
import Foundation
import LinearAlgebra
import NeuralNetwork

/// Writes a run's files into its directory as the run goes: `config.json` at the start,
/// `metrics.csv` one row per evaluation point (flushed, so a diverged or killed run keeps
/// every row recorded), `summary.json` and `model.safetensors` at the end.
public final class RunDirectory {
  public let path: String
  private let metricsHandle: FileHandle

  /// A new run directory, or (`resumingWith` the checkpoint's rows) the directory of a resumed
  /// run: config.json is kept and metrics.csv rewritten with the rows up to the checkpoint (an
  /// interrupted run may have written more).
  public init(path: String, configuration: TrainingConfiguration, resumingWith rows: [MetricsRow]? = nil) throws {
    self.path = path
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw FileError(
        .unwritable, path: path, problem: "cannot create the output directory (\(describeIOError(error))); pass a writable --out DIR")
    }
    if rows == nil { try Self.writeJSON(configuration, to: "\(path)/config.json") }
    let metricsPath = "\(path)/metrics.csv"
    let text = ([MetricsRow.csvHeader] + (rows ?? []).map(\.csvLine)).joined(separator: "\n") + "\n"
    guard FileManager.default.createFile(atPath: metricsPath, contents: Data(text.utf8)),
      let handle = FileHandle(forWritingAtPath: metricsPath)
    else { throw FileError(.unwritable, path: metricsPath, problem: "cannot create the metrics file; pass a writable --out DIR") }
    handle.seekToEndOfFile()
    metricsHandle = handle
  }

  deinit { try? metricsHandle.close() }

  public var modelPath: String { "\(path)/model.safetensors" }

  /// What a run writes into its directory (a checkpoint being written included), and what its
  /// report adds.
  public static let files = [
    "config.json", "metrics.csv", "summary.json", "model.safetensors", Checkpoint.fileName, Checkpoint.fileName + ".tmp",
    "report.html", "gradients.json",
  ]

  /// The run files in `path`, in `files`' order (none for a missing directory).
  public static func existingFiles(in path: String) -> [String] {
    files.filter { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }
  }

  /// Removes a run's files from `path` (`train --overwrite`), leaving anything else.
  public static func clear(_ path: String) throws {
    for file in existingFiles(in: path) {
      let full = (path as NSString).appendingPathComponent(file)
      do { try FileManager.default.removeItem(atPath: full) } catch {
        throw FileError(.unwritable, path: full, problem: "cannot remove it for --overwrite (\(describeIOError(error)))")
      }
    }
  }

  /// A new directory under `parent` named `stem`, or `stem-2`, `stem-3`, ... when taken
  /// (created here, so that two runs started in the same second get two directories).
  public static func makeUnique(parent: String, stem: String) throws -> String {
    do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
      throw FileError(.unwritable, path: parent, problem: "cannot create the runs directory (\(describeIOError(error))); pass --out DIR")
    }
    for n in 1...10_000 {
      let path = (parent as NSString).appendingPathComponent(n == 1 ? stem : "\(stem)-\(n)")
      if mkdir(path, 0o777) == 0 { return path }
      guard errno == EEXIST else {
        throw FileError(
          .unwritable, path: path, problem: "cannot create the output directory (\(String(cString: strerror(errno)))); pass --out DIR")
      }
    }
    throw FileError(.unwritable, path: parent, problem: "10,000 runs named \(stem) already; pass --out DIR")
  }

  public func append(_ row: MetricsRow) throws {
    try metricsHandle.write(contentsOf: Data((row.csvLine + "\n").utf8))
    try metricsHandle.synchronize()
  }

  public func writeSummary(_ summary: RunSummary) throws {
    try Self.writeJSON(summary, to: "\(path)/summary.json")
  }

  public static func writeJSON<V: Encodable>(_ value: V, to file: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    do {
      try encoder.encode(value).write(to: URL(fileURLWithPath: file), options: .atomic)
    } catch {
      throw FileError(.unwritable, path: file, problem: "cannot write (\(describeIOError(error)))")
    }
  }
}

/// `summary.json`.
public struct RunSummary: Codable, Sendable {
  /// "finished" or "diverged".
  public var status: String
  public var divergedAtStep: Int?
  public var testAccuracy: Double?
  public var testLoss: Double?
  public var valAccuracy: Double?
  public var valCost: Double?
  public var trainCost: Double?
  public var trainAccuracy: Double?
  public var epochs: Double
  public var steps: Int
  public var ranks: Int
  public var trainSeconds: Double
  public var samplesPerSecond: Double
  /// Rank 0's time in collectives during the update steps (multi-rank runs).
  public var communicationSeconds: Double?
  /// Every rank's time in collectives and in update steps (multi-rank runs), in rank order.
  public var communicationSecondsPerRank: [Double]?
  public var trainSecondsPerRank: [Double]?
  /// Every rank's compute time in the update steps (`train - communication`), its host, and
  /// the slow ranks found at the evaluation points (multi-rank runs).
  public var computeSecondsPerRank: [Double]? {
    guard let c = communicationSecondsPerRank, let t = trainSecondsPerRank, c.count == t.count else { return nil }
    return zip(t, c).map { $0 - $1 }
  }
  public var hosts: [String]?
  public var slowRanks: [SlowRank]?
  /// What computed the products (`OpenBLAS 0.3.21 (Zen kernel)`), and on which CPU: every
  /// speed figure names both.
  public var gemm: String?
  public var cpu: String?

  enum CodingKeys: String, CodingKey {
    case status
    case divergedAtStep = "diverged_at_step"
    case testAccuracy = "test_accuracy"
    case testLoss = "test_loss"
    case valAccuracy = "val_accuracy"
    case valCost = "val_cost"
    case trainCost = "train_cost"
    case trainAccuracy = "train_accuracy"
    case epochs, steps, ranks
    case trainSeconds = "train_seconds"
    case samplesPerSecond = "samples_per_second"
    case communicationSeconds = "communication_seconds"
    case communicationSecondsPerRank = "communication_seconds_per_rank"
    case trainSecondsPerRank = "train_seconds_per_rank"
    case hosts
    case slowRanks = "slow_ranks"
    case gemm, cpu
  }
  /// Written, not read back (it follows from the two lists above).
  enum DerivedKeys: String, CodingKey {
    case computeSecondsPerRank = "compute_seconds_per_rank"
  }

  public init(
    status: String, divergedAtStep: Int?, test: SplitMetrics?, last: MetricsRow?, epochs: Double, steps: Int, ranks: Int,
    trainSeconds: Double,
    samplesPerSecond: Double, communicationSeconds: Double?, perRank: (communication: [Double], train: [Double])? = nil,
    gemm: GEMMKernel? = nil
  ) {
    self.gemm = gemm?.description
    cpu = CPUInfo.current.summary
    communicationSecondsPerRank = perRank?.communication
    trainSecondsPerRank = perRank?.train
    self.status = status
    self.divergedAtStep = divergedAtStep
    testAccuracy = test?.accuracy
    testLoss = test?.loss
    valAccuracy = last?.validation?.accuracy
    valCost = last?.validation?.cost
    trainCost = last?.train.cost
    trainAccuracy = last?.train.accuracy
    self.epochs = epochs
    self.steps = steps
    self.ranks = ranks
    self.trainSeconds = trainSeconds
    self.samplesPerSecond = samplesPerSecond
    self.communicationSeconds = communicationSeconds
  }

  // Absent and non-finite values are explicit nulls, so every key is always present and the
  // file is valid JSON even after a divergence.
  public func encode(to encoder: any Encoder) throws {
    func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(status, forKey: .status)
    try c.encode(divergedAtStep, forKey: .divergedAtStep)
    try c.encode(finite(testAccuracy), forKey: .testAccuracy)
    try c.encode(finite(testLoss), forKey: .testLoss)
    try c.encode(finite(valAccuracy), forKey: .valAccuracy)
    try c.encode(finite(valCost), forKey: .valCost)
    try c.encode(finite(trainCost), forKey: .trainCost)
    try c.encode(finite(trainAccuracy), forKey: .trainAccuracy)
    try c.encode(epochs, forKey: .epochs)
    try c.encode(steps, forKey: .steps)
    try c.encode(ranks, forKey: .ranks)
    try c.encode(finite(trainSeconds), forKey: .trainSeconds)
    try c.encode(finite(samplesPerSecond), forKey: .samplesPerSecond)
    try c.encode(finite(communicationSeconds), forKey: .communicationSeconds)
    try c.encode(communicationSecondsPerRank, forKey: .communicationSecondsPerRank)
    try c.encode(trainSecondsPerRank, forKey: .trainSecondsPerRank)
    var derived = encoder.container(keyedBy: DerivedKeys.self)
    try derived.encode(computeSecondsPerRank, forKey: .computeSecondsPerRank)
    try c.encode(hosts, forKey: .hosts)
    try c.encode(slowRanks, forKey: .slowRanks)
    try c.encode(gemm, forKey: .gemm)
    try c.encode(cpu, forKey: .cpu)
  }
}
