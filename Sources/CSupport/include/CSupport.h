#ifndef DPTRAIN_CSUPPORT_H
#define DPTRAIN_CSUPPORT_H
/// Line-buffers standard output, so that every line reaches a pipe or log file even when the
/// process is ended abruptly (MPI_Abort, a signal). Swift 6 cannot touch C's `stdout` itself.
void dptrain_line_buffer_stdout(void);
/// Flushes standard output (after a progress line without a newline).
void dptrain_flush_stdout(void);
/// Catches SIGTERM and SIGINT (what Slurm and mpirun send before a time limit or on Ctrl-C):
/// the first sets a flag that training polls at each step boundary; a second SIGINT ends the
/// process at once.
void dptrain_install_stop_handlers(void);
/// The signal that asked to stop (SIGTERM or SIGINT), or 0.
int dptrain_stop_signal(void);
#endif
