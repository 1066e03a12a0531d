// bench-c-uring-echo: the io_uring floor for the swift-reactor benchmarks, beside the epoll
// one (bench-c-echo).
//
// A minimal single-threaded TCP echo server in io_uring's completion mode, written for the
// fewest system calls per echoed message: one multishot accept, one multishot recv per
// connection into a ring of provided buffers shared by all connections (no buffer per idle
// connection), and a send from the buffer the bytes arrived in, which goes back to the ring
// once sent. Every submission of a loop turn goes to the kernel in the one io_uring_enter that
// also waits for the next completions. A connection has one send in flight at a time, so its
// echoes stay in order; the buffers received meanwhile wait in its queue.
//
// Usage: bench-c-uring-echo [--host 127.0.0.1] [--port N]   (port 0 = kernel picks)
#define _GNU_SOURCE
#include "BenchFloor.h"
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_ENTRIES 4096
#define BUFFERS 512         // a power of two: the provided-buffer ring's size
#define BUFFER_SIZE (64 * 1024)
#define MAX_FDS 65536
#define QUEUE 256           // buffers a connection may hold waiting to be echoed
#define PAUSE_AT 64         // a connection whose peer reads slower stops receiving here
#define RESUME_AT 16        // and receives again once its queue is down to this

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_SIGNAL = 4 };

typedef struct {
    int open;
    int receiving;          // its multishot recv is armed
    int sending;            // a send is in flight: queue[head]
    int done;               // the peer is done: close once its echo is sent
    int failed;             // a send failed: close once nothing is in flight
    int paused;             // its recv was cancelled until its queue drains
    unsigned head, count;   // the queue of received buffers, oldest first
    struct { uint16_t bid; uint32_t offset, length; } queue[QUEUE];
} conn_t;

static struct io_uring ring;
static struct io_uring_buf_ring *buffer_ring;
static char *buffers;
static conn_t *conns;
static int listener;

static void die(const char *what, int err) {
    fprintf(stderr, "%s: %s\n", what, strerror(err));
    exit(1);
}

static uint64_t data(int op, int fd) { return (uint64_t)op | (uint64_t)fd << 8; }

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
        if (!s) die("io_uring_get_sqe", EBUSY);
    }
    return s;
}

static void arm_accept(void) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_multishot_accept(s, listener, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, data(OP_ACCEPT, listener));
}

static void arm_recv(int fd) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, data(OP_RECV, fd));
    conns[fd].receiving = 1;
}

static void give_back(uint16_t bid) {
    io_uring_buf_ring_add(buffer_ring, buffers + (size_t)bid * BUFFER_SIZE, BUFFER_SIZE, bid,
                          io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(buffer_ring, 1);
}

static void send_next(int fd) {
    conn_t *c = &conns[fd];
    if (c->sending || c->count == 0) return;
    typeof(c->queue[0]) *q = &c->queue[c->head];
    struct io_uring_sqe *s = sqe();
    io_uring_prep_send(s, fd, buffers + (size_t)q->bid * BUFFER_SIZE + q->offset, q->length - q->offset, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, data(OP_SEND, fd));
    c->sending = 1;
}

// Closes a connection that is done once nothing in the ring refers to it.
static void close_if_over(int fd) {
    conn_t *c = &conns[fd];
    if (!c->done || c->receiving || c->sending || (c->count > 0 && !c->failed)) return;
    while (c->count > 0) {
        give_back(c->queue[c->head].bid);
        c->head = (c->head + 1) % QUEUE;
        c->count--;
    }
    c->open = 0;
    close(fd);
}

static void on_recv(int fd, struct io_uring_cqe *cqe) {
    conn_t *c = &conns[fd];
    if (!(cqe->flags & IORING_CQE_F_MORE)) c->receiving = 0;
    if (cqe->res > 0) {
        uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (c->count == QUEUE) die("a connection's queue is full", ENOBUFS);
        unsigned tail = (c->head + c->count) % QUEUE;
        c->queue[tail].bid = bid;
        c->queue[tail].offset = 0;
        c->queue[tail].length = (uint32_t)cqe->res;
        c->count++;
        if (!c->done) send_next(fd);
        if (c->count >= PAUSE_AT && c->receiving && !c->paused) {
            c->paused = 1;
            struct io_uring_sqe *s = sqe();
            io_uring_prep_cancel64(s, data(OP_RECV, fd), 0);
            io_uring_sqe_set_data64(s, 0);
        }
    } else if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
        c->done = 1;  // EOF or an error
    }
    // The kernel ended the multishot recv (a full CQ, or every buffer in flight): again.
    if (!c->receiving && !c->done && !c->paused) arm_recv(fd);
    close_if_over(fd);
}

