import ArgumentParser
import Distributed
import DistributedMPI
import Foundation
import LinearAlgebra

/// How this process was started, decided from the launcher's environment BEFORE any MPI call
/// (a plain process never initializes MPI: MPI_Init would fork a helper daemon and leave PMIx
/// variables behind).
struct Launch {
  let communicator: any MessagePassing
  /// Processes of this job on this node (for BLAS threads per rank).
  let localSize: Int
  let finalize: () -> Void

  static func start(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Launch {
    guard MPILaunch.isLaunchedByMPI(environment: environment) else {
      return Launch(communicator: SingleProcessCommunicator(), localSize: 1, finalize: {})
    }
    #if MPI
      let mpi = try MPICommunicator.initialize()
      return Launch(communicator: mpi, localSize: mpi.localSize, finalize: { mpi.finalize() })
    #else
      let size = MPILaunch.worldSize(environment: environment) ?? 1
      if size > 1 {
        throw CommandError(
          "this dptrain was built without Open MPI (swift build --disable-default-traits), so it cannot "
            + "train as \(size) ranks; rebuild with the default MPI trait, or run it as one process")
      }
      printError("note: single-process build (no Open MPI): running as one process")
      return Launch(communicator: SingleProcessCommunicator(), localSize: 1, finalize: {})
    #endif
  }

  /// Runs a command's `body` and finalizes MPI. An error that every rank raised at the same
  /// point (`together` gives its exit status: divergence, a stop signal) ends each rank cleanly
  /// with that status; any other error aborts a multi-rank job (`abortIfDistributed`), since the
  /// other ranks may be waiting in a collective.
  func run(command: String, together: (any Error) -> Int32? = { _ in nil }, _ body: () throws -> Void) throws {
    do {
      try body()
    } catch {
      if let status = together(error) {
        finalize()
        throw ExitCode(status)
      }
      abortIfDistributed(error, command: command)
      throw error
    }
    finalize()
  }

  /// In a multi-rank job, ends every rank at once (MPI_Abort) with a message naming this rank,
  /// so that nothing waits forever in a collective; a single process returns, and the caller
  /// rethrows `error` for the usual reporting.
  func abortIfDistributed(_ error: any Error, command: String) {
    guard communicator.size > 1 else { return }
    // The status one process would exit with: 64 for a usage error, 1 otherwise.
    communicator.abort(
      code: isUsageError(error) ? 64 : 1, message: "\(command): rank \(communicator.rank) of \(communicator.size): error: \(error)")
  }

  /// Rank 0 of a job launched by mpirun, or a plain process: the one that prints argument errors.
  static func isPrintingRank(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    (MPILaunch.worldRank(environment: environment) ?? 0) == 0
  }

  /// BLAS threads per rank: the cores of this node shared by its ranks, at least 1.
  static func defaultBLASThreads(localSize: Int) -> Int {
    max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, localSize))
  }
}

struct CommandError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
