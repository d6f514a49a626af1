import Distributed
import Foundation

/// Liveness between a sweep's coordinator and its workers, where no collective waits: rank 0
/// and each worker send each other a heartbeat at most every `interval` while they make
/// progress (between training steps, at the watchdog's marks, while waiting for work), and each
/// watches the other side. A rank silent for longer than the stall timeout in force (this
/// rank's, or the longer one the silent rank announced with its last heartbeat: its timeout
/// grows with its own longest step) is stalled: `onSilence` gets a line naming it and what it
/// was doing. Rank 0 watches every worker that has not yet answered the stop; a worker watches
/// rank 0. A rank stuck in a trial's collective is found by its own watchdog; this finds a rank
/// whose peers are not in a collective with it: a stopped worker while rank 0 trains its own
/// trial, a stopped coordinator while the workers wait for work.
public final class Heartbeats {
  static let tag = 7104
  let world: any MessagePassing
  /// The silence allowed now, in seconds; 0 turns the check (and the heartbeats) off.
  let timeout: () -> Double
  public let interval: Double
  /// Called with e.g. "no word from rank 1 for 5.2 s, while it works on trial #4 (stall timeout
  /// 5.0 s)": ends the process (the sweep's: `Watchdog.fire`), or throws.
  let onSilence: (String) throws -> Void
  /// True when this process itself was not running since the last call (stopped by a signal, a
  /// paused machine): its peers' heartbeats may have been held back meanwhile (Open MPI's shared
  /// memory queues them at the sender), so their silence counts afresh.
  let wasStopped: () -> Bool
  var lastSent = -Double.infinity
  var lastHeard: [Double]
  var announced: [Double]
  /// The ranks this one watches and sends to.
  var peers: Set<Int>
  /// What rank r is doing, for the message (rank 0 knows what it handed out).
  var doing: [Int: String] = [:]

  public init(
    world: any MessagePassing, timeout: @escaping () -> Double, interval: Double, wasStopped: @escaping () -> Bool = { false },
    onSilence: @escaping (String) throws -> Void
  ) {
    self.world = world
    self.wasStopped = wasStopped
    self.timeout = timeout
    self.interval = interval
    self.onSilence = onSilence
    let now = RankClock.now
    lastHeard = Array(repeating: now, count: world.size)
    announced = Array(repeating: 0, count: world.size)
    peers = world.rank == 0 ? Set(1..<world.size) : [0]
  }

  /// Sends this rank's heartbeat to its peers if one is due.
  public func beat() {
    let now = RankClock.now
    guard now - lastSent >= interval else { return }
    let allowed = timeout()
    guard allowed > 0 else { return }
    lastSent = now
    let message = Array("\(allowed)".utf8)
    // A peer that cannot be reached ends the job through MPI's own error; nothing to add here.
    for peer in peers { try? world.send(message, to: peer, tag: Self.tag) }
  }

  /// `rank` was heard from (any message counts).
  func heard(_ rank: Int) { lastHeard[rank] = RankClock.now }

  /// Reads the heartbeats that arrived, then reports a peer silent for longer than allowed.
  public func check() throws {
    while let (source, bytes) = try world.receiveIfReady(tag: Self.tag) {
      heard(source)
      announced[source] = Double(String(decoding: bytes, as: UTF8.self)) ?? 0
    }
    let own = timeout()
    guard own > 0 else { return }
    let now = RankClock.now
    if wasStopped() { for peer in peers { lastHeard[peer] = now } }
    for peer in peers.sorted() {
      let allowed = max(own, announced[peer])
      let silent = now - lastHeard[peer]
      guard silent > allowed else { continue }
      let name = peer == 0 ? "rank 0 (the coordinator)" : "rank \(peer)"
      let what = doing[peer].map { ", while it \($0)" } ?? ""
      try onSilence(String(format: "no word from %@ for %.1f s%@ (stall timeout %.1f s)", name, silent, what, allowed))
    }
  }

  /// `rank` has left the dispatch (it answered the stop): no longer watched or sent to.
  func forget(_ rank: Int) { peers.remove(rank) }
}
