#include "CTestSupport.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

int ct_signal_disposition(int signal) {
    struct sigaction current;
    if (sigaction(signal, NULL, &current) != 0) return -errno;
    if (current.sa_handler == SIG_DFL) return 0;
    return current.sa_handler == SIG_IGN ? 1 : 2;
}

int ct_thread_blocks_signal(int signal) {
    sigset_t current;
    pthread_sigmask(SIG_BLOCK, NULL, &current);
    return sigismember(&current, signal);
}

