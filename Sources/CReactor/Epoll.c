// epoll, and the eventfd that wakes it.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int cr_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cr_epoll_add(int epfd, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int cr_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int cr_epoll_remove(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

// Both through syscall(2), as the transfers (Internal.h). epoll_pwait2 (Linux 5.11) takes a
// nanosecond timeout. Where it is missing (older kernels,
// valgrind 3.19) or refused (seccomp profiles older than it say EPERM) epoll_wait is used, its
// timeout rounded up to whole milliseconds so that a timer never fires early.
static _Atomic int cr_have_epoll_pwait2 = 1;

static int cr_epoll_wait_raw(int epfd, struct epoll_event *events, int max, int64_t timeout_ns) {
    if (cr_have_epoll_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        int n = (int)syscall(SYS_epoll_pwait2, epfd, events, max, tsp, NULL, 0);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
        cr_have_epoll_pwait2 = 0;
    }
    int timeout_ms = -1;
    if (timeout_ns >= 0) {
        int64_t ms = (timeout_ns + 999999) / 1000000;
        timeout_ms = ms > INT32_MAX ? INT32_MAX : (int)ms;
    }
    return (int)syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, NULL, 0);
}

int cr_epoll_wait(int epfd, cr_event *out, int max, int64_t timeout_ns) {
    enum { BATCH = 256 };
    struct epoll_event events[BATCH];
    if (max > BATCH) max = BATCH;
    // An EINTR is returned as 0 events: the loop recomputes its timeout and waits again.
    int n = cr_epoll_wait_raw(epfd, events, max, timeout_ns);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        out[i].events = events[i].events;
        out[i].data = events[i].data.u64;
    }
    return n;
}

int cr_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cr_eventfd_signal(int efd) {
    uint64_t one = 1;
    CR_RETRY(write(efd, &one, sizeof one));
}

int cr_eventfd_drain(int efd) {
    uint64_t value;
    CR_RETRY(read(efd, &value, sizeof value));
}
