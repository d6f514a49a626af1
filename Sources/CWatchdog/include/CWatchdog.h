#ifndef DPTRAIN_CWATCHDOG_H
#define DPTRAIN_CWATCHDOG_H
/// The stall watchdog: a thread that ends the process when the rank has made no progress for
/// the timeout. Progress is marked by `dptrain_watchdog_enter`, at every phase of the work (a
/// training step's computation, each collective, each evaluation chunk). A rank stuck in a collective (another rank stopped, a network partition) or
/// in a hung read stops marking; the thread then writes one line to standard error naming the
/// rank, its host, the phase, the step and how long, and calls `_exit(status)`: mpirun sees the
/// exit and takes every rank down. Nothing here calls MPI (it is initialised FUNNELED).

/// Arms the watchdog (starts its thread once). `fixed_seconds` > 0: that timeout; 0: disarmed;
/// < 0: automatic, `max(floor_seconds, factor x the longest interval between two marks seen so
/// far)`. `who` names the rank ("rank 1 of 2 (host b)"), `hint` is appended to the message.
void dptrain_watchdog_configure(double fixed_seconds, double floor_seconds, double factor, const char *who,
                                const char *hint, int status);
/// Marks progress and names what comes next: `phase` must stay valid (a string literal), `step`
/// and `total` are shown when `total` > 0; `total` < 0 keeps the step of the last mark. Returns
/// 1 when a heartbeat is due (`dptrain_watchdog_beat_every`), else 0.
int dptrain_watchdog_enter(const char *phase, long step, long total);
/// Names a wait without a deadline of its own (the process is alive and polling; what it waits
/// for is watched otherwise): the check is off until the next `dptrain_watchdog_enter`.
void dptrain_watchdog_rest(const char *phase);
/// The timeout in force now, in seconds (the automatic one grows with the marks); 0 when disarmed.
double dptrain_watchdog_timeout(void);
/// Ends the process as a stall does: `message`, the exit status and the hint to standard error,
/// then `_exit` (for a stall found otherwise, e.g. a peer's missing heartbeats).
__attribute__((noreturn)) void dptrain_watchdog_fire(const char *message);
/// 1 when this process was not running (stopped by a signal, a paused machine) since the last
/// call, by the watch thread's wakes; for one caller thread.
int dptrain_watchdog_was_stopped(void);
/// Makes `dptrain_watchdog_enter` return 1 at most every `seconds` (0: never): the marks then
/// drive the caller's heartbeats to its peers.
void dptrain_watchdog_beat_every(double seconds);
#endif
