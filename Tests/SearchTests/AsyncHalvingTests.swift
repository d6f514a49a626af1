import Foundation
import GRDB
import Testing

@testable import Search

@Suite("Asynchronous successive halving (ASHA)")
struct AsyncHalvingTests {
  static let strategy = Strategy.asha(trials: 9, minBudget: 1, maxBudget: 9, reduction: 3, unit: .epochs)
  static let sweepSpec = SweepSpec(
    base: ["hidden": .string("50")],
    parameters: [
      SearchParameter(name: "momentum", domain: .uniform(low: 0.5, high: 0.95)),
      SearchParameter(name: "lambda", domain: .logUniform(low: 1e-6, high: 1e-2)),
    ],
    strategy: strategy, seed: 3)

  /// Rungs of `count` configurations at rung 0 (keys 0..<count) and empty rungs above.
  static func rungs(_ count: Int, rungs: Int = 3) -> [RoundOutcome] {
    (0..<rungs).map { r in
      let configurations =
        r == 0 ? (0..<count).map { PlannedConfiguration(key: $0, parameters: ["eta": .number(Double($0 + 1) * 1e-3)], budget: 1) } : []
      return RoundOutcome(round: Round(index: r, label: "rung \(r)", configurations: configurations), scores: [:])
    }
  }

  /// Replays results arriving in `order` (rung, key, score), making every promotion the rule
  /// allows after each: returns the promotions as (after how many results, rung, key).
  static func replay(_ order: [(rung: Int, key: Int, score: Double?)], rungs start: [RoundOutcome]) -> [(Int, Int, Int)] {
    var rungs = start
    var made: [(Int, Int, Int)] = []
    for (n, result) in order.enumerated() {
      rungs[result.rung].scores.updateValue(result.score, forKey: result.key)
      while let p = AsyncHalving.nextPromotion(rungs, reduction: 3) {
        let source = rungs[p.rung].round.configurations.first { $0.key == p.key }!
        rungs[p.rung + 1].round.configurations.append(
          PlannedConfiguration(
            key: rungs[p.rung + 1].round.configurations.count, parameters: source.parameters, budget: 3, promotedFrom: p.key))
        made.append((n + 1, p.rung, p.key))
      }
    }
    return made
  }

  @Test("best first: a promotion after the 3rd, 6th and 9th result, each the best not yet promoted")
  func bestFirst() {
    let order = (0..<9).map { (rung: 0, key: $0, score: Optional(1.0 - Double($0) * 0.1)) }
    let made = Self.replay(order, rungs: Self.rungs(9))
    #expect(made.map(\.0) == [3, 6, 9])
    #expect(made.map(\.2) == [0, 1, 2])
  }

  @Test("worst first: every result from the 3rd on is the best so far and is promoted at once (7 of 9)")
  func worstFirst() {
    let order = (0..<9).map { (rung: 0, key: $0, score: Optional(Double($0) * 0.1)) }
    let made = Self.replay(order, rungs: Self.rungs(9))
    #expect(made.map(\.0) == [3, 4, 5, 6, 7, 8, 9])
    #expect(made.map(\.2) == [2, 3, 4, 5, 6, 7, 8])
  }

