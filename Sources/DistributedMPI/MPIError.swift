#if MPI
  import CMPI
  import Distributed
  import Foundation
  import LinearAlgebra

  /// A failed MPI call: every communicator call checks its return code (`MPI_ERRORS_RETURN` is set
  /// on every communicator and window) and throws this instead of letting MPI abort the job.
  public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The MPI error code (`MPI_SUCCESS` is 0).
    public let code: Int32
    /// The MPI function that failed, e.g. "MPI_Allreduce".
    public let function: String
    /// `MPI_Error_string(code)`, or a description of a usage error detected here.
    public let message: String
    /// The rank in `MPI_COMM_WORLD` of the process that saw the failure (-1 before MPI_Init).
    public let rank: Int

    public init(code: Int32, function: String, message: String, rank: Int) {
      self.code = code
      self.function = function
      self.message = message
      self.rank = rank
    }

    init(code: Int32, function: String) {
      self.init(code: code, function: function, message: MPIError.errorString(code), rank: MPIProcess.worldRank)
    }

    public var description: String {
      "\(function) failed on rank \(rank): \(message) (MPI error code \(code))"
    }

    static func errorString(_ code: Int32) -> String {
      var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
      var length: Int32 = 0
      guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error" }
      return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }

  @inline(__always)
  func check(_ rc: Int32, _ function: StaticString) throws {
    if rc != MPI_SUCCESS { throw MPIError(code: rc, function: "\(function)") }
  }

  /// This rank's rank in `comm` and `comm`'s size.
  func rankAndSize(of comm: MPI_Comm) throws -> (rank: Int, size: Int) {
    var r: Int32 = 0
    var s: Int32 = 0
    try check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
    try check(MPI_Comm_size(comm, &s), "MPI_Comm_size")
    return (Int(r), Int(s))
  }

  /// Process-wide MPI state: MPI_Init once, MPI_Finalize at most once.
  enum MPIProcess {
    static let lock = NSLock()
    nonisolated(unsafe) static var world: MPICommunicator?
    nonisolated(unsafe) static var finalized = false
    nonisolated(unsafe) static var worldRank = -1
    /// Shared-memory windows whose passive-target epochs are open: closed before MPI_Finalize.
    nonisolated(unsafe) static var windows: [WeakWindow] = []

    struct WeakWindow { weak var window: SharedWindow? }
  }
#endif
