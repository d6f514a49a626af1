import Files
import Training

/// A trial as rank 0 hands it to a worker group.
public struct TrialWork: Codable, Sendable {
  public var id: Int
  /// What the trial trains (its `dptrain train` command is `configuration.arguments`).
  public var configuration: TrainingConfiguration
  /// The final retraining: evaluates the test set and saves the model (on rank 0's group).
  public var isFinal: Bool
}

extension TrialWork: CustomStringConvertible {
  /// "trial #4", or "the final retraining (trial #12)".
  public var description: String { isFinal ? "the final retraining (trial #\(id))" : "trial #\(id)" }
}

/// Rank 0's side of a sweep: plans rounds with the `SweepPlanner`, stores them in the
/// `SweepStore`, and hands out their trials; a round starts when the one before it is done.
/// Rebuilt from the database on resume: stored rounds are re-planned from the stored results
/// and must come out identical (the planner is a pure function of the spec and the results),
/// finished trials are kept, and the rest run again. Asynchronous successive halving has no
/// round boundaries: see `SweepScheduler+ASHA.swift`.
public final class SweepScheduler: WorkSource {
  public let spec: SweepSpec
  public let store: SweepStore
  public let planner: SweepPlanner
  /// Completed rounds, in order.
  public internal(set) var outcomes: [RoundOutcome] = []
  /// The round being trained (nil before the first and after the last).
  public private(set) var current: Round?
  var queue: [TrialRecord] = []
  /// Queued and running trials.
  var pending: [Int: TrialRecord] = [:]
  /// The configurations of the trials planned in this session (a resumed sweep's stored trials
  /// are read back from their stored commands).
  var configurations: [Int: TrainingConfiguration] = [:]
  var nextID: Int
  var finalState: FinalState
  /// ASHA: the rungs (rung r at position r; rung 0 planned, the ones above grown by promotions)
  /// and their trials with their outcomes so far, by id; empty for the other strategies.
  var rungs: [Round] = []
  var rungTrials: [Int: TrialRecord] = [:]
  public private(set) var isExhausted = false
  /// Progress callbacks (the console).
  public var onStart: ((TrialRecord, [Int]) -> Void)?
  public var onFinish: ((TrialRecord, TrialReport) -> Void)?
  public var onRound: ((Round) -> Void)?
  /// ASHA: a configuration was promoted into `rung` (the rung as it now is).
  public var onPromote: ((_ rung: Round, _ configuration: PlannedConfiguration) -> Void)?

  enum FinalState { case notWanted, notStarted, queued, done }

  /// BLAS threads of the ranks, written into every new trial's options (see `TrialConfiguration`).
  public let blasThreads: Int?
  /// The GEMM backend the sweep names (`--gemm`), written into every new trial's options unless
  /// the base sets one; nil for auto.
  public let gemm: String?

  public init(spec: SweepSpec, store: SweepStore, blasThreads: Int? = nil, gemm: String? = nil) throws {
    self.spec = spec
    self.store = store
    self.blasThreads = blasThreads
    self.gemm = gemm
    planner = SweepPlanner(spec: spec)
    let trials = try store.trials()
    nextID = (trials.map(\.id).max() ?? 0) + 1
    finalState = spec.final == nil ? .notWanted : .notStarted
    let stored = try store.rounds()
    if spec.strategy.halving?.asynchronous == true {
      try resumeRungs(stored, trials: trials)
    } else {
      try replay(stored, trials: trials)
    }
    if let final = trials.first(where: { $0.round == TrialRecord.finalRound }) {
      if final.status.isDone {
        finalState = .done
      } else {
        finalState = .queued
        enqueue([final])
      }
    }
  }

  /// Re-plans the stored rounds of a synchronous strategy from their stored results.
  private func replay(_ stored: [Round], trials: [TrialRecord]) throws {
    for round in stored {
      let replanned = planner.nextRound(after: outcomes)
      guard replanned == round else {
        throw FileError(
          .malformed, path: store.path,
          problem:
            "round \(round.index) (\(round.label)) in the database differs from what the spec plans now; the spec or dptrain changed since the sweep started; start a new sweep in another --out"
        )
      }
      let roundTrials = trials.filter { $0.round == round.index }
      if roundTrials.allSatisfy(\.status.isDone) {
        outcomes.append(outcome(of: round, trials: roundTrials))
      } else {
        current = round
        enqueue(roundTrials)
      }
    }
  }

  func enqueue(_ trials: [TrialRecord]) {
    for t in trials where !t.status.isDone {
      queue.append(t)
      pending[t.id] = t
    }
  }

  /// The outcome of a finished round: per configuration, the mean score of its finished repeats.
  func outcome(of round: Round, trials: [TrialRecord]) -> RoundOutcome {
    let byKey = Dictionary(grouping: trials, by: \.key)
    var scores: [Int: Double?] = [:]
    for c in round.configurations {
      let values = (byKey[c.key] ?? []).finishedValues(of: spec.metric)
      scores[c.key] = values.isEmpty ? nil : spec.metric.score(values.reduce(0, +) / Double(values.count))
    }
    return RoundOutcome(round: round, scores: scores)
  }

