#include "CSupport.h"
#include <stdio.h>

void dptrain_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
void dptrain_flush_stdout(void) { fflush(stdout); }

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int sig) {
  if (stop_signal != 0 && sig == SIGINT) {
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    return;
  }
  stop_signal = sig;
}

// The handlers run on a stack of their own (SA_ONSTACK): a signal frame on the thread's own
// stack overwrites what lies below its stack pointer, and oneDNN's JIT-compiled GEMM kernels
// evidently keep data there. Measured: SIGTERM at random times into single-process runs with
// oneDNN corrupted the heap in 4 of 30 (glibc: "corrupted size vs. prev_size", "unaligned tcache
// chunk"), under mpirun in 2 of 30; with OpenBLAS 0 of 30; with this alternate stack 0 of 60
// and 0 of 30 under mpirun.
static char stop_stack[64 * 1024];

void dptrain_install_stop_handlers(void) {
  stack_t alternate;
  memset(&alternate, 0, sizeof alternate);
  alternate.ss_sp = stop_stack;
  alternate.ss_size = sizeof stop_stack;
  sigaltstack(&alternate, NULL);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_ONSTACK;
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
}

int dptrain_stop_signal(void) { return stop_signal; }
