import ArgumentParser
import Distributed
import Foundation
import Training

/// `--stall-timeout`, for `train` and `sweep`: the stall watchdog of a multi-rank job.
struct StallOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "With several ranks: end the job when a rank makes no progress for SECONDS (a rank stopped or cut off by the network, a hung read): each live rank that waits prints itself, its host, the phase and the step, and the job exits \(Watchdog.stallStatus); the last checkpoint stays. Default: automatic, \(Int(Watchdog.floorSeconds)) s or \(Int(Watchdog.scale))x the longest step, evaluation or checkpoint so far if longer; 0 disables.",
      valueName: "SECONDS"))
  var stallTimeout: Double?

  func validate() throws {
    if let t = stallTimeout, !(t.isFinite && t >= 0) {
      throw ValidationError("--stall-timeout: expected a number of seconds >= 0 (0 disables the watchdog), got \(t)")
    }
  }

  /// Arms the watchdog on every rank of a multi-rank job (a single process has no one to wait
  /// for). `hint` tells what to do after a stall.
  func arm(_ communicator: any Communicator, hint: String) {
    guard communicator.size > 1 else { return }
    Watchdog.configure(timeout: stallTimeout, who: Self.describe(rank: communicator.rank, of: communicator.size), hint: hint)
  }

  /// "rank 1 of 2 (host b)".
  static func describe(rank: Int, of size: Int) -> String { "rank \(rank) of \(size) (host \(SlowRank.hostName))" }
}
