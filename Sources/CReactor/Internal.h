// What the C files of CReactor share and Swift does not see.
#ifndef CREACTOR_INTERNAL_H
#define CREACTOR_INTERNAL_H

#include <errno.h>
#include <stdint.h>

// Evaluates a call that returns -1 and sets errno on failure, retrying on EINTR.
#define CR_RETRY(call)                                  \
    do {                                                \
        for (;;) {                                      \
            long r_ = (long)(call);                     \
            if (r_ >= 0) return r_;                     \
            if (errno != EINTR) return -errno;          \
        }                                               \
    } while (0)

// A system call made through syscall(2), retried on EINTR. The calls made per message go
// this way: glibc's own wrappers of them are cancellation points, and on every thread but
// the main one each call then enables and disables asynchronous cancellation around it
// (dozens of instructions a call; this library never cancels a thread). Sanitizers do not
// intercept these calls; the threads of this library order their work with locks and atomics,
// which they do see.
#define CR_SYSCALL(...) CR_RETRY(syscall(__VA_ARGS__))

// Bit n - 1: signal n was taken by a loop thread at some time (Signals.c); a thread this
// library starts unblocks those (Threads.c).
uint64_t cr_signals_ever_taken(void);

#endif
