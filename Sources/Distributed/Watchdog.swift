import CWatchdog

/// The stall watchdog of this process (see `CWatchdog.h`): every rank of a multi-rank job marks
/// its progress at each phase of its work; a rank that makes none for the stall timeout writes
/// one line (itself, its host, the phase, the step, how long) and exits with `stallStatus`, and
/// mpirun takes the job down. A blocking collective never times out on its own: this is what
/// ends a job whose rank is stopped, partitioned away or stuck in a read.
public enum Watchdog {
  /// The exit status of a stall.
  public static let stallStatus: Int32 = 6
  /// The automatic timeout: `max(floorSeconds, scale x the longest interval between two marks
  /// so far)`, so that it grows with the measured step, evaluation and checkpoint times.
  public static let floorSeconds = 60.0
  public static let scale = 20.0

  /// Arms the watchdog: `timeout` seconds, `nil` for the automatic timeout, 0 to disarm.
  /// `who` names this rank in the message; `hint` says what to do next.
  public static func configure(timeout: Double?, who: String, hint: String) {
    dptrain_watchdog_configure(timeout ?? -1, floorSeconds, scale, who, hint, stallStatus)
  }

  /// Marks progress; `phase` is what this rank does (or waits for) until the next mark, at
  /// training step `step` of `total`.
  @inline(__always)
  public static func enter(_ phase: StaticString, step: Int, of total: Int) {
    if dptrain_watchdog_enter(UnsafeRawPointer(phase.utf8Start).assumingMemoryBound(to: CChar.self), step, total) != 0 { onBeat?() }
  }

  /// Marks progress; `phase` is what comes next, at the step of the last mark.
  @inline(__always)
  public static func enter(_ phase: StaticString) {
    if dptrain_watchdog_enter(UnsafeRawPointer(phase.utf8Start).assumingMemoryBound(to: CChar.self), 0, -1) != 0 { onBeat?() }
  }

  /// Called by `enter` at most every `seconds` (on the thread that marks): a sweep's ranks send
  /// their heartbeats from here, so that a rank's peers hear from it whenever it makes progress,
  /// inside a long evaluation too. Set once, before the work starts.
  public static func beat(every seconds: Double, _ action: @escaping () -> Void) {
    onBeat = action
    dptrain_watchdog_beat_every(seconds)
  }
  nonisolated(unsafe) static var onBeat: (() -> Void)?

  /// The timeout in force now (it grows with the marks when automatic), 0 when disarmed.
  public static var timeout: Double { dptrain_watchdog_timeout() }

  /// True when this process was not running (a SIGSTOP, a paused machine) since the last call
  /// (one caller): what it waited for may have been held back meanwhile.
  public static func wasStopped() -> Bool { dptrain_watchdog_was_stopped() != 0 }

  /// Ends the process as a stall: `message` (which names this rank and what it waited for), the
  /// exit status and the hint.
  public static func fire(_ message: String) -> Never { dptrain_watchdog_fire(message) }

  /// A wait without a deadline of its own (what it waits for is watched another way).
  public static func rest(_ phase: StaticString) {
    dptrain_watchdog_rest(UnsafeRawPointer(phase.utf8Start).assumingMemoryBound(to: CChar.self))
  }
}
