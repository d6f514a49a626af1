import Distributed
import Foundation

/// What the sweep's coordinator hands out and collects: the scheduler of a sweep, or a test's
/// list of jobs.
public protocol WorkSource: AnyObject {
  associatedtype Work: Codable
  associatedtype Report: Codable
  /// The next item for worker group `group` (0 is the coordinator's own group), or nil when
  /// none can start now: everything is handed out, or the next round waits for results.
  func next(group: Int) throws -> Work?
  /// `work` starts on `group`, whose world ranks are `ranks`.
  func started(_ work: Work, group: Int, ranks: [Int]) throws
  /// `group` finished `work`.
  func finished(_ work: Work, report: Report, group: Int) throws
  /// True once nothing will ever be handed out again.
  var isExhausted: Bool { get }
  /// Asked when every group is idle, before `next`: how many items the source hands out before
  /// it needs their results (a round's trials, counted from the round's start, so that a
  /// resumed round regroups as it did), so that the groups can be resized to cover them; nil:
  /// keep the groups.
  func upcomingItems() throws -> Int?
}

extension WorkSource {
  public func upcomingItems() throws -> Int? { nil }
}

/// Dynamic dispatch of trials to worker groups: the world's ranks form groups of `groupSize`
/// consecutive ranks (group g = ranks g*G ..< (g+1)*G); rank 0 coordinates AND trains with
/// group 0. Groups follow the work: when every group is idle, every rank regroups into the
/// group size that suits the source's next items (a round; `groupSize(ranks:minimum:items:)`),
/// so that no rank waits while others train; the final retraining, one item, runs on every
/// rank. Whenever a group finishes, its leader (the group's first rank) sends the report to
/// rank 0, which gives the group the next item at once, so fast trials never wait for slow
/// ones. Rank 0 answers between its own training steps (`poll`), so coordination costs no core.
///
/// Waiting ranks poll with `receiveIfReady` and sleep between polls (50 µs growing to 2 ms):
/// a blocking MPI receive would spin on a core that another rank's trial needs.
///
/// Messages: rank 0 -> every member of a group: `assign` (the item, or stop), and to every rank
/// `regroup` (the new group size; every rank then calls `onRegroup`, a collective); a group's
/// leader -> rank 0: `result` (the report); every rank -> rank 0 after the stop: its `RankTime`.
/// Each is JSON. With `heartbeats`, rank 0 and the workers also hear from each other while
/// they work and wait, and a silent one ends the sweep (`Heartbeats`).
public struct TrialDispatcher {
  public let world: any MessagePassing
  /// The ranks of a group now: `minimumGroupSize` or a multiple of it that divides the world.
  public private(set) var groupSize: Int
  /// `--ranks-per-trial`: no group is smaller.
  public let minimumGroupSize: Int
  /// Called on every rank when the groups change size (after rank 0 decided, before the next
  /// item): a collective over the world, e.g. splitting the world into the new groups.
  public var onRegroup: (_ groupSize: Int) throws -> Void = { _ in }
  /// Polled while waiting: true (a signal) makes `coordinate` and `work` stop waiting and throw
  /// `DispatchStopped` (a running trial stops itself through its trainer).
  public var shouldStop: () -> Bool = { false }
  /// Liveness between rank 0 and the workers; nil: none (a stopped rank then leaves the others
  /// waiting).
  public var heartbeats: Heartbeats?
  /// This rank's seconds in its trials' collectives so far (the trials' own measure), read when
  /// the dispatch ends: the part of `RankTime.trials` spent waiting for the group's other ranks.
  public var collectiveSeconds: () -> Double = { 0 }
  static let assignTag = 7101
  static let resultTag = 7102
  static let timeTag = 7103
  /// This rank's time in the dispatch so far (`coordinate` or `work`).
  public private(set) var time = RankTime()
  /// Rank 0, after `coordinate` returned: every rank's time, rank 0 first (each worker sends its
  /// own when told to stop).
  public private(set) var ranksTime: [RankTime] = []

