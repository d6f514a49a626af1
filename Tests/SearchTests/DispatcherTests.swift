import Distributed
import Foundation
import Search
import Testing

/// Jobs in rounds: round r+1 is handed out only after every job of round r reported, as the
/// sweep's rounds are. Records who ran what.
final class RoundJobs: WorkSource, @unchecked Sendable {
  struct Job: Codable, Equatable {
    var id: Int
    var sleepMicroseconds: UInt32
    /// The rank that runs this job without a poll (silent, as if stopped).
    var silentRank: Int? = nil
  }
  struct Report: Codable, Equatable {
    var id: Int
    var doubled: Int
    var rank: Int
    /// The size of the group that ran the job.
    var ranks = 1
  }
  let rounds: [[Job]]
  var round = 0
  var queue: [Job]
  var outstanding = 0
  var reports: [Report] = []
  var startedGroups: [Int: Int] = [:]
  /// Jobs handed out while a job of an earlier round was still outstanding (must stay 0).
  var barrierViolations = 0
  var jobRound: [Int: Int] = [:]
  /// Tell the dispatcher each round's size, so that groups follow the work.
  var regroups = false
  var startedRanks: [Int: [Int]] = [:]
  /// Every rank's time, as rank 0's dispatcher collected it.
  var rankTimes: [RankTime] = []

  init(rounds: [[Job]]) {
    self.rounds = rounds
    queue = rounds[0]
    for (r, jobs) in rounds.enumerated() { for j in jobs { jobRound[j.id] = r } }
  }

  func next(group: Int) throws -> Job? {
    if queue.isEmpty, outstanding == 0, round + 1 < rounds.count {
      round += 1
      queue = rounds[round]
    }
    guard !queue.isEmpty else { return nil }
    let job = queue.removeFirst()
    outstanding += 1
    return job
  }
  func started(_ work: Job, group: Int, ranks: [Int]) throws {
    startedGroups[work.id] = group
    startedRanks[work.id] = ranks
  }
  func upcomingItems() throws -> Int? {
    guard regroups else { return nil }
    if queue.isEmpty, outstanding == 0, round + 1 < rounds.count {
      round += 1
      queue = rounds[round]
    }
    return queue.isEmpty ? nil : rounds[round].count
  }
  func finished(_ work: Job, report: Report, group: Int) throws {
    outstanding -= 1
    reports.append(report)
  }
  var isExhausted: Bool { queue.isEmpty && outstanding == 0 && round + 1 >= rounds.count }
}

@Suite("Trial dispatch over a communicator")
struct DispatcherTests {
  static func run(
    size: Int, groupSize: Int, rounds: [[RoundJobs.Job]], regroups: Bool = false,
    heartbeats: (@Sendable (any MessagePassing) -> Heartbeats)? = nil
  ) throws -> RoundJobs {
    let source = RoundJobs(rounds: rounds)
    source.regroups = regroups
    _ = try InProcessGroup.run(size: size) { world in
      var dispatcher = try TrialDispatcher(world: world, groupSize: groupSize)
      dispatcher.heartbeats = heartbeats?(world)
      var group = try world.split(color: dispatcher.group, key: world.rank)
      dispatcher.onRegroup = { size in group = try world.split(color: world.rank / size, key: world.rank) }
      func execute(_ job: RoundJobs.Job, poll: () throws -> Void = {}) throws -> RoundJobs.Report {
        // "Training steps" of at most 500 us, with a poll after each (as the trainer's observer).
        var left = job.sleepMicroseconds
        while left > 0 {
          // A job of `silentRank` runs without polling: the rank is stopped, for its peers.
          let slice = job.silentRank == world.rank ? left : min(left, 500)
          usleep(slice)
          left -= slice
          try poll()
        }
        // Every member of the group takes part, as in a data-parallel trial.
        let total = try group.broadcast(Double(job.id), root: 0)
        return RoundJobs.Report(id: Int(total), doubled: 2 * job.id, rank: world.rank, ranks: group.size)
      }
      if world.rank == 0 {
        try dispatcher.coordinate(source) { job, poll in try execute(job, poll: poll) }
        source.rankTimes = dispatcher.ranksTime
      } else {
        try dispatcher.work(RoundJobs.Job.self) { job, poll in try execute(job, poll: poll) }
      }
    }
    return source
  }

