import ArgumentParser
import CSupport
import Distributed
import DistributedMPI
import Foundation
import LinearAlgebra

/// Exit codes beyond ArgumentParser's (0 success, 1 failure, 64 usage).
enum ExitCodes {
  /// The training loss became non-finite.
  static let diverged: Int32 = 3
  /// A gradient check's max relative error exceeded --tolerance.
  static let gradientCheckFailed: Int32 = 4
  /// Stopped by SIGTERM/SIGINT after writing a checkpoint: `train --resume DIR` continues.
  static let interrupted: Int32 = 5
  /// A rank made no progress for --stall-timeout (the stall watchdog ended the job).
  static let stalled: Int32 = Watchdog.stallStatus
}

@main
struct DPTrain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dptrain",
    abstract: "Data-parallel training of k-layer fully connected networks (DD2424) over MPI, with oneDNN and OpenBLAS products.",
    discussion: """
      Exit status: 0 success, 1 error, \(ExitCodes.diverged) training diverged (non-finite loss), \
      \(ExitCodes.gradientCheckFailed) gradient check above tolerance, \(ExitCodes.interrupted) stopped by SIGTERM/SIGINT with a \
      checkpoint written (train --resume DIR continues), \(ExitCodes.stalled) a rank stalled (--stall-timeout; the last checkpoint \
      stays), 64 invalid arguments.
      """,
    version: "dptrain 0.1.0 (\(MPIBuild.isAvailable ? "MPI build" : "single-process build: no Open MPI"))",
    subcommands: [
      Train.self, Sweep.self, SweepStatus.self, Top.self, Report.self, GradCheck.self, Evaluate.self, Benchmark.self, Env.self,
    ],
    defaultSubcommand: Train.self)

  static func main() {
    OpenBLASStartup.ensureBestCore()
    dptrain_line_buffer_stdout()
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      // Under mpirun every rank parses the same arguments: only rank 0 prints the error.
      if Launch.isPrintingRank() { exit(withError: error) }
      Foundation.exit(exitCode(for: error).rawValue)
    }
  }
}

/// Writes a line to standard error.
func printError(_ message: String) {
  FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Seconds as `1m23s` or `4.2s`.
func formatDuration(_ s: Double) -> String {
  s >= 60 ? "\(Int(s) / 60)m\(String(format: "%02d", Int(s) % 60))s" : String(format: "%.1fs", s)
}
