import Distributed
import LinearAlgebra

extension Trainer {
  /// The gradient exchange of one step. `reduced` holds this rank's gradient sums of the
  /// `parameters` values, then the batch's loss sum, correct count and stop vote. Returns the
  /// addends of the update: `reduced` itself once reduced, or every rank's buffer where it lies
  /// (the update then adds this rank's segment of them as it goes, with no separate reduction
  /// pass). Sharded: each rank needs only its segment of the sums (reduce-scatter, or every
  /// rank's buffer in shared memory); replicated: the whole buffer (allreduce).
  func exchange(
    _ reduced: UnsafeMutableBufferPointer<T>, parameters p: Int, sharded: Bool, shared: (any SharedMemoryReduction)?
  ) throws -> [UnsafePointer<T>] {
    guard communicator.size > 1 else { return [UnsafePointer(reduced.baseAddress!)] }
    if sharded, let peers = try shared?.reductionPeers(reduced) { return peers }
    if sharded {
      // This rank's segment of the summed gradients; the loss, count and votes in full.
      try communicator.reduceScatterSum(UnsafeMutableBufferPointer(rebasing: reduced[0..<p]))
      try communicator.allReduceSum(UnsafeMutableBufferPointer(rebasing: reduced[p..<(p + 3)]))
    } else {
      try communicator.allReduceSum(reduced)
    }
    return [UnsafePointer(reduced.baseAddress!)]
  }
}
