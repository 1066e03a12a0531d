// CReactor: the thin C layer under the reactor. One header, as libuv's uv.h; one source file
// per concern, as libuv's src/unix/ (Epoll.c, URing.c, Descriptors.c, Addresses.c, Threads.c,
// Signals.c, Processes.c, Cancellation.c, Strings.c).
//
// Only what Swift cannot express well lives here: epoll_event is packed on x86_64, fcntl is
// variadic, and errno must be read right next to the call that set it. Every wrapper returns
// the call's result on success and -errno on failure, so no Swift code reads the global errno.
// There is no policy here; that lives in Swift.
#ifndef CREACTOR_H
#define CREACTOR_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <errno.h>

// ---- readiness flags, re-exported as plain constants for Swift --------------------------
static const uint32_t CR_EPOLLIN = EPOLLIN;
static const uint32_t CR_EPOLLOUT = EPOLLOUT;
static const uint32_t CR_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t CR_EPOLLHUP = EPOLLHUP;
static const uint32_t CR_EPOLLERR = EPOLLERR;
static const uint32_t CR_EPOLLET = EPOLLET;
static const uint32_t CR_EPOLLONESHOT = EPOLLONESHOT;

// An epoll event with natural alignment (the kernel's struct is packed on x86_64).
typedef struct {
    uint32_t events;
    uint64_t data;
} cr_event;

// ---- epoll and eventfd -------------------------------------------------------------------
int cr_epoll_create(void);
int cr_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int cr_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data);
int cr_epoll_remove(int epfd, int fd);
// Waits at most timeout_ns nanoseconds (-1: forever, 0: poll) and fills out[0..<n].
int cr_epoll_wait(int epfd, cr_event *out, int max, int64_t timeout_ns);

int cr_eventfd(void);
int cr_eventfd_signal(int efd);
int cr_eventfd_drain(int efd);

// ---- io_uring (URing.c) -------------------------------------------------------------------
typedef struct cr_uring cr_uring;
// One completion: the submission's data, its result (-errno on failure), whether more
// completions of the same (multishot) submission follow, and the provided buffer the kernel
// filled (-1: none).
typedef struct {
    uint64_t data;
    int32_t result;
    int32_t buffer;
    uint8_t more;
} cr_completion;
// Sets up a ring of `entries` submissions; 0 or -errno (ENOSYS: the kernel lacks what it needs).
int cr_uring_create(unsigned entries, cr_uring **out);
void cr_uring_destroy(cr_uring *ring);
// Queue a poll (multishot != 0: until cancelled) or the cancellation of the submission whose
// data is `target`; they reach the kernel with the next wait or submit.
int cr_uring_poll_add(cr_uring *ring, int fd, uint32_t events, uint64_t data, int multishot);
int cr_uring_cancel(cr_uring *ring, uint64_t target, uint64_t data);
// Queues the cancellation of every submission on fd's file.
int cr_uring_cancel_fd(cr_uring *ring, int fd, uint64_t data);
// Registers `count` (a power of two) buffers of `size` bytes each as the ring's provided
// buffers, all handed to the kernel; 0 or -errno (ENOSYS: the kernel lacks multishot recv).
int cr_uring_buffers_create(cr_uring *ring, unsigned count, unsigned size);
// The first provided buffer: buffer i starts i * size bytes after it.
unsigned char *cr_uring_buffers_base(cr_uring *ring);
// Hands provided buffer `id` back to the kernel.
void cr_uring_buffer_give(cr_uring *ring, uint16_t id);
// Queues a multishot recv on the socket fd into the provided buffers: a completion per filled
// buffer, until EOF, an error, a cancellation, or no buffer left (ENOBUFS).
int cr_uring_recv_multishot(cr_uring *ring, int fd, uint64_t data);
// Hands the queued submissions to the kernel now, and finishes what they did: a cancelled poll
// has let go of its file when this returns.
int cr_uring_submit(cr_uring *ring);
// Submits what is queued, waits at most timeout_ns (-1: forever, 0: not at all) for a
// completion, and fills out[0..<n]; no system call when there is nothing to submit and
// completions are already there (or the timeout is 0).
int cr_uring_wait(cr_uring *ring, cr_completion *out, int max, int64_t timeout_ns);

