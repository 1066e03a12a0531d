// bench-c-tls-echo: the TLS "C floor" for the swift-reactor benchmarks.
//
// bench-c-echo over TLS with OpenSSL: a single-threaded epoll echo server.
// Each connection is registered once, edge-triggered, for EPOLLIN and
// EPOLLOUT together, so no epoll_ctl is needed after accept; which of the two
// it waits for is kept per connection. The handshake is driven by those
// events; then a wakeup reads every record OpenSSL can decrypt (SSL_read
// until WANT_READ, as edge triggering requires) into one 64 KiB buffer and
// writes it back with SSL_write. What SSL_write cannot take is kept, and the
// connection is not read again until that has been flushed.
// Every handshake is a full one: no session cache, no tickets.
//
// Usage: bench-c-tls-echo --cert PATH --key PATH [--host 127.0.0.1] [--port N]   (port 0 = kernel picks)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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
    uint32_t wait;   // EPOLLIN or EPOLLOUT: what the last SSL call is blocked on
    SSL *ssl;
    char *pend;      // echo bytes SSL_write has not taken yet (NULL when none)
    size_t pend_off; // bytes of pend already taken
    size_t pend_len; // bytes in pend
} conn_t;

enum { KEEP = 0, CLOSE_NOTIFY = 1, CLOSE_ERROR = -1 };

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static void die(const char *what) { perror(what); exit(1); }

static void die_tls(const char *what) {
    fprintf(stderr, "%s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

// After a clean close_notify from the peer, one SSL_shutdown answers it; no
// waiting for anything. After a fatal error OpenSSL forbids SSL_shutdown.
static void conn_close(conn_t *c, int how) {
    if (how == CLOSE_NOTIFY) SSL_shutdown(c->ssl);
    // The error queue is per thread: a leftover would make SSL_get_error
    // report SSL_ERROR_SSL on the next connection.
    ERR_clear_error();
    SSL_free(c->ssl); // does not close the fd (SSL_set_fd's BIO has BIO_NOCLOSE)
    close(c->fd);     // closing removes it from the epoll set
    free(c->pend);
    free(c);
}

// A failed SSL call (ret as it returned): KEEP with c->wait set when it only
// needs the socket to become ready, else how to close.
static int blocked(conn_t *c, int ret) {
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ: c->wait = EPOLLIN; return KEEP;
    case SSL_ERROR_WANT_WRITE: c->wait = EPOLLOUT; return KEEP;
    case SSL_ERROR_ZERO_RETURN: return CLOSE_NOTIFY;
    default: return CLOSE_ERROR; // reset, EOF without close_notify, bad record, ...
    }
}

// SSL_write until buf[0..len) is taken or the socket is full (with
// SSL_MODE_ENABLE_PARTIAL_WRITE each call writes one record).
// Returns the bytes taken, or -1 on a failure other than a full socket.
static ssize_t write_some(SSL *ssl, const char *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        size_t n;
        if (!SSL_write_ex(ssl, buf + done, len - done, &n))
            return SSL_get_error(ssl, 0) == SSL_ERROR_WANT_WRITE ? (ssize_t)done : -1;
        done += n;
    }
    return (ssize_t)done;
}

