#define _GNU_SOURCE
#include "CReactor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

__thread void *cr_current_reactor_tls = NULL;

// Evaluates a call that returns -1 and sets errno on failure, retrying on EINTR.
#define CR_RETRY(call)                                  \
    do {                                                \
        for (;;) {                                      \
            long r_ = (long)(call);                     \
            if (r_ >= 0) return r_;                     \
            if (errno != EINTR) return -errno;          \
        }                                               \
    } while (0)

// ---- epoll and eventfd -------------------------------------------------------------------

int cr_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cr_epoll_add(int epfd, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

// epoll_pwait2 (Linux 5.11) takes a nanosecond timeout. Where it is missing (older kernels,
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
        int n = epoll_pwait2(epfd, events, max, tsp, NULL);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
        cr_have_epoll_pwait2 = 0;
    }
    int timeout_ms = -1;
    if (timeout_ns >= 0) {
        int64_t ms = (timeout_ns + 999999) / 1000000;
        timeout_ms = ms > INT32_MAX ? INT32_MAX : (int)ms;
    }
    return epoll_wait(epfd, events, max, timeout_ms);
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

// ---- sockets -----------------------------------------------------------------------------

int cr_socket(int domain, int type) {
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int cr_bind(int fd, const struct sockaddr *addr, socklen_t len) {
    return bind(fd, addr, len) < 0 ? -errno : 0;
}

int cr_listen(int fd, int backlog) {
    return listen(fd, backlog) < 0 ? -errno : 0;
}

int cr_accept(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    CR_RETRY(accept4(fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int cr_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    // EINTR on a non-blocking connect still leaves the connection in progress.
    if (connect(fd, addr, len) == 0) return 0;
    return errno == EINTR ? -EINPROGRESS : -errno;
}

ssize_t cr_recv(int fd, void *buf, size_t len) {
    CR_RETRY(recv(fd, buf, len, 0));
}

ssize_t cr_send(int fd, const void *buf, size_t len) {
    CR_RETRY(send(fd, buf, len, MSG_NOSIGNAL));
}

ssize_t cr_sendv(int fd, const struct iovec *iov, int count) {
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
    CR_RETRY(sendmsg(fd, &msg, MSG_NOSIGNAL));
}

int cr_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    return 0;
}

ssize_t cr_read(int fd, void *buf, size_t len) {
    CR_RETRY(read(fd, buf, len));
}

ssize_t cr_write(int fd, const void *buf, size_t len) {
    CR_RETRY(write(fd, buf, len));
}

ssize_t cr_writev(int fd, const struct iovec *iov, int count) {
    CR_RETRY(writev(fd, iov, count));
}

int cr_pipe(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0 ? -errno : 0;
}

int cr_ignore_sigpipe(void) {
    struct sigaction current;
    if (sigaction(SIGPIPE, NULL, &current) < 0) return -errno;
    if (current.sa_handler != SIG_DFL) return 0;  // the process chose already: leave it
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    return sigaction(SIGPIPE, &ignore, NULL) < 0 ? -errno : 0;
}

int cr_shutdown(int fd, int how) {
    return shutdown(fd, how) < 0 ? -errno : 0;
}

int cr_close(int fd) {
    // Linux always releases the descriptor, even when close reports EINTR: never retry.
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

int cr_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    return err;
}

int cr_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

int cr_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t len = sizeof *value;
    return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

int cr_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    return getsockname(fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

int cr_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *len) {
    *len = sizeof *addr;
    return getpeername(fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

// ---- addresses ---------------------------------------------------------------------------

int cr_make_inet_address(const char *host, uint16_t port,
                         struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof *v4;
        return AF_INET;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
        return AF_INET6;
    }
    return -EINVAL;
}

int cr_make_unix_address(const char *path, struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path) return -ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return AF_UNIX;
}

int cr_address_host(const struct sockaddr_storage *addr, char *out, size_t cap) {
    const void *src;
    switch (addr->ss_family) {
    case AF_INET: src = &((const struct sockaddr_in *)addr)->sin_addr; break;
    case AF_INET6: src = &((const struct sockaddr_in6 *)addr)->sin6_addr; break;
    default: return -EAFNOSUPPORT;
    }
    return inet_ntop(addr->ss_family, src, out, (socklen_t)cap) ? 0 : -errno;
}

int cr_address_port(const struct sockaddr_storage *addr) {
    switch (addr->ss_family) {
    case AF_INET: return ntohs(((const struct sockaddr_in *)addr)->sin_port);
    case AF_INET6: return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    default: return -EAFNOSUPPORT;
    }
}

int cr_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *lens,
               int max, int *gai_error) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo *list = NULL;
    int err = getaddrinfo(host, service, &hints, &list);
    if (err) {
        *gai_error = err;
        return -1;
    }
    int count = 0;
    for (struct addrinfo *ai = list; ai && count < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof *out) continue;
        memcpy(&out[count], ai->ai_addr, ai->ai_addrlen);
        lens[count] = ai->ai_addrlen;
        count++;
    }
    freeaddrinfo(list);
    return count;
}

const char *cr_gai_strerror(int gai_error) {
    return gai_strerror(gai_error);
}

// ---- time and threads --------------------------------------------------------------------

int64_t cr_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct {
    void (*body)(void *);
    void *context;
} cr_thread_start_args;

