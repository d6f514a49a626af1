import Datasets
import Distributed
import Foundation
import LinearAlgebra
import NeuralNetwork

/// Checkpoint state and BatchNorm running averages across ranks.
extension Trainer {
  /// What a checkpoint holds of a run in progress, the same on every rank.
  public struct State: Sendable {
    public var step: Int
    public var parameters: [T]
    /// The whole momentum buffer (gathered from the ranks' segments in a sharded update).
    public var velocity: [T]
    /// Every rank's BatchNorm running averages, in rank order (identical with global statistics).
    public var statePerRank: [[T]]
    public var localSamplesPerRank: [Int]
    public var metrics: [MetricsRow]
    public init(step: Int, parameters: [T], velocity: [T], statePerRank: [[T]], localSamplesPerRank: [Int], metrics: [MetricsRow]) {
      self.step = step
      self.parameters = parameters
      self.velocity = velocity
      self.statePerRank = statePerRank
      self.localSamplesPerRank = localSamplesPerRank
      self.metrics = metrics
    }
  }

  /// The run's state for a checkpoint. Collective: every rank calls it at the same step (the
  /// momentum segments are all-gathered, each rank's averages broadcast, bit for bit).
  public func checkpointState() throws -> State {
    let ranks = communicator.size
    var velocity = optimizer.velocity
    if ranks > 1 && configuration.update == .sharded {
      try velocity.withUnsafeMutableBufferPointer { try communicator.allGather($0) }
    }
    var states: [[T]] = []
    var samples: [Int] = []
    for r in 0..<ranks {
      var s = r == communicator.rank ? model.state : [T].zeros(model.state.count)
      if ranks > 1 { try communicator.broadcast(&s, root: r) }
      states.append(s)
      let c = try ranks > 1 ? communicator.broadcast(Double(localSamples), root: r) : Double(localSamples)
      samples.append(Int(c))
    }
    // Rank 0's metrics (the other ranks keep none); the file is rank 0's to write.
    return State(
      step: step, parameters: model.parameters, velocity: velocity, statePerRank: states, localSamplesPerRank: samples, metrics: metrics)
  }

  /// Continues from `state` (before `run`). With the same rank count every rank gets back its
  /// own averages and sample count, so the run goes on bit for bit; with another rank count the
  /// averages are pooled as `mergeRunningStatistics` does (the same model up to summation order).
  public func restore(_ state: State) {
    precondition(
      state.parameters.count == model.parameters.count && state.velocity.count == optimizer.velocity.count, "checkpoint of another network")
    step = state.step
    model.parameters = state.parameters
    optimizer.velocity = state.velocity
    metrics = state.metrics
    let ranks = communicator.size
    if state.statePerRank.count == ranks {
      model.state = state.statePerRank[communicator.rank]
      localSamples = state.localSamplesPerRank[communicator.rank]
      restoredPerRankState = true
    } else {
      // The saved ranks' averages pooled by their sample counts (equally if none is recorded).
      let total = state.localSamplesPerRank.reduce(0, +)
      var sums: [Double]?
      for (s, c) in zip(state.statePerRank, state.localSamplesPerRank) {
        let moments = Self.poolingMoments(count: total > 0 ? Double(c) : 1, state: s, layout: model.stateLayout)
        sums = sums.map { zip($0, moments).map { $0 + $1 } } ?? moments
      }
      if let sums { Self.applyPool(sums, to: &model.state, layout: model.stateLayout) }
      localSamples = total / max(ranks, 1)
    }
  }

  /// With per-rank BatchNorm statistics (`--bn-sync local`), replaces every rank's running
  /// averages by their count-weighted pool (the law of total variance):
  ///     mean = sum_r c_r m_r / C,   var = sum_r c_r (v_r + (m_r - mean)^2) / C
  /// with `c_r` the samples rank r trained on. With synchronized statistics the replicas'
  /// averages are already identical, and nothing is done.
  public func mergeRunningStatistics() throws {
    guard communicator.size > 1, configuration.bnSync == .local, model.architecture.batchNorm else { return }
    var pooled = Self.poolingMoments(count: Double(localSamples), state: model.state, layout: model.stateLayout)
    try communicator.allReduceSum(&pooled)
    Self.applyPool(pooled, to: &model.state, layout: model.stateLayout)
  }

  /// One replica's share of the pooled BatchNorm averages, in Double: `[c, c m_f, c (v_f + m_f^2),
  /// ...]` over the features `f` of every layer, for `c` samples. Summed over replicas (in rank
  /// order, or by an allreduce), `applyPool` turns the sums into the pooled averages.
  static func poolingMoments(count c: Double, state: [T], layout: ParameterLayout) -> [Double] {
    var moments = [c]
    for slot in layout.slots where slot.kind == .runningMean {
      let variance = layout.slot(named: "layer\(slot.layer).running_var")!
      for (i, j) in zip(slot.range, variance.range) {
        let m = Double(state[i])
        let v = Double(state[j])
        moments.append(c * m)
        moments.append(c * (v + m * m))
      }
    }
    return moments
  }

  /// The pooled averages from summed `poolingMoments` (the law of total variance):
  ///     mean = sum_r c_r m_r / C,   var = sum_r c_r (v_r + m_r^2) / C - mean^2
  static func applyPool(_ sums: [Double], to state: inout [T], layout: ParameterLayout) {
    let total = sums[0]
    var k = 1
    for slot in layout.slots where slot.kind == .runningMean {
      let variance = layout.slot(named: "layer\(slot.layer).running_var")!
      for (i, j) in zip(slot.range, variance.range) {
        let mean = sums[k] / total
        state[i] = T(mean)
        state[j] = T(max(0, sums[k + 1] / total - mean * mean))
        k += 2
      }
    }
  }
}
