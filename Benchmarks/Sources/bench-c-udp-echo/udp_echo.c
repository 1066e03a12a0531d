// bench-c-udp-echo: the "C floor" for the swift-reactor UDP benchmarks.
//
// A minimal single-threaded epoll UDP echo server: one non-blocking socket,
// registered once with level-triggered EPOLLIN. A readable event drains the
// socket with recvfrom() into one 64 KiB buffer, each datagram (zero-length
// ones too) sent straight back to its sender with sendto(). Plain calls, one
// datagram each, no batching: the floor the batched paths are measured against.
// A datagram the socket cannot take now is dropped, as UDP may.
//
// Usage: bench-c-udp-echo [--host 127.0.0.1] [--port N]   (port 0 = kernel picks)
#define _GNU_SOURCE
#include "BenchFloor.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024) // more than the largest UDP payload over IPv4 (65,507)

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void die(const char *what) { perror(what); exit(1); }

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
    sigset_t blocked, wait_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &wait_mask); // wait_mask = old mask

    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad --host %s\n", host); return 1; }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    socklen_t alen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = { .events = EPOLLIN };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");

    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
    printf("bench-c-udp-echo listening on UDP %s:%u\n", ip, ntohs(addr.sin_port));
    fflush(stdout);

    static char buf[BUF_SIZE];
    while (!stop_flag) {
        int n = epoll_pwait(ep, &ev, 1, -1, &wait_mask);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait");
        }
        if (n == 0) continue;
        for (;;) {
            struct sockaddr_storage peer;
            socklen_t plen = sizeof peer;
            ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
            if (r < 0) {
                if (errno == EINTR) continue;
                // EAGAIN: drained. Anything else (a queued ICMP error from an
                // earlier sendto) concerns no one datagram: wait for the next event.
                break;
            }
            // Errors (full buffer, unreachable peer) lose this datagram only.
            while (sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&peer, plen) < 0 && errno == EINTR) {}
        }
    }
    return 0;
}