static _Atomic int cr_signal_targets[NSIG];
// Bit n: signal n was taken by a loop thread at some time (see cr_thread_main).
static _Atomic uint64_t cr_signals_ever_taken;

static void *cr_thread_main(void *raw) {
    cr_thread_start_args args = *(cr_thread_start_args *)raw;
    free(raw);
    // A thread inherits its creator's mask, and a loop thread blocks the signals it takes, as
    // may a thread it started: unblock those here, or this thread would hold them blocked for
    // good (while they are taken, the forwarding handler sends them on from here).
    uint64_t taken = atomic_load_explicit(&cr_signals_ever_taken, memory_order_relaxed);
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

// ---- signals ---------------------------------------------------------------------------

static struct sigaction cr_signal_replaced[NSIG];

static void cr_forward_signal(int signal) {
    int saved = errno;
    int target = atomic_load_explicit(&cr_signal_targets[signal], memory_order_relaxed);
    // The target blocks the signal, so a delivery here never comes from it; were it to, a
    // re-send would come straight back.
    if (target > 0 && target != (int)syscall(SYS_gettid)) syscall(SYS_tgkill, getpid(), target, signal);
    errno = saved;
}

void cr_signal_set_target(int signal, int tid) {
    if (tid != 0) atomic_fetch_or_explicit(&cr_signals_ever_taken, UINT64_C(1) << (signal - 1), memory_order_relaxed);
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

int cr_signal_disposition(int signal) {
    struct sigaction current;
    if (sigaction(signal, NULL, &current) != 0) return -errno;
    if (current.sa_handler == SIG_DFL) return 0;
    return current.sa_handler == SIG_IGN ? 1 : 2;
}

int cr_thread_block_signal(int signal, int block) {
    sigset_t set, previous;
    sigemptyset(&set);
    sigaddset(&set, signal);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, &previous);
    return sigismember(&previous, signal);
}

int cr_thread_blocks_signal(int signal) {
    sigset_t current;
    pthread_sigmask(SIG_BLOCK, NULL, &current);
    return sigismember(&current, signal);
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

const char *cr_strerror(int err) {
    return strerror(err);
}

void *cr_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

// ---- the concurrency runtime's cancellation handlers -------------------------------------
// What withTaskCancellationHandler wraps, for Reactor.park's fast path (see Parking.swift,
// which declares these two with @_silgen_name: Swift may not name a runtime symbol itself).
// Not in the header: Swift calls them with its own convention, a closure being a function
// pointer and a context. Left out with the PortableCancellation trait.
#ifndef CR_PORTABLE_CANCELLATION
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "the cancellation-handler trampolines are written for Swift's convention on x86_64 and arm64"
#endif
#define CR_SWIFTCALL __attribute__((swiftcall))
extern CR_SWIFTCALL void *swift_task_addCancellationHandler(void *handler, void *context);
extern CR_SWIFTCALL void swift_task_removeCancellationHandler(void *record);

CR_SWIFTCALL void *cr_task_add_cancellation_handler(void *handler, void *context) {
    return swift_task_addCancellationHandler(handler, context);
}

CR_SWIFTCALL void cr_task_remove_cancellation_handler(void *record) {
    swift_task_removeCancellationHandler(record);
}
#endif

// ---- child processes ---------------------------------------------------------------------

int cr_pipe_for_child(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

int cr_open_dev_null(void) {
    int fd;
    do fd = open("/dev/null", O_RDWR | O_CLOEXEC); while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

extern char **environ;

int cr_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, const int child_fds[3]) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return -result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -result;
    }
    for (int target = 0; target < 3 && result == 0; target++) {
        // dup2 onto itself clears close-on-exec (glibc 2.29 and later), so this covers it too.
        if (child_fds[target] >= 0) result = posix_spawn_file_actions_adddup2(&actions, child_fds[target], target);
    }
    if (result == 0 && cwd != NULL) result = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    // exec resets caught signals itself; an ignored one stays ignored, so reset those this
    // process may ignore (SIGPIPE: the reactor does; SIGXFSZ: as Python's restore_signals).
    // Each reset is a syscall in the child while this thread waits for its exec.
    sigset_t none, ignored;
    sigemptyset(&none);
    sigemptyset(&ignored);
    sigaddset(&ignored, SIGPIPE);
    sigaddset(&ignored, SIGXFSZ);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &none);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &ignored);
    if (result == 0) result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (result == 0) {
        char *const *environment = envp != NULL ? envp : environ;
        result = strchr(path, '/') != NULL ? posix_spawn(&pid, path, &actions, &attributes, argv, environment)
                                           : posix_spawnp(&pid, path, &actions, &attributes, argv, environment);
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result != 0 ? -result : pid;
}

int cr_pidfd_open(int pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

static int cr_reap(idtype_t idtype, id_t id, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    do result = waitid(idtype, id, &info, WEXITED | WNOHANG); while (result < 0 && errno == EINTR);
    if (result < 0) return -errno;
    if (info.si_pid == 0) return 0;
    *status = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    return 1;
}

int cr_pidfd_reap(int pidfd, int *status) { return cr_reap(P_PIDFD, (id_t)pidfd, status); }

int cr_pid_reap(int pid, int *status) { return cr_reap(P_PID, (id_t)pid, status); }

int cr_kill(int pid, int signal) { return kill(pid, signal) < 0 ? -errno : 0; }

int cr_pidfd_send_signal(int pidfd, int signal) {
    return syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0) < 0 ? -errno : 0;
}