  @Test("every job runs exactly once, on every group, and rounds wait for each other", arguments: [(1, 1), (3, 1), (4, 2), (4, 1)])
  func everyJobOnce(size: Int, groupSize: Int) throws {
    var id = 0
    let rounds = [12, 5, 1, 7].map { n in
      (0..<n).map { i -> RoundJobs.Job in
        id += 1
        // Uneven durations, so that dynamic hand-out matters.
        return RoundJobs.Job(id: id, sleepMicroseconds: UInt32(200 + (i % 3) * 1500))
      }
    }
    let source = try Self.run(size: size, groupSize: groupSize, rounds: rounds)
    #expect(source.reports.map(\.id).sorted() == Array(1...id))
    #expect(source.reports.allSatisfy { $0.doubled == 2 * $0.id })
    // Leaders report: ranks that are multiples of the group size.
    #expect(source.reports.allSatisfy { $0.rank % groupSize == 0 })
    #expect(Set(source.startedGroups.values) == Set(0..<(size / groupSize)))
    // Reports of round r all arrive before any of round r+1.
    let order = source.reports.map { source.jobRound[$0.id]! }
    #expect(order == order.sorted())
  }

  /// Rank 1 takes the first job (groups 1... are served first), 200 ms; rank 0 the second, 20
  /// ms, and then waits for rank 1's report: idle.
  @Test("each rank's time in trials, coordination and idle reaches rank 0")
  func rankTimes() throws {
    let source = try Self.run(
      size: 2, groupSize: 1, rounds: [[RoundJobs.Job(id: 1, sleepMicroseconds: 200_000), RoundJobs.Job(id: 2, sleepMicroseconds: 20_000)]])
    #expect(source.startedGroups == [1: 1, 2: 0])
    let times = source.rankTimes
    try #require(times.count == 2)
    #expect(times[1].trials >= 0.2 && times[0].trials >= 0.02)
    #expect(times[0].idle > 0 && times[0].total >= 0.2)
    #expect(times.allSatisfy { $0.coordination >= 0 && $0.idle >= 0 })
  }

  /// Rounds of 4, 1, 2 and 3 jobs on 4 ranks (groups of at least 1): four jobs on four ranks;
  /// the lone job on all 4 ranks; the pair on two groups of 2; the three (fewer than 4 groups
  /// of 1) on one group of 4, whose 3 waves at 4^-0.74 end before 2 waves on groups of 2;
  /// every member of a group takes part (the broadcast in `execute`).
  @Test("groups follow the work: a round with fewer jobs than groups regroups into larger groups")
  func regrouping() throws {
    let sizes = [4, 1, 2, 3]
    var id = 0
    let rounds = sizes.map { n in
      (0..<n).map { _ -> RoundJobs.Job in
        id += 1
        return RoundJobs.Job(id: id, sleepMicroseconds: 300)
      }
    }
    let source = try Self.run(size: 4, groupSize: 1, rounds: rounds, regroups: true)
    #expect(source.reports.map(\.id).sorted() == Array(1...id))
    let expected = [1, 4, 2, 4]
    for (r, jobs) in rounds.enumerated() {
      for job in jobs {
        let report = source.reports.first { $0.id == job.id }!
        #expect(report.ranks == expected[r], "job \(job.id) of round \(r) ran on \(report.ranks) rank(s)")
        #expect(source.startedRanks[job.id]!.count == expected[r] && report.rank % expected[r] == 0)
      }
    }
    // Two ranks: successive halving's 9 -> 3 -> 1, and a final run.
    #expect([9, 3, 1].map { TrialDispatcher.groupSize(ranks: 2, minimum: 1, items: $0) } == [1, 2, 2])
    // Never more groups than items; as many groups as the minimum allows when items abound.
    for ranks in [2, 3, 4, 6, 8, 12] {
      for minimum in [1, 2, 3] where ranks % minimum == 0 {
        for items in 1...20 {
          let size = TrialDispatcher.groupSize(ranks: ranks, minimum: minimum, items: items)
          #expect(size % minimum == 0 && ranks % size == 0 && ranks / size <= max(items, 1), "\(ranks) \(minimum) \(items)")
        }
        #expect(TrialDispatcher.groupSize(ranks: ranks, minimum: minimum, items: 1000 * ranks) == minimum)
      }
    }
    #expect(TrialDispatcher.groupSize(ranks: 1, minimum: 1, items: 1) == 1)
  }