// One readiness report for c: finish the handshake, flush what is pending, echo.
static int serve(conn_t *c, uint32_t events, char *buf) {
    // Edge triggered: a report carries the full readiness, so one without the
    // readiness awaited leaves nothing to do.
    if (!(events & (c->wait | EPOLLERR | EPOLLHUP))) return KEEP;
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) return blocked(c, r);
        // Data that came with the client's Finished may already sit in OpenSSL's
        // buffer, where no new edge will announce it: read on.
        c->wait = EPOLLIN;
    }
    if (c->pend) {
        // A retried SSL_write must offer the same bytes again (at another
        // address: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), which pend holds.
        ssize_t n = write_some(c->ssl, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (n < 0) return CLOSE_ERROR;
        c->pend_off += (size_t)n;
        if (c->pend_off < c->pend_len) return KEEP;
        free(c->pend);
        c->pend = NULL;
        c->wait = EPOLLIN;
    }
    for (;;) {
        // SSL_read returns one record at most: gather what is there, so that
        // small records that arrived together go back in one record and one write.
        size_t len = 0, n;
        int r = 1;
        while (len < BUF_SIZE && (r = SSL_read_ex(c->ssl, buf + len, BUF_SIZE - len, &n))) len += n;
        int rc = r ? KEEP : blocked(c, r); // before SSL_write changes the error state
        if (len) {
            ssize_t w = write_some(c->ssl, buf, len);
            if (w < 0) return CLOSE_ERROR;
            if ((size_t)w < len) {
                // Keep the rest and stop reading this connection until it is gone.
                size_t rest = len - (size_t)w;
                if (!(c->pend = malloc(rest))) return CLOSE_ERROR;
                memcpy(c->pend, buf + w, rest);
                c->pend_off = 0;
                c->pend_len = rest;
                c->wait = EPOLLOUT;
                return KEEP; // an EOF or error seen by SSL_read comes back after the flush
            }
        }
        if (!r) return rc;
        // The buffer filled up: read on.
    }
}

static void accept_all(int ep, int lfd, SSL_CTX *ctx) {
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
        SSL *ssl = c ? SSL_new(ctx) : NULL;
        if (!ssl || !SSL_set_fd(ssl, fd)) {
            ERR_clear_error();
            SSL_free(ssl);
            free(c);
            close(fd);
            continue;
        }
        SSL_set_accept_state(ssl);
        c->fd = fd;
        c->ssl = ssl;
        c->wait = EPOLLIN; // the ClientHello; registering reports it if it is already here
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); conn_close(c, CLOSE_ERROR); }
    }
}

static SSL_CTX *make_ctx(const char *cert, const char *key) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) die_tls("SSL_CTX_new");
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) die_tls("SSL_CTX_set_min_proto_version");
    if (!SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256")) die_tls("SSL_CTX_set_ciphersuites");
    if (!SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256")) die_tls("SSL_CTX_set_cipher_list");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) die_tls("loading --cert");
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die_tls("loading --key");
    if (SSL_CTX_check_private_key(ctx) != 1) die_tls("--key does not match --cert");
    // Full handshakes only. In TLS 1.3 SSL_OP_NO_TICKET alone still sends
    // (stateful) tickets after each handshake; zero tickets sends none.
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    // Partial writes: SSL_write returns per record, so what it took is known
    // when the socket fills. Released buffers: an idle connection holds none.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    // One read() takes as many records as fit, not a header and then a body.
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
    long port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
        else if (!strcmp(argv[i], "--cert") && i + 1 < argc) cert = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc) key = argv[++i];
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) { fprintf(stderr, "bad --port\n"); return 1; }
        } else {
            cert = NULL;
            break;
        }
    }
    if (!cert || !key) {
        fprintf(stderr, "usage: %s --cert PATH --key PATH [--host 127.0.0.1] [--port N]\n", argv[0]);
        return 1;
    }
    SSL_CTX *ctx = make_ctx(cert, key);

    // SIGTERM/SIGINT stay blocked except while we sit in epoll_pwait, so a
    // signal can never slip in between the flag check and the wait.
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t blocked_set, wait_mask;
    sigemptyset(&blocked_set);
    sigaddset(&blocked_set, SIGTERM);
    sigaddset(&blocked_set, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked_set, &wait_mask); // wait_mask = old mask

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
    printf("bench-c-tls-echo listening on %s:%u\n", ip, ntohs(addr.sin_port));
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
            if (!c) { accept_all(ep, lfd, ctx); continue; }
            int rc = serve(c, evs[i].events, buf);
            if (rc != KEEP) conn_close(c, rc);
        }
    }
    return 0;
}
