#include "CWatchdog.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_llong last_ns;     // the last mark; 0 while resting
static atomic_llong longest_ns;  // the longest interval between two marks so far
static _Atomic(const char *) phase = "starting";
static atomic_long step_now, step_total;
static atomic_int armed;
static atomic_int warned;  // the half-way warning of the current wait was written
static double fixed = 0, floor_s = 60, factor = 20;
static char who[256] = "this rank", hint[1024] = "";
static int exit_status = 6;
static atomic_llong beat_ns;             // when `dptrain_watchdog_enter` last said a heartbeat was due
static atomic_llong beat_interval_ns;    // 0: no heartbeats
static atomic_llong tick_ns;             // the watch thread's last wake
static atomic_llong resumed_ns;          // when the watch thread last found the process had not been running
static pthread_once_t started = PTHREAD_ONCE_INIT;

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

// The timeout now in force, in seconds (0 when disarmed).
static double timeout_now(void) {
  if (!atomic_load(&armed)) return 0;
  if (fixed > 0) return fixed;
  double scaled = factor * (double)atomic_load(&longest_ns) * 1e-9;
  return scaled > floor_s ? scaled : floor_s;
}

static void write_line(const char *text) {
  size_t n = strlen(text);
  while (n > 0) {
    ssize_t w = write(2, text, n);
    if (w <= 0) break;
    text += w;
    n -= (size_t)w;
  }
}

void dptrain_watchdog_fire(const char *message) {
  char line[2048];
  snprintf(line, sizeof line, "%s; ending the job (exit status %d)%s%s\n", message, exit_status, hint[0] ? ". " : "", hint);
  write_line(line);
  // mpirun forwards a rank's output through a pipe: give it time to read the line before the
  // job is taken down (an immediate exit lost it in 1 of 2 tries).
  struct timespec pause = {0, 300 * 1000 * 1000};
  nanosleep(&pause, NULL);
  _exit(exit_status);
}

static void *watch(void *unused) {
  (void)unused;
  long long woke = now_ns();
  for (;;) {
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    // A sleep of 0.1 s that took over a second: this process itself was not running (SIGSTOP,
    // a debugger, a paused machine). It did not wait for anyone: say so, and count afresh.
    long long before = woke;
    woke = now_ns();
    atomic_store(&tick_ns, woke);
    if (woke - before > 1000000000LL) {
      atomic_store(&resumed_ns, woke);
      if (atomic_load(&armed) && atomic_load(&last_ns) != 0) {
        char line[512];
        snprintf(line, sizeof line,
                 "dptrain: %s was not running for %.1f s (stopped by a signal or a debugger, or its machine paused)\n", who,
                 (double)(woke - before) * 1e-9 - 0.1);
        write_line(line);
        atomic_store(&last_ns, woke);
      }
      continue;
    }
    double timeout = timeout_now();
    long long last = atomic_load(&last_ns);
    if (timeout <= 0 || last == 0) continue;
    double idle = (double)(now_ns() - last) * 1e-9;
    if (idle < timeout / 2) continue;
    char message[1024], where[128] = "";
    long total = atomic_load(&step_total);
    if (total > 0) snprintf(where, sizeof where, " at step %ld of %ld", atomic_load(&step_now), total);
    if (idle < timeout) {
      // Half-way: a line naming the wait, so that the log shows who waited for whom even when
      // the launcher ends the job first (a lost host: mpirun's own keepalive).
      if (!atomic_exchange(&warned, 1)) {
        snprintf(message, sizeof message,
                 "dptrain: %s has made no progress for %.1f s in %s%s; the job ends at %.1f s (--stall-timeout)\n", who, idle,
                 atomic_load(&phase), where, timeout);
        write_line(message);
      }
      continue;
    }
    snprintf(message, sizeof message, "dptrain: %s stalled: no progress for %.1f s in %s%s (stall timeout %.1f s)", who, idle,
             atomic_load(&phase), where, timeout);
    dptrain_watchdog_fire(message);
  }
  return NULL;
}

static void start_thread(void) {
  pthread_t thread;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_create(&thread, &attributes, watch, NULL);
  pthread_attr_destroy(&attributes);
}

void dptrain_watchdog_configure(double fixed_seconds, double floor_seconds, double factor_, const char *who_, const char *hint_,
                                int status) {
  fixed = fixed_seconds;
  floor_s = floor_seconds;
  factor = factor_;
  snprintf(who, sizeof who, "%s", who_);
  snprintf(hint, sizeof hint, "%s", hint_);
  exit_status = status;
  atomic_store(&last_ns, now_ns());
  atomic_store(&armed, fixed_seconds != 0);
  if (fixed_seconds != 0) pthread_once(&started, start_thread);
}

int dptrain_watchdog_enter(const char *phase_, long step, long total) {
  long long now = now_ns(), last = atomic_load(&last_ns);
  if (last != 0 && now - last > atomic_load(&longest_ns)) atomic_store(&longest_ns, now - last);
  atomic_store(&phase, phase_);
  if (total >= 0) {
    atomic_store(&step_now, step);
    atomic_store(&step_total, total);
  }
  atomic_store(&last_ns, now);
  atomic_store(&warned, 0);
  long long interval = atomic_load(&beat_interval_ns);
  if (interval <= 0 || now - atomic_load(&beat_ns) < interval) return 0;
  atomic_store(&beat_ns, now);
  return 1;
}

double dptrain_watchdog_timeout(void) { return timeout_now(); }

int dptrain_watchdog_was_stopped(void) {
  static long long asked = 0;  // one caller: the thread that checks the heartbeats
  long long now = now_ns(), tick = atomic_load(&tick_ns);
  // Found by the watch thread, or about to be: it has not woken for a second.
  int stopped = atomic_load(&resumed_ns) > asked || (tick != 0 && now - tick > 1000000000LL);
  asked = now;
  return stopped;
}

void dptrain_watchdog_beat_every(double seconds) { atomic_store(&beat_interval_ns, (long long)(seconds * 1e9)); }

void dptrain_watchdog_rest(const char *phase_) {
  atomic_store(&phase, phase_);
  atomic_store(&last_ns, 0);
  atomic_store(&warned, 0);
}