  /// The trials of a planned configuration: one per repeat, seeds `seed + r`.
  func trials(of c: PlannedConfiguration, round: Int, overrides: [String: ParameterValue] = [:]) throws -> [TrialRecord] {
    try (0..<spec.repeats).map { r in
      let seed = spec.seed &+ UInt64(r)
      let configuration = try TrialConfiguration.make(
        base: spec.base, overrides: overrides, parameters: c.parameters, searchOrder: spec.parameters.map(\.name),
        budget: c.budget, unit: spec.budgetUnit, seed: seed, blasThreads: blasThreads, gemm: gemm)
      defer { nextID += 1 }
      configurations[nextID] = configuration
      return TrialRecord(
        id: nextID, round: round, key: c.key, repeatIndex: r, seed: seed, parameters: c.parameters, budget: c.budget,
        arguments: configuration.arguments)
    }
  }

  /// Plans the next round (or the final run) once nothing is pending.
  private func advance() throws {
    guard pending.isEmpty, !isExhausted else { return }
    if try advanceAsynchronous() { return }
    if let round = current {
      outcomes.append(outcome(of: round, trials: try store.trials(round: round.index)))
      current = nil
    }
    if finalState == .notStarted || finalState == .notWanted, let round = planner.nextRound(after: outcomes) {
      let planned = try round.configurations.flatMap { try trials(of: $0, round: round.index) }
      try store.insert(round: round, trials: planned)
      current = round
      onRound?(round)
      enqueue(planned)
      return
    }
    if finalState == .notStarted, let best = SweepPlanner.rank(outcomes, strategy: spec.strategy).first,
      let configuration = outcomes.first(where: { $0.round.index == best.round })?.round.configurations.first(where: { $0.key == best.key })
    {
      var final = try trials(of: configuration, round: TrialRecord.finalRound, overrides: spec.final ?? [:])[0]
      final.key = 0
      // The final run's length is the final options', when they give one.
      if let overrides = spec.final, overrides.keys.contains(where: { ["epochs", "cycles", "max-steps"].contains($0) }) {
        let retrained = try TrialConfiguration.make(
          base: spec.base, overrides: overrides, parameters: configuration.parameters, searchOrder: spec.parameters.map(\.name),
          budget: nil, unit: spec.budgetUnit, seed: spec.seed, blasThreads: blasThreads, gemm: gemm)
        configurations[final.id] = retrained
        final.arguments = retrained.arguments
      }
      try store.insert(round: nil, trials: [final])
      finalState = .queued
      enqueue([final])
      return
    }
    isExhausted = true
  }

  /// The trials of the round about to be handed out, all of it (a resumed round's too, so that
  /// it runs on the groups it ran on); 1 for the final retraining, which then runs on every rank.
  public func upcomingItems() throws -> Int? {
    if queue.isEmpty { try advance() }
    guard let first = queue.first else { return nil }
    if first.round == TrialRecord.finalRound { return 1 }
    if !rungs.isEmpty { return queue.count }
    return current.map { $0.configurations.count * spec.repeats }
  }

  public func next(group: Int) throws -> TrialWork? {
    if queue.isEmpty { try advance() }
    let found = rungs.isEmpty ? queue.firstIndex { $0.round != TrialRecord.finalRound || group == 0 } : nextAsynchronous(group: group)
    guard let i = found else { return nil }
    let t = queue.remove(at: i)
    let configuration: TrainingConfiguration
    do {
      configuration = try configurations.removeValue(forKey: t.id) ?? TrainingConfiguration(arguments: t.arguments)
    } catch {
      throw FileError(
        .malformed, path: store.path,
        problem: "trial \(t.id)'s stored command cannot be read (\(error)); start a new sweep in another --out")
    }
    return TrialWork(id: t.id, configuration: configuration, isFinal: t.round == TrialRecord.finalRound)
  }

  public func started(_ work: TrialWork, group: Int, ranks: [Int]) throws {
    try store.markRunning(id: work.id, ranks: ranks)
    if let t = pending[work.id] { onStart?(t, ranks) }
  }

  public func finished(_ work: TrialWork, report: TrialReport, group: Int) throws {
    try store.record(id: work.id, report: report)
    if let t = pending.removeValue(forKey: work.id) {
      onFinish?(t, report)
      if t.round == TrialRecord.finalRound { finalState = .done }
    }
    try finishedAsynchronous(work.id, report: report)
  }
}

extension SweepSpec {
  /// What a successive-halving budget counts (epochs otherwise).
  public var budgetUnit: BudgetUnit {
    strategy.halving?.unit ?? .epochs
  }
}
