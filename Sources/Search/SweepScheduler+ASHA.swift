import Files

/// Asynchronous successive halving (`strategy: { kind: asha }`): no round boundaries. Rung 0 is
/// planned at the start (the configurations synchronous successive halving would draw) and its
/// trials are queued; every result is followed at once by every promotion `AsyncHalving` allows,
/// stored in the same step (the rung's plan grows by the configuration, with `promotedFrom`, and
/// its trials are inserted), so a sweep killed at any moment keeps every decision it made.
/// Groups take the deepest rung's queued trials first, then rung 0's in order.
///
/// A top-rung trial is held while other trials run once rung 0 has nothing left to hand out:
/// it is the longest of the sweep, and when the groups are free the dispatcher regroups and
/// trains it on every rank instead of leaving the others idle for its whole length.
/// The phase ends when nothing is queued, nothing runs and no promotion is possible; then
/// the best configuration (highest rung first) is retrained as the final run, if the spec asks.
extension SweepScheduler {
  var topRung: Int { planner.rungBudgets.count - 1 }

  /// Starts ASHA on a new sweep (rung 0 with its trials and the empty rungs above, stored) or
  /// ends its phase once nothing is left (the rungs become `outcomes`). False for the other
  /// strategies. Called with nothing queued or running.
  func advanceAsynchronous() throws -> Bool {
    guard spec.strategy.halving?.asynchronous == true, finalState == .notStarted || finalState == .notWanted else { return false }
    if rungs.isEmpty {
      guard let rung0 = planner.nextRound(after: []) else { return false }
      let planned = try rung0.configurations.flatMap { try trials(of: $0, round: 0) }
      try store.insert(round: rung0, trials: planned)
      rungs = [rung0]
      try addEmptyRungs()
      onRound?(rung0)
      queueRungTrials(planned)
      return true
    }
    try promoteAll()
    if !queue.isEmpty { return true }
    if outcomes.isEmpty { outcomes = rungOutcomes() }
    return false
  }

  /// Rebuilds ASHA's state from the database: rung 0 must be what the spec plans, the rungs
  /// above what the stored promotions made of it; unfinished trials are queued again, and any
  /// promotion the stored results allow (a sweep killed between a result and its promotions)
  /// is made.
  func resumeRungs(_ stored: [Round], trials storedTrials: [TrialRecord]) throws {
    guard !stored.isEmpty else { return }
    func mismatch(_ what: String) -> FileError {
      FileError(
        .malformed, path: store.path,
        problem:
          "\(what) in the database differs from what the spec plans now; the spec or dptrain changed since the sweep started; start a new sweep in another --out"
      )
    }
    let budgets = planner.rungBudgets
    guard stored.count <= budgets.count else { throw mismatch("the number of rungs (\(stored.count))") }
    guard stored[0] == planner.nextRound(after: []) else { throw mismatch("rung 0") }
    for r in 1..<stored.count {
      guard stored[r].index == r, stored[r].label == planner.rungLabel(r) else { throw mismatch("rung \(r)") }
      for c in stored[r].configurations {
        let source = stored[r - 1].configurations.first { $0.key == c.promotedFrom }
        guard let source, source.parameters == c.parameters, c.budget == budgets[r] else {
          throw mismatch("rung \(r)'s configuration \(c.key) (not a promotion from rung \(r - 1))")
        }
      }
    }
    rungs = stored
    // A sweep killed while it stored the empty rungs above rung 0 gets the rest now.
    try addEmptyRungs()
    let asynchronousTrials = storedTrials.filter { $0.round != TrialRecord.finalRound }
    for t in asynchronousTrials { rungTrials[t.id] = t }
    if !storedTrials.contains(where: { $0.round == TrialRecord.finalRound }) {
      enqueue(asynchronousTrials)
      try promoteAll()
    } else {
      outcomes = rungOutcomes()
    }
  }

  /// Stores the rungs above the last one in `rungs`, empty, up to the top rung.
  private func addEmptyRungs() throws {
    for r in rungs.count..<planner.rungBudgets.count {
      let rung = Round(index: r, label: planner.rungLabel(r), configurations: [])
      try store.insert(round: rung, trials: [])
      rungs.append(rung)
    }
  }

  /// Records a result and makes the promotions it allows.
  func finishedAsynchronous(_ id: Int, report: TrialReport) throws {
    guard var t = rungTrials[id] else { return }
    t.status = report.status
    t.last = report.metrics.last
    rungTrials[id] = t
    try promoteAll()
  }

  /// The queued trial group `group` gets: the deepest rung's first, then by id; a top-rung
  /// trial waits while others run and rung 0 has nothing queued (see the type's doc).
  func nextAsynchronous(group: Int) -> Int? {
    let running = pending.count > queue.count
    let rung0Queued = queue.contains { $0.round == 0 }
    var best: Int?
    for (i, t) in queue.enumerated() {
      if t.round == TrialRecord.finalRound {
        if group == 0 { return i }
        continue
      }
      if t.round == topRung && topRung > 0 && running && !rung0Queued { continue }
      if let b = best, (queue[b].round, -queue[b].id) >= (t.round, -t.id) { continue }
      best = i
    }
    return best
  }

  /// Every promotion the results so far allow, each stored with its trials as it is made.
  func promoteAll() throws {
    guard let reduction = spec.strategy.halving?.reduction, !rungs.isEmpty else { return }
    while let promotion = AsyncHalving.nextPromotion(completedRungs(), reduction: reduction) {
      let source = rungs[promotion.rung].configurations.first { $0.key == promotion.key }!
      let r = promotion.rung + 1
      let configuration = PlannedConfiguration(
        key: rungs[r].configurations.count, parameters: source.parameters, budget: planner.rungBudgets[r], promotedFrom: source.key)
      var rung = rungs[r]
      rung.configurations.append(configuration)
      let planned = try trials(of: configuration, round: r)
      try store.insert(round: rung, trials: planned)
      rungs[r] = rung
      queueRungTrials(planned)
      onPromote?(rung, configuration)
    }
  }

  /// New trials of a rung: kept with their outcomes and queued.
  private func queueRungTrials(_ planned: [TrialRecord]) {
    for t in planned { rungTrials[t.id] = t }
    enqueue(planned)
  }

  /// Each rung's outcome (every configuration's mean score, nil when none finished).
  private func rungOutcomes() -> [RoundOutcome] {
    rungs.map { outcome(of: $0, trials: trials(ofRung: $0.index)) }
  }

  /// Each rung with the scores of its completed configurations (every repeat done) only.
  func completedRungs() -> [RoundOutcome] {
    rungs.map { rung in
      let trials = trials(ofRung: rung.index)
      var outcome = outcome(of: rung, trials: trials)
      let byKey = Dictionary(grouping: trials, by: \.key)
      for c in rung.configurations where !(byKey[c.key].map { $0.allSatisfy(\.status.isDone) } ?? false) {
        outcome.scores.removeValue(forKey: c.key)
      }
      return outcome
    }
  }

  func trials(ofRung r: Int) -> [TrialRecord] { rungTrials.values.filter { $0.round == r } }
}