  /// `groupSize` must divide the world's size (every group computes with the same rank count,
  /// so every trial's result is that of `groupSize` ranks, whichever group ran it).
  public init(world: any MessagePassing, groupSize: Int) throws {
    guard groupSize >= 1, world.size % groupSize == 0 else {
      throw DispatchError(
        "--ranks-per-trial \(groupSize) must divide the number of ranks (\(world.size)): every trial then runs on the same number of ranks")
    }
    self.world = world
    self.groupSize = groupSize
    minimumGroupSize = groupSize
  }

  /// The group size for `items` items on `ranks` ranks: a multiple of `minimum` that divides
  /// `ranks`, with no more groups than items (no group idle for the whole round), and among
  /// those the one that finishes the round first, where `waves = ceil(items / groups)` waves each
  /// take `speedup(size)`-th of a one-rank trial. Ties go to the smaller groups. On 2 ranks:
  /// 1 item -> 2, 3 items -> 2 (3 x 0.6 < 2 waves), 9 items -> 1 (5 waves < 9 x 0.6).
  public static func groupSize(ranks: Int, minimum: Int, items: Int) -> Int {
    let sizes = stride(from: minimum, through: ranks, by: minimum).filter { ranks % $0 == 0 }
    let covering = sizes.filter { ranks / $0 <= max(1, items) }
    var best = covering.first ?? ranks
    var bestTime = Double.infinity
    for size in covering {
      let groups = ranks / size
      let time = Double((max(1, items) + groups - 1) / groups) / speedup(size)
      if time < bestTime * (1 - 1e-9) {
        best = size
        bestTime = time
      }
    }
    return best
  }

  /// How much faster a trial trains on `ranks` ranks than on one: `ranks^0.74`, so 2 ranks take
  /// 0.6 of the time, the 2-rank/1-rank epoch ratio of 784-256-128-10 (`scripts/bench`
  /// section 6, 0.55-0.65 on the 2-core guests). Small networks scale worse; this is a planning
  /// assumption for the group size only, never a result.
  public static func speedup(_ ranks: Int) -> Double { pow(Double(ranks), 0.74) }

  public var groupCount: Int { world.size / groupSize }
  /// This rank's group.
  public var group: Int { world.rank / groupSize }
  public func ranks(ofGroup g: Int) -> [Int] { Array((g * groupSize)..<((g + 1) * groupSize)) }
  /// Whether this rank reports its group's results.
  public var isGroupLeader: Bool { world.rank % groupSize == 0 }

  /// What the watchdog names while a rank waits in the dispatch (watched by the heartbeats
  /// instead).
  static let resting: StaticString = "the sweep's dispatch (watched by the heartbeats)"

  /// Sends a dispatch message under the watchdog, in `phase`: a message larger than MPI's eager
  /// limit (a trial's configuration, a report with its metrics) waits for the receiver, and a
  /// stopped receiver would hold this rank for ever.
  func deliver(_ message: [UInt8], to rank: Int, tag: Int, _ phase: StaticString) throws {
    Watchdog.enter(phase, step: 0, of: 0)
    try world.send(message, to: rank, tag: tag)
    Watchdog.rest(Self.resting)
  }

  enum Assignment<Work: Codable>: Codable {
    case work(Work)
    case regroup(Int)
    case stop
  }