// ---- sockets -----------------------------------------------------------------------------
// Creates a non-blocking, close-on-exec socket.
int cr_socket(int domain, int type);
int cr_bind(int fd, const struct sockaddr *addr, socklen_t len);
int cr_listen(int fd, int backlog);
// Accepts one connection as a non-blocking, close-on-exec socket.
int cr_accept(int fd, struct sockaddr_storage *addr, socklen_t *len);
int cr_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t cr_recv(int fd, void *buf, size_t len);
// send with MSG_NOSIGNAL: a peer that went away never raises SIGPIPE.
ssize_t cr_send(int fd, const void *buf, size_t len);
// sendmsg over an iovec with MSG_NOSIGNAL.
ssize_t cr_sendv(int fd, const struct iovec *iov, int count);
// read, write and writev, for fds that are not sockets (pipes, eventfd, signalfd, pidfd).
ssize_t cr_read(int fd, void *buf, size_t len);
ssize_t cr_write(int fd, const void *buf, size_t len);
ssize_t cr_writev(int fd, const struct iovec *iov, int count);
// A non-blocking, close-on-exec pipe: fds[0] reads, fds[1] writes.
int cr_pipe(int fds[2]);
// Ignores SIGPIPE unless the process set a disposition of its own: write(2) to a pipe whose
// reader is gone raises it, and has no MSG_NOSIGNAL (asyncio's Python ignores it at start-up).
int cr_ignore_sigpipe(void);
int cr_shutdown(int fd, int how);
// Makes an fd non-blocking (fcntl is variadic, so it lives here).
int cr_set_nonblocking(int fd);
int cr_close(int fd);
// A close-on-exec duplicate of fd.
int cr_dup(int fd);
int cr_socket_error(int fd);
int cr_setsockopt_int(int fd, int level, int name, int value);
int cr_getsockopt_int(int fd, int level, int name, int *value);
int cr_getsockname(int fd, struct sockaddr_storage *addr, socklen_t *len);
int cr_getpeername(int fd, struct sockaddr_storage *addr, socklen_t *len);

// ---- datagrams (Datagrams.c) -------------------------------------------------------------
extern const int CR_UDP_SEGMENT;
extern const int CR_UDP_GRO;
extern const size_t CR_MMSGHDR_SIZE;
// recv with MSG_TRUNC: the datagram's full length, more than len when it was cut.
ssize_t cr_recv_datagram(int fd, void *buf, size_t len);
// recvfrom with MSG_TRUNC, as cr_recv_datagram.
ssize_t cr_recvfrom(int fd, void *buf, size_t len, struct sockaddr_storage *addr, socklen_t *addrlen);
ssize_t cr_sendto(int fd, const void *buf, size_t len, const struct sockaddr *addr, socklen_t addrlen);

// Control room per slot of a batch: one UDP_SEGMENT or UDP_GRO message.
#define CR_BATCH_CONTROL 32
// A batch of datagrams in caller memory: capacity slots of slot_size bytes each, with the
// headers, vectors, addresses and control room recvmmsg and sendmmsg need, laid out once.
typedef struct {
    void *headers;               // struct mmsghdr[capacity] (a GNU type Swift may not see)
    struct iovec *vectors;
    struct sockaddr_storage *addresses;
    socklen_t *address_lengths;  // 0 on send: the connected peer
    char *control;
    unsigned char *bytes;
    size_t *lengths;
    uint16_t *segment_sizes;     // GRO on receive, GSO on send; 0: one datagram
    uint8_t *truncated;
    size_t slot_size;
    unsigned capacity;
} cr_datagram_batch;
// recvmmsg into every slot from 0: the number received (lengths, addresses, truncation and
// segment sizes filled in), or -errno.
int cr_batch_recv(int fd, cr_datagram_batch *batch);
// sendmmsg of slots first..<first + count (a slot with a segment size goes with UDP_SEGMENT):
// the number the kernel took, or -errno.
int cr_batch_send(int fd, cr_datagram_batch *batch, unsigned first, unsigned count);

// ---- addresses ---------------------------------------------------------------------------
// Parses a numeric IPv4 or IPv6 address into addr. Returns the family, or -EINVAL.
int cr_make_inet_address(const char *host, uint16_t port,
                         struct sockaddr_storage *addr, socklen_t *len);
int cr_make_unix_address(const char *path, struct sockaddr_storage *addr, socklen_t *len);
// Writes the numeric host of an IPv4/IPv6 address into out (NUL-terminated).
int cr_address_host(const struct sockaddr_storage *addr, char *out, size_t cap);
int cr_address_port(const struct sockaddr_storage *addr);

// Resolves host (a name or a numeric address) for TCP with getaddrinfo, which blocks: call it
// off the loop thread. Fills up to max addresses; returns their count, or -1 with the
// getaddrinfo error in *gai_error (see cr_gai_strerror).
int cr_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *lens,
               int max, int *gai_error);
