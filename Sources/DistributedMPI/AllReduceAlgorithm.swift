/// How `MPICommunicator.allReduceSum` reduces a buffer.
public enum AllReduceAlgorithm: String, Sendable, CaseIterable, CustomStringConvertible {
  /// `sharedMemory` for buffers of at least `sharedMemoryThresholdBytes` when some node holds more
  /// than one rank, `mpi` otherwise. Every rank must make the same choice, so set the algorithm
  /// and the threshold identically on every rank (the defaults are).
  case automatic
  /// `MPI_Allreduce` (in place, chunked below `Int32.max` elements per call).
  case mpi
  /// Node-local reduction through an MPI-3 shared-memory window, in rank order; the node
  /// leaders then combine nodes with `MPI_Allreduce`.
  case sharedMemory

  public var description: String { rawValue }
}
