import ArgumentParser
import CSupport
import DistributedMPI
import Foundation
import Training

/// How rank 0 talks to the terminal (README "Output"):
/// - `live`: header lines, one line per evaluation point, and between them a single progress
///   line rewritten in place (`\r`, at most 5 times a second): epoch, step/total, eta, batch
///   loss, samples/s, time left.
/// - `plain`: header lines, one line per evaluation point, and a `progress` line at most every
///   10 s: for log files, CI and mpirun (whose ranks get a pseudo-terminal even when mpirun
///   writes to a file, so a rank cannot tell).
/// - `json`: one JSON object per line (`--log-format json`): `start`, `progress` (at most every
///   2 s), `evaluation`, and `finished` or `diverged`.
/// `--quiet` keeps only the final line (text) or the `finished` object (json).
struct Console {
  enum Mode: String { case live, plain, json }
  let mode: Mode
  let quiet: Bool

  /// `--progress auto` is live on a terminal outside mpirun, plain otherwise.
  init(progress: ProgressMode, logFormat: LogFormat, quiet: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) {
    self.quiet = quiet
    if logFormat == .json {
      mode = .json
    } else if progress == .live || (progress == .auto && isatty(STDOUT_FILENO) != 0 && !MPILaunch.isLaunchedByMPI(environment: environment))
    {
      mode = .live
    } else {
      mode = .plain
    }
  }

  /// A header or information line (text modes, not quiet).
  func info(_ line: String) {
    guard mode != .json, !quiet else { return }
    print(line)
  }

  /// One JSON object on one line (json mode); `important` ones are printed even when quiet.
  func event(_ name: String, _ fields: [String: Any], important: Bool = false) {
    guard mode == .json, !quiet || important else { return }
    var object = fields
    object["event"] = name
    let clean = object.mapValues(Self.jsonSafe)
    if let data = try? JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys, .withoutEscapingSlashes]) {
      print(String(decoding: data, as: UTF8.self))
      dptrain_flush_stdout()
    }
  }

  /// Non-finite numbers become null (JSON has no NaN); nested dictionaries are cleaned too.
  static func jsonSafe(_ value: Any) -> Any {
    if let d = value as? Double { return d.isFinite ? d : NSNull() }
    if let m = value as? [String: Any] { return m.mapValues(jsonSafe) }
    return value
  }

  /// `1m05s`, `42s`.
  static func timeLeft(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600
      ? "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
  }
}

/// `--progress`: live (one line rewritten in place), plain (a line at most every 10 s), or auto.
enum ProgressMode: String, CaseIterable, ExpressibleByArgument { case auto, live, plain }

/// `--log-format`: text, or json (one JSON object per line).
enum LogFormat: String, CaseIterable, ExpressibleByArgument { case text, json }

/// Rank 0's progress: metrics rows into the run directory, and the console in its mode.
final class ConsoleProgress: TrainingObserver {
  let console: Console
  let directory: RunDirectory
  var lastProgress = Date().timeIntervalSinceReferenceDate
  let started = Date().timeIntervalSinceReferenceDate
  /// The first failure to append a metrics row (reported after training).
  var writeError: (any Error)?

  init(console: Console, directory: RunDirectory) {
    self.console = console
    self.directory = directory
    // The live line appears at the first step; plain and json lines after their interval.
    if console.mode == .live { lastProgress = -.infinity }
  }

  func trainingDidStep(step: Int, totalSteps: Int, epoch: Double, eta: Double, batchLoss: Double, samplesPerSecond: Double) {
    guard !console.quiet else { return }
    let now = Date().timeIntervalSinceReferenceDate
    let interval = console.mode == .live ? 0.2 : console.mode == .json ? 2 : 10
    guard now - lastProgress >= interval, step < totalSteps else { return }
    lastProgress = now
    let left = (now - started) / Double(step) * Double(totalSteps - step)
    switch console.mode {
    case .live:
      print(
        String(
          format: "\r  epoch %.2f  step %d/%d  eta %.2e  loss %.4f  %.0f samples/s  %@ left\u{1B}[K", epoch, step, totalSteps, eta,
          batchLoss, samplesPerSecond, Console.timeLeft(left)), terminator: "")
      dptrain_flush_stdout()
    case .plain:
      print(
        String(
          format: "progress: step %d/%d (epoch %.2f), eta %.2e, loss %.4f, %.0f samples/s, %@ left", step, totalSteps, epoch, eta,
          batchLoss, samplesPerSecond, Console.timeLeft(left)))
    case .json:
      console.event(
        "progress",
        [
          "step": step, "total_steps": totalSteps, "epoch": epoch, "eta": eta, "batch_loss": batchLoss,
          "samples_per_second": samplesPerSecond, "seconds_left": left,
        ])
    }
  }

  /// A warning on standard error (even when quiet), and an event in json mode.
  func trainingDidFindSlowRanks(_ ranks: [SlowRank]) {
    for slow in ranks {
      printError("warning: \(slow.description)")
      console.event(
        "slow_rank",
        ["rank": slow.rank, "host": slow.host, "ratio": slow.ratio, "first_step": slow.firstStep, "last_step": slow.lastStep],
        important: true)
    }
  }

  func trainingDidEvaluate(_ row: MetricsRow) {
    do { try directory.append(row) } catch { if writeError == nil { writeError = error } }
    guard !console.quiet else { return }
    switch console.mode {
    case .json:
      var fields: [String: Any] = [
        "epoch": row.epoch, "step": row.step, "eta": row.eta,
        "train": ["cost": row.train.cost, "loss": row.train.loss, "accuracy": row.train.accuracy],
      ]
      if let v = row.validation { fields["validation"] = ["cost": v.cost, "loss": v.loss, "accuracy": v.accuracy] }
      console.event("evaluation", fields)
    case .live, .plain:
      var line = String(
        format: "epoch %6.2f  step %6d  eta %.2e  train cost %.4f loss %.4f acc %.4f", row.epoch, row.step, row.eta, row.train.cost,
        row.train.loss, row.train.accuracy)
      if let v = row.validation { line += String(format: "  |  val cost %.4f loss %.4f acc %.4f", v.cost, v.loss, v.accuracy) }
      print((console.mode == .live ? "\r\u{1B}[K" : "") + line)
    }
  }
}