const char *cr_gai_strerror(int gai_error);

// ---- time and threads --------------------------------------------------------------------
// CLOCK_MONOTONIC in nanoseconds.
int64_t cr_monotonic_ns(void);
// The reactor whose loop runs on this thread, or NULL. Inline: it is asked on every operation.
extern __thread void *cr_current_reactor_tls;
static inline void *cr_current_reactor(void) { return cr_current_reactor_tls; }
static inline void cr_set_current_reactor(void *reactor) { cr_current_reactor_tls = reactor; }
// Starts a detached thread that calls body(context); returns 0 or -errno. Once a thread was
// pinned (cr_thread_pin), new threads start on the CPUs the process had before, whoever
// starts them.
int cr_thread_start(void (*body)(void *), void *context);
// The CPUs this process may run on (sched_getaffinity), at most max of them into out; returns
// their count or -errno.
int cr_available_cpus(int *out, int max);
// Room for a thread's CPU mask (a cpu_set_t).
#define CR_CPU_MASK_SIZE 128
// Pins the calling thread to one CPU, first saving its mask into saved (CR_CPU_MASK_SIZE
// bytes) unless saved is NULL; returns 0 or -errno.
int cr_thread_pin(int cpu, void *saved);
// Gives the calling thread back the mask cr_thread_pin saved.
int cr_thread_restore_affinity(const void *saved);

// ---- child processes ---------------------------------------------------------------------
// A close-on-exec pipe whose ends block: for a child's standard streams (the parent makes its
// own end non-blocking when it adopts it). fds[0] reads, fds[1] writes.
int cr_pipe_for_child(int fds[2]);
// /dev/null, read-write and close-on-exec.
int cr_open_dev_null(void);
// Starts `path` (looked up in PATH when it has no slash) with argv and envp (NULL: this
// process's environment), in cwd (NULL: this one's), with posix_spawn. The child's fds 0, 1
// and 2 are dup'ed from child_fds[0..2] (-1: inherited); every other fd of this process is
// close-on-exec, as the reactor opens them all. The child starts with no signal blocked, and
// SIGPIPE and SIGXFSZ at their defaults (this process ignores SIGPIPE; exec resets caught
// signals itself). Returns the pid, or -errno, also for a failed exec (ENOENT, EACCES).
int cr_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, const int child_fds[3]);
// pidfd_open(2): an fd that becomes readable when the child exits (Linux 5.3).
int cr_pidfd_open(int pid);
// Reaps the child of `pidfd` if it has exited: returns 1 and sets *status (the exit code, or
// minus the signal that killed it, as asyncio's returncode), 0 while it runs, or -errno.
int cr_pidfd_reap(int pidfd, int *status);
// The same for the child `pid`, where no pidfd watches it.
int cr_pid_reap(int pid, int *status);
// kill(2).
int cr_kill(int pid, int signal);
// pidfd_send_signal(2).
int cr_pidfd_send_signal(int pidfd, int signal);

// ---- signals -----------------------------------------------------------------------------
// A signal is taken from a signalfd on a loop thread that blocks it. Threads that do not block
// it (any thread already running: a mask is per thread) run a forwarding handler instead,
// which re-sends the signal to that loop thread with tgkill(2), so it lands in its signalfd.
// The loop thread a signal is forwarded to (0: none; the handler then drops it).
void cr_signal_set_target(int signal, int tid);
int cr_signal_target(int signal);
// Installs the forwarding handler for `signal`, keeping the action it replaces; returns 0 or
// -errno (EINVAL for SIGKILL and SIGSTOP).
int cr_signal_install_forwarder(int signal);
// Puts back the action cr_signal_install_forwarder replaced.
int cr_signal_restore(int signal);
// Blocks (block != 0) or unblocks `signal` in the calling thread; returns whether it was
// blocked before (1 or 0).
int cr_thread_block_signal(int signal, int block);
// Makes (fd < 0) or updates a non-blocking, close-on-exec signalfd for signals[0..<count];
// returns the fd or -errno.
int cr_signalfd(int fd, const int *signals, int count);
// The signal number of a struct signalfd_siginfo read from a signalfd, and that struct's size.
int cr_signalfd_signal(const void *info);
size_t cr_signalfd_info_size(void);
// The calling thread's id (gettid(2)).
int cr_gettid(void);

const char *cr_strerror(int err);
// memmem(3), a GNU extension Swift's Glibc module does not show.
void *cr_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

#endif
