import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork

/// Replica checks: every rank holds the same model.
extension Trainer {
  /// Compares every replica's parameters (and, with synchronized BatchNorm, its running
  /// statistics; per-rank ones differ until merged) with rank 0's, bit for bit: a 64-bit FNV-1a
  /// checksum broadcast from rank 0, then a count of the ranks that differ.
  public func checkReplicas() throws {
    guard communicator.size > 1 else { return }
    let mine = configuration.bnSync == .global ? Self.checksum(model.parameters, model.state) : Self.checksum(model.parameters)
    // Four 16-bit chunks: exact in any Real.
    var chunks = (0..<4).map { Double((mine >> (16 * UInt64($0))) & 0xFFFF) }
    try communicator.broadcast(&chunks, root: 0)
    let reference = chunks.enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (16 * UInt64($1.offset))) }
    var differs = [Double](repeating: 0, count: communicator.size)
    differs[communicator.rank] = mine == reference ? 0 : 1
    try communicator.allReduceSum(&differs)
    let bad = differs.indices.filter { differs[$0] != 0 }
    if !bad.isEmpty { throw TrainingError.replicasDiffer(step: step, ranks: bad) }
  }

  /// Flips one parameter's last bit (for tests of the replica check).
  public func corruptParameterForTesting() {
    model.parameters[0] = model.parameters[0].nextUp
  }

  /// FNV-1a over the bytes of the arrays.
  static func checksum(_ arrays: [T]...) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for a in arrays {
      a.withUnsafeBytes { raw in
        for byte in raw {
          h ^= UInt64(byte)
          h &*= 0x100_0000_01B3
        }
      }
    }
    return h
  }
}