  @Test("fast trials never wait for a slow one: the other group takes them as it frees up", arguments: [0, 1])
  func dynamic(slowFirst: Int) throws {
    // One slow job (150 ms) among twelve fast ones (1 ms), on 2 ranks: whichever rank gets the
    // slow one, the other runs (nearly) all the fast ones meanwhile.
    var jobs = (1...13).map { RoundJobs.Job(id: $0, sleepMicroseconds: 1000) }
    jobs[slowFirst].sleepMicroseconds = 150_000
    let source = try Self.run(size: 2, groupSize: 1, rounds: [jobs])
    let slowGroup = source.startedGroups[jobs[slowFirst].id]!
    let others = source.startedGroups.filter { $0.key != jobs[slowFirst].id }
    #expect(others.values.filter { $0 != slowGroup }.count >= 10, "\(source.startedGroups.sorted { $0.key < $1.key })")
  }

  /// Two ranks with heartbeats (timeout 1 s): rank 1 gets the first job, rank 0 the second
  /// (groups 1... are served first). The `silent` rank's job runs 3 s without a poll, the
  /// other's 2.5 s with a poll every 0.5 ms: the other rank finds the silence after about 1 s,
  /// mid-job, and names the silent rank and what it was doing; the polled job, longer than the
  /// timeout, is never taken for silence.
  @Test("a silent rank (stopped, for its peers) is found by the other side's heartbeats and named", arguments: [1, 0])
  func silence(silent: Int) throws {
    let messages = Messages()
    let jobs = [3_000_000, 2_500_000].enumerated().map { i, us in
      RoundJobs.Job(id: i + 1, sleepMicroseconds: UInt32(us), silentRank: 1 - i == silent ? silent : nil)
    }
    #expect(throws: (any Error).self) {
      _ = try Self.run(size: 2, groupSize: 1, rounds: [jobs]) { world in
        Heartbeats(world: world, timeout: { 1.0 }, interval: 0.1) { message in
          messages.append("rank \(world.rank): \(message)")
          throw DispatchError(message)
        }
      }
    }
    let found = messages.all
    let expected =
      silent == 1
      ? #/rank 0: no word from rank 1 for 1\.[0-9] s, while it works on Job\(id: 1.*\(stall timeout 1\.0 s\)/#
      : #/rank 1: no word from rank 0 \(the coordinator\) for 1\.[0-9] s \(stall timeout 1\.0 s\)/#
    let first = try #require(found.first, "no rank found the silence")
    #expect(first.message.wholeMatch(of: expected) != nil, "\(found)")
    // Found mid-way (about 1 s in), not once the silent job ended (3 s).
    #expect(first.seconds < 2, "\(found)")
  }

  final class Messages: @unchecked Sendable {
    private var list: [(message: String, seconds: Double)] = []
    private let lock = NSLock()
    private let start = Date()
    func append(_ m: String) { lock.withLock { list.append((m, Date().timeIntervalSince(start))) } }
    var all: [(message: String, seconds: Double)] { lock.withLock { list } }
  }

  @Test("a group size that does not divide the ranks is refused, naming the flag")
  func groupSizeMustDivide() throws {
    let world = InProcessGroup.make(size: 3)[0]
    #expect(throws: DispatchError.self) { try TrialDispatcher(world: world, groupSize: 2) }
    do { _ = try TrialDispatcher(world: world, groupSize: 2) } catch { #expect("\(error)".contains("--ranks-per-trial")) }
  }
}
