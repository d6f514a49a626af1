import LinearAlgebra

/// The collectives dptrain needs, after Horovod's controller and MPI: every rank calls the same
/// collectives in the same order with buffers of the same length.
public protocol Communicator: AnyObject {
  /// This process's rank in `0..<size`.
  var rank: Int { get }
  /// Number of ranks.
  var size: Int { get }
  /// Replaces `buffer` by the element-wise sum over all ranks.
  func allReduceSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws
  /// Replaces `buffer` on every rank by `root`'s.
  func broadcast<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws
  /// Returns when every rank has called it.
  func barrier() throws
}

/// The communicator of a plain process: size 1, every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func allReduceSum<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>) throws {}
  public func broadcast<T: Real>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
    precondition(root == 0, "broadcast root \(root) outside a single process")
  }
  public func barrier() throws {}
}
