import ArgumentParser
import Files
import Foundation
import Search

struct SweepStatus: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep-status",
    abstract: "Show a sweep's progress: trials by status and round, running trials and their ranks, the best so far.")

  @Argument(help: ArgumentHelp("The sweep directory.", valueName: "SWEEPDIR"))
  var directory: String

  @Option(help: ArgumentHelp("Also write every trial (configuration, seed, status, metrics, ranks, command) as CSV.", valueName: "FILE"))
  var csv: String?

  func run() throws {
    let summary = try SweepSummary(store: try SweepStore(directory: directory, create: false))
    let h = summary.header
    let spec = h.spec
    let counts = summary.counts
    let date = DateFormatter()
    date.dateFormat = "yyyy-MM-dd HH:mm:ss"
    print("sweep \(directory): \(h.status); spec \(h.specFile); \(h.ranks) rank(s), \(h.ranksPerTrial) per trial; session(s) \(h.sessions)")
    let quiet = Date().timeIntervalSince1970 - h.updated
    let stale =
      h.status == "running" && quiet > 60
      ? String(format: " (%.0f s ago: if no trial can take that long, the sweep was killed; --resume continues it)", quiet) : ""
    print(
      "started \(date.string(from: Date(timeIntervalSince1970: h.created))), last update \(date.string(from: Date(timeIntervalSince1970: h.updated)))\(stale)"
    )
    print("strategy \(spec.strategy.summary), metric \(spec.metric.rawValue), \(spec.repeats) repeat(s), seed \(spec.seed)")
    print("trials: " + TrialStatus.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", "))
    for round in summary.rounds {
      let mine = summary.trials.filter { $0.round == round.index }
      let done = mine.filter(\.status.isDone).count
      print("  round \(round.index + 1) (\(round.label)): \(done)/\(mine.count) done")
    }
    let now = Date().timeIntervalSince1970
    for t in summary.trials where t.status == .running {
      let elapsed = t.startedAt.map { String(format: ", %.0f s so far", now - $0) } ?? ""
      print(
        "  running #\(t.id) on rank(s) \(t.ranks ?? "?")\(elapsed): \(SweepSummary.describe(t.parameters, order: spec.parameters.map(\.name)))"
      )
    }
    if let best = summary.ranked.first, let mean = best.mean {
      print(
        String(
          format: "best so far: %@ %.4f (%@)", spec.metric.rawValue, mean,
          SweepSummary.describe(best.parameters, order: spec.parameters.map(\.name))))
    }
    if let final = summary.final { print(summary.finalDescription(final)) }
    if let busy = summary.busy() { print(busy.description) }
    if !summary.rankTimes.isEmpty { print(RankTime.describe(summary.rankTimes)) }
    if let csv {
      try writeCSV(summary.trialsCSV(), to: csv)
      print("trials written to \(csv)")
    }
  }

}

struct Top: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The best configurations of a sweep: the metric's mean and std over repeats, and the parameters.")

  @Argument(help: ArgumentHelp("The sweep directory.", valueName: "SWEEPDIR"))
  var directory: String

  @Option(name: .customShort("k"), help: "Configurations to show.")
  var k = 3

  @Option(help: ArgumentHelp("Also write these configurations as CSV.", valueName: "FILE"))
  var csv: String?

  func validate() throws {
    guard k >= 1 else { throw ValidationError("-k must be >= 1, got \(k)") }
  }

  func run() throws {
    let summary = try SweepSummary(store: try SweepStore(directory: directory, create: false))
    print(summary.table(top: k))
    if let final = summary.final { print(summary.finalDescription(final)) }
    if let csv {
      try writeCSV(summary.configurationsCSV(top: k), to: csv)
      print("written to \(csv)")
    }
  }
}

func writeCSV(_ text: String, to path: String) throws {
  guard !path.isEmpty else { throw CommandError("--csv: expected a file path, got an empty one") }
  do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
    throw FileError(.unwritable, path: path, problem: "cannot write the CSV (\(describeIOError(error, path: path)))")
  }
}