  @Test("the same results in another order make other promotions: ASHA depends on completion order")
  func orderMatters() {
    let scores: [Double] = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4]
    let forward = Self.replay(scores.enumerated().map { (0, $0.offset, Optional($0.element)) }, rungs: Self.rungs(9))
    let backward = Self.replay(scores.enumerated().reversed().map { (0, $0.offset, Optional($0.element)) }, rungs: Self.rungs(9))
    // Forward: 0.9 is best of the first 3; then 0.8 (6 results); then 0.7 (9 results).
    #expect(forward.map(\.2) == [1, 5, 3])
    // Backward (keys 8, 7, 6, ...): 0.6 (key 7) leads the first 3 and is promoted; after 6 results
    // the top 2 are 0.8 and 0.7, both promoted; after 9, 0.9: four promotions, not three.
    #expect(backward.map(\.2) == [7, 5, 3, 1])
    // With every result in, the synchronous rule keeps the best third: 1, 5, 3.
    #expect(Set(forward.map(\.2)) == [1, 3, 5])
    #expect(Set(backward.map(\.2)) != Set(forward.map(\.2)))
  }

  @Test("a diverged configuration (nil score) is never promoted; the deepest rung promotes first")
  func divergedAndDeepestFirst() {
    var rungs = Self.rungs(6)
    for key in 0..<3 { rungs[0].scores.updateValue(nil, forKey: key) }
    #expect(AsyncHalving.nextPromotion(rungs, reduction: 3) == nil)
    rungs[0].scores.updateValue(0.5, forKey: 3)
    rungs[0].scores.updateValue(0.4, forKey: 4)
    rungs[0].scores.updateValue(0.3, forKey: 5)
    #expect(AsyncHalving.nextPromotion(rungs, reduction: 3) == AsyncHalving.Promotion(rung: 0, key: 3))
    // Rung 1 holds 3 completed configurations: its best goes to rung 2 before rung 0's next.
    rungs[1].round.configurations = (0..<3).map {
      PlannedConfiguration(key: $0, parameters: rungs[0].round.configurations[$0 + 3].parameters, budget: 3, promotedFrom: $0 + 3)
    }
    for key in 0..<3 { rungs[1].scores.updateValue(0.6 + Double(key) * 0.01, forKey: key) }
    #expect(AsyncHalving.nextPromotion(rungs, reduction: 3) == AsyncHalving.Promotion(rung: 1, key: 2))
  }

  /// Runs `scheduler` on one group until it has handed out `limit` trials (or to the end),
  /// reporting a val_accuracy that peaks at lambda = 1e-4 and grows with the budget.
  static func run(_ scheduler: SweepScheduler, limit: Int = .max) throws -> Int {
    var count = 0
    while count < limit, let work = try scheduler.next(group: 0) {
      try scheduler.started(work, group: 0, ranks: [0])
      let lambda = work.configuration.lambda
      let accuracy = 0.9 - 0.1 * abs(log10(lambda) + 4) + 0.001 * Double(work.configuration.epochs ?? 0)
      try scheduler.finished(work, report: SweepStoreTests.report(accuracy), group: 0)
      count += 1
    }
    return count
  }

  @Test("the scheduler stores each promotion with its trials; a resumed sweep keeps them and ends where one session does")
  func schedulerStoresAndResumes() throws {
    let whole = SweepStoreTests.temporaryDirectory()
    let split = SweepStoreTests.temporaryDirectory()
    defer {
      try? FileManager.default.removeItem(atPath: whole)
      try? FileManager.default.removeItem(atPath: split)
    }
    let one = try SweepScheduler(spec: Self.sweepSpec, store: SweepStore(directory: whole, create: true))
    _ = try Self.run(one)
    #expect(one.isExhausted)
    let rounds = try one.store.rounds()
    #expect(rounds.map(\.label) == ["rung 0 (1 epoch)", "rung 1 (3 epochs)", "rung 2 (9 epochs)"])
    #expect(rounds[1].configurations.count >= 3 && rounds[2].configurations.count >= 1)
    for r in 1..<3 {
      for c in rounds[r].configurations {
        let source = rounds[r - 1].configurations.first { $0.key == c.promotedFrom }
        #expect(source?.parameters == c.parameters)
      }
    }
    let trials = try one.store.trials()
    #expect(trials.count == rounds.map(\.configurations.count).reduce(0, +))
    #expect(trials.allSatisfy { $0.status == .finished })

    // The same sweep stopped after 7 trials (one of them running) and resumed.
    let store = try SweepStore(directory: split, create: true)
    let first = try SweepScheduler(spec: Self.sweepSpec, store: store)
    _ = try Self.run(first, limit: 6)
    let running = try #require(try first.next(group: 0))
    try first.started(running, group: 0, ranks: [0])
    let promotionsBefore = try store.rounds()
    #expect(try store.resume(ranks: 1, ranksPerTrial: 1) == 1)
    let second = try SweepScheduler(spec: Self.sweepSpec, store: SweepStore(directory: split, create: false))
    _ = try Self.run(second)
    let after = try second.store.rounds()
    for (before, now) in zip(promotionsBefore, after) {
      #expect(Array(now.configurations.prefix(before.configurations.count)) == before.configurations)
    }
    // One group takes trials in the same order either way, so the decisions are the same.
    #expect(after == rounds)
    #expect(try second.store.trials().map(\.status) == trials.map(\.status))
  }

  @Test("a top-rung trial waits while other trials run once rung 0 is handed out, then runs alone (before: deepest rung first)")
  func topRungWaitsForTheGroups() throws {
    let directory = SweepStoreTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let scheduler = try SweepScheduler(spec: Self.sweepSpec, store: SweepStore(directory: directory, create: true))
    var held = false
    // Two groups: group 1 keeps one trial running whenever it can.
    var busy: TrialWork?
    var handed = 0
    while handed < 200 {
      if busy == nil, let work = try scheduler.next(group: 1) {
        try scheduler.started(work, group: 1, ranks: [1])
        busy = work
      }
      guard let work = try scheduler.next(group: 0) else {
        guard let running = busy else { break }
        // Nothing for group 0 while group 1 runs: only a held top-rung trial may cause that.
        let queued = try scheduler.store.trials().filter { $0.status == .queued }
        if queued.contains(where: { $0.round == 2 }) { held = true }
        #expect(queued.allSatisfy { $0.round == 2 })
        try scheduler.finished(running, report: SweepStoreTests.report(0.5), group: 1)
        busy = nil
        continue
      }
      try scheduler.started(work, group: 0, ranks: [0])
      if work.configuration.epochs == 9 {
        let rung0Queued = try scheduler.store.trials().contains { $0.round == 0 && $0.status == .queued }
        #expect(busy == nil || rung0Queued)
      }
      try scheduler.finished(work, report: SweepStoreTests.report(0.6 + 1e-3 * Double(handed)), group: 0)
      handed += 1
    }
    #expect(held)
    #expect(scheduler.isExhausted)
  }
}
