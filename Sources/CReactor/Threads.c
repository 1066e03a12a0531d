// The clock, and the threads this library starts.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

__thread void *cr_current_reactor_tls = NULL;

int64_t cr_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct {
    void (*body)(void *);
    void *context;
} cr_thread_start_args;

// The CPUs a thread of this library starts on: the process's, as they were before the first
// loop thread was pinned. A thread inherits its creator's mask, and a pinned loop thread is
// what starts the blocking pool's workers; they must not all crowd onto its CPU.
static pthread_mutex_t cr_unpinned_lock = PTHREAD_MUTEX_INITIALIZER;
static cpu_set_t cr_unpinned_mask;
static int cr_unpinned_saved = 0;

static void *cr_thread_main(void *raw) {
    cr_thread_start_args args = *(cr_thread_start_args *)raw;
    free(raw);
    pthread_mutex_lock(&cr_unpinned_lock);
    if (cr_unpinned_saved) pthread_setaffinity_np(pthread_self(), sizeof cr_unpinned_mask, &cr_unpinned_mask);
    pthread_mutex_unlock(&cr_unpinned_lock);
    // A thread inherits its creator's mask, and a loop thread blocks the signals it takes, as
    // may a thread it started: unblock those here, or this thread would hold them blocked for
    // good (while they are taken, the forwarding handler sends them on from here).
    uint64_t taken = cr_signals_ever_taken();
    sigset_t inherited;
    sigemptyset(&inherited);
    for (int signal = 1; signal < NSIG; signal++) {
        if (taken & (UINT64_C(1) << (signal - 1))) sigaddset(&inherited, signal);
    }
    pthread_sigmask(SIG_UNBLOCK, &inherited, NULL);
    args.body(args.context);
    return NULL;
}

int cr_thread_start(void (*body)(void *), void *context) {
    cr_thread_start_args *args = malloc(sizeof *args);
    if (!args) return -ENOMEM;
    args->body = body;
    args->context = context;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int err = pthread_create(&thread, &attr, cr_thread_main, args);
    pthread_attr_destroy(&attr);
    if (err) {
        free(args);
        return -err;
    }
    return 0;
}

int cr_available_cpus(int *out, int max) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) < 0) return -errno;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < max; cpu++) {
        if (CPU_ISSET(cpu, &set)) out[count++] = cpu;
    }
    return count;
}

_Static_assert(sizeof(cpu_set_t) <= CR_CPU_MASK_SIZE, "CR_CPU_MASK_SIZE holds a cpu_set_t");

int cr_thread_pin(int cpu, void *saved) {
    if (saved) {
        int err = pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), saved);
        if (err) return -err;
    }
    pthread_mutex_lock(&cr_unpinned_lock);
    if (!cr_unpinned_saved && pthread_getaffinity_np(pthread_self(), sizeof cr_unpinned_mask, &cr_unpinned_mask) == 0) {
        cr_unpinned_saved = 1;
    }
    pthread_mutex_unlock(&cr_unpinned_lock);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    return err ? -err : 0;
}

int cr_thread_restore_affinity(const void *saved) {
    int err = pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t), saved);
    return err ? -err : 0;
}
