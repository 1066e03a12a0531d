// What the signal tests ask of the process that the library itself never needs.
#ifndef CTESTSUPPORT_H
#define CTESTSUPPORT_H

// What `signal` does now: 0 its default, 1 ignored, 2 a handler of this process's.
int ct_signal_disposition(int signal);
// Whether `signal` is blocked in the calling thread: 1 or 0.
int ct_thread_blocks_signal(int signal);

#endif
