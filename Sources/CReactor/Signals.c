// Signals: the forwarding handler, thread masks and signalfd.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct sigaction cr_signal_replaced[NSIG];
static _Atomic int cr_signal_targets[NSIG];
// Bit n - 1: signal n was taken by a loop thread at some time.
static _Atomic uint64_t cr_signals_taken;

uint64_t cr_signals_ever_taken(void) {
    return atomic_load_explicit(&cr_signals_taken, memory_order_relaxed);
}

static void cr_forward_signal(int signal) {
    int saved = errno;
    int target = atomic_load_explicit(&cr_signal_targets[signal], memory_order_relaxed);
    // The target blocks the signal, so a delivery here never comes from it; were it to, a
    // re-send would come straight back.
    if (target > 0 && target != (int)syscall(SYS_gettid)) syscall(SYS_tgkill, getpid(), target, signal);
    errno = saved;
}

void cr_signal_set_target(int signal, int tid) {
    if (tid != 0) atomic_fetch_or_explicit(&cr_signals_taken, UINT64_C(1) << (signal - 1), memory_order_relaxed);
    atomic_store_explicit(&cr_signal_targets[signal], tid, memory_order_relaxed);
}

int cr_signal_target(int signal) {
    return atomic_load_explicit(&cr_signal_targets[signal], memory_order_relaxed);
}

int cr_signal_install_forwarder(int signal) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cr_forward_signal;
    action.sa_flags = SA_RESTART;  // the interrupted thread's slow syscalls go on
    sigemptyset(&action.sa_mask);
    return sigaction(signal, &action, &cr_signal_replaced[signal]) == 0 ? 0 : -errno;
}

int cr_signal_restore(int signal) {
    return sigaction(signal, &cr_signal_replaced[signal], NULL) == 0 ? 0 : -errno;
}

int cr_thread_block_signal(int signal, int block) {
    sigset_t set, previous;
    sigemptyset(&set);
    sigaddset(&set, signal);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, &previous);
    return sigismember(&previous, signal);
}

int cr_signalfd(int fd, const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    int result = signalfd(fd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return result >= 0 ? result : -errno;
}

int cr_signalfd_signal(const void *info) {
    return (int)((const struct signalfd_siginfo *)info)->ssi_signo;
}

size_t cr_signalfd_info_size(void) { return sizeof(struct signalfd_siginfo); }

int cr_gettid(void) { return (int)syscall(SYS_gettid); }
