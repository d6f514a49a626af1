#if MPI
  import CMPI
  import Foundation

  /// Where a communicator's ranks live: this rank's node (an `MPI_Comm_split_type(
  /// MPI_COMM_TYPE_SHARED)` communicator, or a simulated node of `ranksPerSimulatedNode` ranks),
  /// the node leaders (local rank 0 of each node) and the counts. The same on every rank except
  /// the local ones.
  struct NodeTopology {
    /// The ranks of this node, in the parent communicator's rank order.
    let nodeComm: MPI_Comm
    /// Local rank 0 of each node; nil on the other ranks.
    let leadersComm: MPI_Comm?
    let localRank: Int
    let localSize: Int
    /// Nodes the communicator spans.
    let nodeCount: Int
    /// The most ranks any node holds.
    let maxLocalSize: Int

    /// Discovers the topology of `comm` (collective over `comm`). `ranksPerSimulatedNode`
    /// (tests only) splits each real node further into nodes of that many ranks, to exercise
    /// the multi-node paths on one host.
    init(comm: MPI_Comm, rank: Int, ranksPerSimulatedNode: Int?) throws {
      var shared: MPI_Comm?
      try check(MPI_Comm_split_type(comm, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &shared), "MPI_Comm_split_type")
      if let k = ranksPerSimulatedNode, k >= 1 {
        var sharedRank: Int32 = 0
        try check(MPI_Comm_rank(shared!, &sharedRank), "MPI_Comm_rank")
        var simulated: MPI_Comm?
        try check(MPI_Comm_split(shared!, sharedRank / Int32(k), sharedRank, &simulated), "MPI_Comm_split")
        try check(MPI_Comm_free(&shared), "MPI_Comm_free")
        shared = simulated
      }
      nodeComm = shared!
      (localRank, localSize) = try rankAndSize(of: nodeComm)

      var leaders: MPI_Comm?
      try check(MPI_Comm_split(comm, localRank == 0 ? 0 : cmpi_undefined(), Int32(rank), &leaders), "MPI_Comm_split")
      leadersComm = leaders == cmpi_comm_null() ? nil : leaders
      var nodes: Int64 = localRank == 0 ? 1 : 0
      try check(MPI_Allreduce(cmpi_in_place(), &nodes, 1, cmpi_int64(), cmpi_sum(), comm), "MPI_Allreduce")
      nodeCount = Int(nodes)
      var most = Int64(localSize)
      try check(MPI_Allreduce(cmpi_in_place(), &most, 1, cmpi_int64(), cmpi_max(), comm), "MPI_Allreduce")
      maxLocalSize = Int(most)
    }
  }
#endif
