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

void dptrain_install_stop_handlers(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_stop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
}

int dptrain_stop_signal(void) { return stop_signal; }