  /// Rank 0: hands out `source`'s items until it is exhausted and every group is idle, running
  /// group 0's items itself through `run(work, poll)` (call `poll` often, e.g. every training
  /// step: it collects reports and hands out items), then tells every rank to stop.
  public mutating func coordinate<S: WorkSource>(_ source: S, run: (S.Work, _ poll: () throws -> Void) throws -> S.Report) throws {
    precondition(world.rank == 0, "coordinate runs on rank 0")
    var running: [Int: S.Work] = [:]
    let encoder = JSONEncoder()
    let decoder = JSONDecoder()
    var dispatcher = self
    defer { self = dispatcher }
    var clock = RankClock()
    let heartbeats = self.heartbeats
    Watchdog.rest(Self.resting)

    // With every group idle: the groups that cover the source's next items.
    func regroupIfIdle() throws {
      guard running.isEmpty, world.size > dispatcher.minimumGroupSize, let items = try source.upcomingItems() else { return }
      let size = Self.groupSize(ranks: world.size, minimum: dispatcher.minimumGroupSize, items: items)
      guard size != dispatcher.groupSize else { return }
      let message = [UInt8](try encoder.encode(Assignment<S.Work>.regroup(size)))
      for r in 1..<world.size { try deliver(message, to: r, tag: Self.assignTag, "telling every rank the new group size") }
      dispatcher.groupSize = size
      Watchdog.enter("regrouping (every rank splits the world into the new groups)", step: 0, of: 0)
      try dispatcher.onRegroup(size)
      Watchdog.rest(Self.resting)
    }

    func assign(_ g: Int) throws -> Bool {
      guard let work = try source.next(group: g) else { return false }
      let message = [UInt8](try encoder.encode(Assignment.work(work)))
      for r in dispatcher.ranks(ofGroup: g) where r != 0 {
        try deliver(message, to: r, tag: Self.assignTag, "sending a trial to its group")
      }
      running[g] = work
      let ranks = dispatcher.ranks(ofGroup: g)
      for r in ranks { heartbeats?.doing[r] = "works on \(work)" }
      try source.started(work, group: g, ranks: ranks)
      return true
    }
    // Collects reports and keeps groups 1... busy; true if anything happened.
    func pump() throws -> Bool {
      var progress = false
      while let (sourceRank, bytes) = try world.receiveIfReady(tag: Self.resultTag) {
        let g = sourceRank / dispatcher.groupSize
        guard let work = running.removeValue(forKey: g) else {
          throw DispatchError("rank \(sourceRank) reported a result but group \(g) had no work")
        }
        for r in dispatcher.ranks(ofGroup: g) {
          heartbeats?.heard(r)
          heartbeats?.doing[r] = "waits for work"
        }
        let report: S.Report
        do { report = try decoder.decode(S.Report.self, from: Data(bytes)) } catch {
          throw DispatchError("the report of rank \(sourceRank) could not be read: \(error)")
        }
        try source.finished(work, report: report, group: g)
        progress = true
      }
      heartbeats?.beat()
      try heartbeats?.check()
      try regroupIfIdle()
      for g in 1..<max(1, dispatcher.groupCount) where running[g] == nil {
        guard try assign(g) else { break }
        progress = true
      }
      return progress
    }

    var idle = Backoff()
    while true {
      if try pump() { idle.reset() }
      if running[0] == nil, try assign(0) {
        clock.lap(into: &dispatcher.time.coordination)
        var polling = 0.0
        let report = try run(running[0]!) {
          let start = RankClock.now
          _ = try pump()
          polling += RankClock.now - start
        }
        clock.lap(into: &dispatcher.time.trials)
        dispatcher.time.trials -= polling
        dispatcher.time.coordination += polling
        Watchdog.rest(Self.resting)
        let work = running.removeValue(forKey: 0)!
        try source.finished(work, report: report, group: 0)
        idle.reset()
        continue
      }
      if running.isEmpty {
        if source.isExhausted { break }
        // Nothing runs and nothing can start: a bug in the source, not a wait.
        throw DispatchError("no trial is running and none can start, but the sweep is not over")
      }
      if shouldStop() { throw DispatchStopped() }
      clock.lap(into: &dispatcher.time.coordination)
      idle.wait()
      clock.lap(into: &dispatcher.time.idle)
    }
    let stop = [UInt8](try encoder.encode(Assignment<S.Work>.stop))
    for r in 1..<world.size {
      try deliver(stop, to: r, tag: Self.assignTag, "telling every rank to stop")
      heartbeats?.doing[r] = "has been told to stop and to send its times"
    }
    dispatcher.time.collectives = collectiveSeconds()
    clock.lap(into: &dispatcher.time.coordination)
    // Every worker answers the stop with its time.
    var times = [RankTime?](repeating: nil, count: world.size)
    times[0] = dispatcher.time
    var waiting = Backoff()
    while times.contains(where: { $0 == nil }) {
      guard let (source, bytes) = try world.receiveIfReady(tag: Self.timeTag) else {
        if shouldStop() { throw DispatchStopped() }
        try heartbeats?.check()
        waiting.wait()
        continue
      }
      times[source] = try decoder.decode(RankTime.self, from: Data(bytes))
      heartbeats?.forget(source)
    }
    dispatcher.ranksTime = times.map { $0! }
  }

