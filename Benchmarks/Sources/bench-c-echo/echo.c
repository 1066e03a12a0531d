// bench-c-echo: the "C floor" for the swift-reactor benchmarks.
//
// A minimal single-threaded epoll TCP echo server, written for the fewest
// syscalls per echoed message: each connection is registered once with
// level-triggered EPOLLIN; a readable event costs one recv() and one send().
// Only when the peer does not drain its receive side (partial send / EAGAIN)
// is the unsent rest buffered and the interest switched to EPOLLOUT.
//
// Usage: bench-c-echo [--host 127.0.0.1] [--port N]   (port 0 = kernel picks)
#define _GNU_SOURCE
#include "BenchFloor.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 256

typedef struct {
    int fd;
    char *pend;      // unsent rest of the last echo (NULL when none)
    size_t pend_off; // bytes of pend already sent
    size_t pend_len; // bytes in pend
} conn_t;

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void die(const char *what) { perror(what); exit(1); }

static void conn_close(conn_t *c) {
    close(c->fd); // closing removes it from the epoll set
    free(c->pend);
    free(c);
}

static int set_interest(int ep, conn_t *c, uint32_t events) {
    struct epoll_event ev = { .events = events, .data.ptr = c };
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

// Send buf[0..len) once; keep any unsent rest and switch to EPOLLOUT.
// Returns -1 if the connection must be closed.
static int echo_back(int ep, conn_t *c, const char *buf, size_t len) {
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        n = 0;
    }
    if ((size_t)n == len) return 0;
    size_t rest = len - (size_t)n;
    c->pend = malloc(rest);
    if (!c->pend) return -1;
    memcpy(c->pend, buf + n, rest);
    c->pend_off = 0;
    c->pend_len = rest;
    return set_interest(ep, c, EPOLLOUT);
}

// EPOLLOUT: flush the pending rest; back to EPOLLIN once it is gone.
static int flush_pending(int ep, conn_t *c) {
    ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    c->pend_off += (size_t)n;
    if (c->pend_off < c->pend_len) return 0;
    free(c->pend);
    c->pend = NULL;
    return set_interest(ep, c, EPOLLIN);
}

static void accept_all(int ep, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("accept4");
            return; // EAGAIN, or EMFILE etc.: retried on the next event
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        if (!c) { close(fd); continue; }
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); close(fd); free(c); }
    }
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 0;
    if (bench_parse_host_port(argc, argv, &host, &port) < 0) return 1;

    // SIGTERM/SIGINT stay blocked except while we sit in epoll_pwait, so a
    // signal can never slip in between the flag check and the wait.
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t blocked, wait_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &wait_mask); // wait_mask = old mask

    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad --host %s\n", host); return 1; }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 1024) < 0) die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL }; // NULL = listener
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");

    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    printf("bench-c-echo listening on %s:%u\n", ip, ntohs(addr.sin_port));
    fflush(stdout);

    static char buf[BUF_SIZE];
    struct epoll_event evs[MAX_EVENTS];
    while (!stop_flag) {
        int n = epoll_pwait(ep, evs, MAX_EVENTS, -1, &wait_mask);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait");
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) { accept_all(ep, lfd); continue; }
            int rc;
            if (c->pend) {
                // Waiting for EPOLLOUT; EPOLLERR/EPOLLHUP make send() fail.
                rc = flush_pending(ep, c);
            } else {
                // One recv per event: level triggering re-reports leftovers.
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                if (r > 0) rc = echo_back(ep, c, buf, (size_t)r);
                else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) rc = 0;
                else rc = -1; // EOF, ECONNRESET, ...
            }
            if (rc < 0) conn_close(c);
        }
    }
    return 0;
}