static void on_send(int fd, struct io_uring_cqe *cqe) {
    conn_t *c = &conns[fd];
    c->sending = 0;
    typeof(c->queue[0]) *q = &c->queue[c->head];
    if (cqe->res < 0) {
        c->done = c->failed = 1;  // what is queued is dropped at the close
        if (c->receiving) shutdown(fd, SHUT_RDWR);  // ends the recv, which then closes
    } else if (q->offset + (uint32_t)cqe->res < q->length) {
        q->offset += (uint32_t)cqe->res;  // a short send: the rest goes next
    } else {
        give_back(q->bid);
        c->head = (c->head + 1) % QUEUE;
        c->count--;
    }
    if (cqe->res >= 0) send_next(fd);  // the peer's EOF still gets what came before it
    if (c->paused && c->count <= RESUME_AT && !c->done) {
        c->paused = 0;
        if (!c->receiving) arm_recv(fd);
    }
    close_if_over(fd);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 0;
    if (bench_parse_host_port(argc, argv, &host, &port) < 0) return 1;
    // SIGTERM and SIGINT arrive through a signalfd the ring polls: the wait is never
    // interrupted, and the loop ends when the poll completes.
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);
    int signals = signalfd(-1, &stop_signals, SFD_CLOEXEC);
    if (signals < 0) die("signalfd", errno);

    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad --host %s\n", host); return 1; }
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) die("socket", errno);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind", errno);
    if (listen(listener, 1024) < 0) die("listen", errno);
    socklen_t alen = sizeof addr;
    if (getsockname(listener, (struct sockaddr *)&addr, &alen) < 0) die("getsockname", errno);

    // Completions are finished only when the loop enters the kernel, by this thread alone.
    struct io_uring_params params = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
    int err = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
    if (err < 0) die("io_uring_queue_init", -err);
    buffer_ring = mmap(NULL, BUFFERS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                       MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffer_ring == MAP_FAILED) die("mmap", errno);
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)buffer_ring, .ring_entries = BUFFERS, .bgid = 0 };
    err = io_uring_register_buf_ring(&ring, &reg, 0);
    if (err < 0) die("io_uring_register_buf_ring", -err);
    io_uring_buf_ring_init(buffer_ring);
    buffers = malloc((size_t)BUFFERS * BUFFER_SIZE);
    conns = calloc(MAX_FDS, sizeof *conns);
    if (!buffers || !conns) die("malloc", ENOMEM);
    for (int bid = 0; bid < BUFFERS; bid++) give_back((uint16_t)bid);
    arm_accept();
    struct io_uring_sqe *stop = sqe();
    io_uring_prep_poll_add(stop, signals, POLLIN);
    io_uring_sqe_set_data64(stop, data(OP_SIGNAL, signals));

    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    printf("bench-c-uring-echo listening on %s:%u\n", ip, ntohs(addr.sin_port));
    fflush(stdout);

    for (int stopping = 0; !stopping;) {
        err = io_uring_submit_and_wait(&ring, 1);
        if (err < 0 && err != -EINTR && err != -ETIME && err != -EBUSY) die("io_uring_enter", -err);
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            int op = (int)(cqe->user_data & 0xff);
            int fd = (int)(cqe->user_data >> 8);
            if (op == OP_SIGNAL) {
                stopping = 1;
            } else if (op == OP_ACCEPT) {
                if (cqe->res >= 0 && cqe->res < MAX_FDS) {
                    int tcp = cqe->res;
                    setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    memset(&conns[tcp], 0, sizeof conns[tcp]);
                    conns[tcp].open = 1;
                    arm_recv(tcp);
                } else if (cqe->res >= 0) {
                    close(cqe->res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
            } else if (op == OP_RECV && conns[fd].open) {
                on_recv(fd, cqe);
            } else if (op == OP_SEND && conns[fd].open) {
                on_send(fd, cqe);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    return 0;
}