  /// Ranks other than 0: runs every item rank 0 assigns to this rank's group until told to stop.
  /// `run(work, poll)` returns the report (sent to rank 0 by the group's leader); call `poll`
  /// often, e.g. every training step: it keeps this rank and rank 0 hearing from each other.
  public mutating func work<Work: Codable, Report: Codable>(
    _: Work.Type, run: (Work, _ poll: () throws -> Void) throws -> Report
  ) throws {
    precondition(world.rank != 0, "rank 0 coordinates")
    let encoder = JSONEncoder()
    let decoder = JSONDecoder()
    var idle = Backoff()
    var clock = RankClock()
    let heartbeats = self.heartbeats
    Watchdog.rest(Self.resting)
    func poll() throws {
      heartbeats?.beat()
      try heartbeats?.check()
    }
    while true {
      guard let (_, bytes) = try world.receiveIfReady(tag: Self.assignTag) else {
        if shouldStop() { throw DispatchStopped() }
        try poll()
        clock.lap(into: &time.coordination)
        idle.wait()
        clock.lap(into: &time.idle)
        continue
      }
      heartbeats?.heard(0)
      idle.reset()
      switch try decoder.decode(Assignment<Work>.self, from: Data(bytes)) {
      case .stop:
        time.collectives = collectiveSeconds()
        clock.lap(into: &time.coordination)
        try deliver([UInt8](try encoder.encode(time)), to: 0, tag: Self.timeTag, "sending this rank's times to rank 0")
        return
      case .regroup(let size):
        groupSize = size
        Watchdog.enter("regrouping (every rank splits the world into the new groups)", step: 0, of: 0)
        try onRegroup(size)
        Watchdog.rest(Self.resting)
      case .work(let work):
        clock.lap(into: &time.coordination)
        let report = try run(work, poll)
        Watchdog.rest(Self.resting)
        clock.lap(into: &time.trials)
        if isGroupLeader {
          try deliver([UInt8](try encoder.encode(report)), to: 0, tag: Self.resultTag, "sending the trial's report to rank 0")
        }
      }
    }
  }
}

/// A rank's seconds in a sweep's dispatch: inside trials (their training, evaluation and
/// checkpoints; rank 0's answers to other groups between its steps count as coordination),
/// coordination (planning, the database, messages, regrouping) and idle (waiting for work or
/// for the other ranks' reports). `collectives` is the part of `trials` spent in the trials'
/// collectives, waiting for the group's other ranks included.
public struct RankTime: Codable, Sendable, Equatable {
  public var trials = 0.0
  public var coordination = 0.0
  public var idle = 0.0
  public var collectives = 0.0
  public init(trials: Double = 0, coordination: Double = 0, idle: Double = 0, collectives: Double = 0) {
    self.trials = trials
    self.coordination = coordination
    self.idle = idle
    self.collectives = collectives
  }
  public var total: Double { trials + coordination + idle }
}

/// Splits a rank's time into activities: each `lap` adds the time since the last one.
struct RankClock {
  static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
  var last = RankClock.now
  mutating func lap(into account: inout Double) {
    let now = Self.now
    account += now - last
    last = now
  }
}

/// Sleeps between polls: 50 µs at first, doubling to 2 ms while nothing happens.
struct Backoff {
  var microseconds: UInt32 = 50
  mutating func wait() {
    usleep(microseconds)
    microseconds = min(2000, microseconds * 2)
  }
  mutating func reset() { microseconds = 50 }
}

/// Waiting ended because `shouldStop` said so.
public struct DispatchStopped: Error {
  public init() {}
}

public struct DispatchError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
