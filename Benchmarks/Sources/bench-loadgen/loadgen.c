// bench-loadgen: lean single-threaded epoll load generator for echo servers.
//
// Echo mode: N connections, each keeping `depth` messages of `size` bytes in
// flight. Message k on connection c is the byte ramp starting at
// (c*31 + k*7) & 0xff, so it is a slice of one precomputed table: sending is
// zero-copy (sendmsg with iovecs into the table) and verification is memcmp
// against the same table, however the echo is split or merged.
// Latencies go into a log-linear histogram (128 sub-buckets per power of two,
// < 0.8% resolution); p50/p99 come from it.
//
// Streaming mode (--stream-bytes B): one connection, B bytes of the pattern
// (o*7 + 13) & 0xff sent as fast as possible while the echo is read back and
// verified by offset. Streams follow one another, each on a new connection,
// until --duration has passed (by default just one); "messages" counts --size
// chunks.
//
// Idle mode (--idle N): N connections, opened in batches that each echo one --size
// message per connection (verified) before the next batch opens, so that the
// server's listen backlog never overflows. Then it prints {"holding":N,...} and
// holds them, idle, until a byte or EOF arrives on stdin; checks that the server
// closed none of them, closes them all and prints {"closed":N,...}. reactor-bench
// reads the server's memory in between.
//
// TLS (--tls; --tls12 forces TLS 1.2): every connection is a TLS client over its
// socket (no certificate verification, SNI "localhost", no session resumption);
// a mode's connections do their handshakes together before it starts. Sends
// are SSL_write, a record (up to 16 KiB) at a time; receives are SSL_read.
//
// Handshake mode (--tls --handshakes): each of --connections slots opens a new
// connection, does a full handshake, echoes one --size message (verified),
// closes and starts over. "messages" counts these round trips, "handshakes"
// the handshakes done; p50/p99 are of a whole round trip, connect to echo.
//
// UDP mode (--udp): each of --connections clients is a UDP socket connect()ed to the
// server, keeping --depth datagrams of --size bytes (0..65507) in flight. A datagram is
// its client's ramp from (c*31) & 0xff; from 8 bytes on, its first 8 carry the client id
// and its sequence number (little-endian, 4 bytes each), which match the echo to it;
// smaller ones are matched in order. Echoes are verified byte for byte. An echo 200 ms
// late counts as lost ("lost", while measuring) and its slot sends a new datagram; a late
// echo that comes anyway is ignored. Sends are send() and receives recv(), one datagram
// each; with --udp-gso, the datagrams due together go out in one sendmsg with UDP_SEGMENT
// (up to 64 segments in one IPv4 datagram's 65,507 bytes), or by sendmmsg where it cannot
// segment (EIO/EINVAL/ENOPROTOOPT, size 0, or size over 32,753); receives are recvmmsg of
// up to 64. "gso" says whether any UDP_SEGMENT send went out. Timing as in echo mode.
//
// Paced mode (--paced): --connections N (tens of thousands), each bound before connect to
// 127.0.0.(1 + c % --sources), so a destination has more than one ephemeral port range
// (loopback servers only). They connect in batches of 256, each completing before the
// next starts, and (for a server on this host, whose listen queue sock_diag shows) once
// the server's accept queue has room for it, so its backlog never overflows: a connect
// completes before the server accepts. "connect_seconds" is the time to connect them all.
// Then each sends one --size message every --interval-ms, connection c's schedule starting
// c/N of an interval in, for --duration (default 20 s), and reads its echo back, verified
// (the echo mode's ramp, message k of connection c). One message is in flight per
// connection: after a late echo, the next message goes out at once, its latency counted
// from its schedule so the wait shows; one sent on its timer counts from the send itself
// (a late wake-up is this process's, not the server's). Echoes still out at the end get
// 2 s more. "expected" counts the messages scheduled, "messages" those echoed; "max_us"
// is exact. --burst: then one more message on every connection, all sent at once and
// every echo awaited, and {"burst":N,...} follows. --hold: then, as in idle mode, every connection stays open until a byte or
// EOF on stdin, and {"closed":N,...} follows. Connections close with a reset (no
// TIME_WAIT). RLIMIT_NOFILE's soft limit is raised to the hard one; N beyond it is an error.
//
// Output: exactly one JSON line on stdout (idle mode two; --paced one more each for --burst
// and --hold).
// Errors: {"error":...}, exit 2.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define RECV_BUF (256 * 1024)
#define MAX_IOV 64
#define STREAM_CHUNK (256 * 1024)
#define IDLE_LIMIT_NS (10ull * 1000000000ull)
#define IDLE_BATCH 256
#define TLS_RECORD 16384 // the largest TLS plaintext record
#define UDP_MAX_PAYLOAD 65507 // 65535 less the IPv4 and UDP headers
#define UDP_BATCH 64          // datagrams per sendmmsg / recvmmsg, segments per UDP_SEGMENT send
#define UDP_LOSS_NS (200ull * 1000000ull)   // an echo this late counts as lost
#define UDP_CHECK_NS (50ull * 1000000ull)   // how often in-flight datagrams are checked for loss
#define PACED_BATCH 256       // connects outstanding at once: two batches fit a 511 backlog
#define PACED_GRACE_NS (2ull * 1000000000ull) // how long the echoes still out may take at the end
#define FD_MARGIN 64          // descriptors besides the connections (stdio, epoll, ...)

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

// ---------------------------------------------------------------- utilities

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// How long epoll_wait may sleep at `now`: until `deadline` (the run's end, or the warm-up's),
// and no later than the idle limit after the last reply, in whole milliseconds rounded up.
static int wait_timeout(uint64_t now, uint64_t deadline, uint64_t last_rx) {
    if (deadline > last_rx + IDLE_LIMIT_NS) deadline = last_rx + IDLE_LIMIT_NS;
    return deadline > now ? (int)((deadline - now + 999999) / 1000000) : 0;
}

static uint64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static void fail(const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    printf("{\"error\":\"%s\",\"errors\":1}\n", msg);
    fflush(stdout);
    exit(2);
}

// ---------------------------------------------------------------- histogram

#define SUB_BITS 7
#define SUB (1u << SUB_BITS)          // 128 linear sub-buckets per octave
#define MAX_EXP 40                    // values up to 2^40 ns (~18 min)
#define NBUCKETS (SUB + (MAX_EXP - SUB_BITS) * SUB)

static uint64_t hist[NBUCKETS];
static uint64_t hist_count;

static unsigned bucket_of(uint64_t v) {
    if (v < SUB) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); // e >= SUB_BITS
    if (e >= MAX_EXP) return NBUCKETS - 1;
    unsigned m = (unsigned)(v >> (e - SUB_BITS));     // in [SUB, 2*SUB)
    return SUB + (e - SUB_BITS) * SUB + (m - SUB);
}

static double bucket_mid(unsigned b) {
    if (b < SUB) return (double)b;
    unsigned e = (b - SUB) / SUB + SUB_BITS, m = (b - SUB) % SUB + SUB;
    return ((double)m + 0.5) * (double)(1ull << (e - SUB_BITS));
}

static double percentile_us(double p) {
    if (!hist_count) return 0;
    uint64_t rank = (uint64_t)(p * (double)hist_count + 0.999999), acc = 0;
    if (rank < 1) rank = 1;
    for (unsigned b = 0; b < NBUCKETS; b++)
        if ((acc += hist[b]) >= rank) return bucket_mid(b) / 1000.0;
    return bucket_mid(NBUCKETS - 1) / 1000.0;
}

// ---------------------------------------------------------------- options

static const char *opt_host = "127.0.0.1";
static long opt_port = -1, opt_conns = 1, opt_size = 64, opt_depth = 1;
static double opt_duration = -1, opt_warmup = -1;
static long long opt_messages = 0, opt_stream = 0, opt_idle = 0;
static int opt_tls = 0, opt_tls12 = 0, opt_handshakes = 0;
static int opt_udp = 0, opt_udp_gso = 0, opt_paced = 0, opt_hold = 0, opt_burst = 0;
static long opt_interval_ms = -1, opt_sources = -1;

static void usage(void) {
    fprintf(stderr, "usage: bench-loadgen --port N [--host H] [--connections N] [--size B] [--depth D]\n"
                    "       [--duration S | --messages M] [--warmup S] [--stream-bytes B] [--tls [--tls12]]\n"
                    "       bench-loadgen --port N --idle N [--size B] [--tls [--tls12]]\n"
                    "       bench-loadgen --port N --tls [--tls12] --handshakes [--connections N] [--size B]\n"
                    "       [--duration S | --messages M] [--warmup S]\n"
                    "       bench-loadgen --port N --udp [--udp-gso] [--connections N] [--size B] [--depth D]\n"
                    "       [--duration S | --messages M] [--warmup S]\n"
                    "       bench-loadgen --port N --paced [--connections N] [--interval-ms I] [--duration S]\n"
                    "       [--size B] [--sources K] [--burst] [--hold]\n");
    exit(1);
}

static long long parse_int(const char *s, long long lo, long long hi) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) usage();
    return v;
}

static double parse_double(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v >= 0)) usage();
    return v;
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--tls")) { opt_tls = 1; continue; }
        if (!strcmp(k, "--tls12")) { opt_tls12 = 1; continue; }
        if (!strcmp(k, "--handshakes")) { opt_handshakes = 1; continue; }
        if (!strcmp(k, "--udp")) { opt_udp = 1; continue; }
        if (!strcmp(k, "--udp-gso")) { opt_udp = opt_udp_gso = 1; continue; }
        if (!strcmp(k, "--paced")) { opt_paced = 1; continue; }
        if (!strcmp(k, "--hold")) { opt_hold = 1; continue; }
        if (!strcmp(k, "--burst")) { opt_burst = 1; continue; }
        if (!v || strncmp(k, "--", 2)) usage();
        i++;
        if (!strcmp(k, "--host")) opt_host = v;
        else if (!strcmp(k, "--port")) opt_port = (long)parse_int(v, 1, 65535);
        else if (!strcmp(k, "--connections")) opt_conns = (long)parse_int(v, 1, 100000);
        else if (!strcmp(k, "--size")) opt_size = (long)parse_int(v, 0, 64 << 20); // 0: UDP only
        else if (!strcmp(k, "--depth")) opt_depth = (long)parse_int(v, 1, 1 << 20);
        else if (!strcmp(k, "--duration")) opt_duration = parse_double(v);
        else if (!strcmp(k, "--messages")) opt_messages = parse_int(v, 1, INT64_MAX);
        else if (!strcmp(k, "--warmup")) opt_warmup = parse_double(v);
        else if (!strcmp(k, "--stream-bytes")) opt_stream = parse_int(v, 1, INT64_MAX);
        else if (!strcmp(k, "--idle")) opt_idle = parse_int(v, 1, 1000000);
        else if (!strcmp(k, "--interval-ms")) opt_interval_ms = (long)parse_int(v, 1, 3600000);
        else if (!strcmp(k, "--sources")) opt_sources = (long)parse_int(v, 1, 254);
        else usage();
    }
    if (opt_port < 0) usage();
    if ((opt_tls12 || opt_handshakes) && !opt_tls) usage();
    if (opt_handshakes && (opt_stream || opt_idle)) usage();
    if ((opt_udp || opt_paced) && (opt_tls || opt_stream || opt_idle || opt_handshakes || (opt_udp && opt_paced))) usage();
    if (opt_udp ? opt_size > UDP_MAX_PAYLOAD : opt_size < 1) usage();
    if (!opt_paced && (opt_hold || opt_burst || opt_interval_ms >= 0 || opt_sources >= 0)) usage();
    if (opt_paced && opt_messages) usage();
    if (opt_interval_ms < 0) opt_interval_ms = 1000;
    if (opt_sources < 0) opt_sources = 1;
    if (opt_warmup < 0) opt_warmup = (opt_messages || opt_stream) ? 0.0 : 0.5;
    if (opt_duration < 0) opt_duration = opt_stream ? 0.0 : opt_paced ? 20.0 : 5.0; // a stream: just one
}

// ---------------------------------------------------------------- sockets

static int ep;
static struct sockaddr_in server;

static int connect_one(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0) fail("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void watch(int fd, void *ptr, uint32_t events, int op) {
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    if (epoll_ctl(ep, op, fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
}

// recv() that turns EOF / errors into a failure report; returns 0 on EAGAIN.
static size_t recv_checked(int fd, char *buf, size_t cap) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n > 0) return (size_t)n;
    if (n == 0) fail("connection closed by server before done");
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    fail("recv: %s", strerror(errno));
    return 0;
}

static void check_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) fail("socket error: %s", strerror(err));
}

// Report the first differing byte of a failed memcmp; `off` = offset of got[0].
static void mismatch(const char *where, uint64_t off, const char *got, const char *want, size_t n) {
    size_t i = 0;
    while (i < n && got[i] == want[i]) i++;
    fail("echo mismatch (%s, byte %llu): got 0x%02x want 0x%02x", where, (unsigned long long)(off + i),
         (unsigned char)got[i], (unsigned char)want[i]);
}

// handshakes < 0: not the handshake mode, no such field. extra: more fields, each with its comma, or "".
static void print_result(long long msgs, long long bytes, double secs, double cpu_pct, double p50, double p99,
                         long long handshakes, const char *extra) {
    if (secs <= 0) secs = 1e-9;
    printf("{\"messages\":%lld,\"bytes\":%lld,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.2f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"client_cpu_percent\":%.1f,",
           msgs, bytes, secs, (double)msgs / secs, (double)bytes / secs / 1e6, p50, p99, cpu_pct);
    if (handshakes >= 0) printf("\"handshakes\":%lld,", handshakes);
    printf("%s\"errors\":0}\n", extra);
    fflush(stdout);
}

// ---------------------------------------------------------------- TLS

static SSL_CTX *tls; // NULL: plain TCP

static const char *tls_reason(void) {
    const char *r = ERR_reason_error_string(ERR_get_error());
    return r ? r : "unknown error";
}

static int accept_any_certificate(X509_STORE_CTX *store, void *arg) {
    (void)store, (void)arg;
    return 1;
}

static void tls_init(void) {
    int version = opt_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    tls = SSL_CTX_new(TLS_client_method());
    if (!tls || !SSL_CTX_set_min_proto_version(tls, version) || !SSL_CTX_set_max_proto_version(tls, version) ||
        !SSL_CTX_set_ciphersuites(tls, "TLS_AES_128_GCM_SHA256") ||
        !SSL_CTX_set_cipher_list(tls, "ECDHE-ECDSA-AES128-GCM-SHA256"))
        fail("TLS setup: %s", tls_reason());
    // A benchmark: any certificate will do, and no chain is built to be ignored.
    SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(tls, accept_any_certificate, NULL);
    // Every handshake a full one.
    SSL_CTX_set_options(tls, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(tls, SSL_SESS_CACHE_OFF);
    // Partial writes: SSL_write returns after each record, so what went out is
    // known as with sendmsg. Moving buffer: a write retried after WANT_WRITE
    // offers the same bytes, but not always from the same buffer.
    SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // One read() takes as many records as fit, not a header and then a body.
    SSL_CTX_set_read_ahead(tls, 1);
}

static SSL *tls_new(int fd) {
    SSL *ssl = SSL_new(tls);
    if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, "localhost")) fail("SSL_new: %s", tls_reason());
    SSL_set_connect_state(ssl);
    return ssl;
}

// A failed SSL call (ret as it returned): the readiness it waits for,
// EPOLLIN or EPOLLOUT. Anything else is a failure report.
static uint32_t tls_wait(SSL *ssl, int ret, const char *what) {
    int err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ) return EPOLLIN;
    if (err == SSL_ERROR_WANT_WRITE) return EPOLLOUT;
    if (err == SSL_ERROR_ZERO_RETURN) fail("connection closed by server before done");
    if (err == SSL_ERROR_SYSCALL && !ERR_peek_error())
        fail("%s: %s", what, errno ? strerror(errno) : "connection closed by server");
    fail("%s: %s", what, tls_reason());
    return 0;
}

// SSL_read (one record at most); 0 when it needs the socket to become readable.
static size_t tls_read(SSL *ssl, char *buf, size_t cap) {
    size_t n;
    if (SSL_read_ex(ssl, buf, cap, &n)) return n;
    if (tls_wait(ssl, 0, "SSL_read") != EPOLLIN) fail("SSL_read wants to write (renegotiation?)");
    return 0;
}

// SSL_write (one record at most); 0 when the socket is full. The call after a
// 0 must offer the same bytes again, at least as many.
static size_t tls_write(SSL *ssl, const void *buf, size_t len) {
    size_t n;
    if (SSL_write_ex(ssl, buf, len, &n)) return n;
    if (tls_wait(ssl, 0, "SSL_write") != EPOLLOUT) fail("SSL_write wants to read (renegotiation?)");
    return 0;
}

// recv(), or SSL_read over TLS; 0 when nothing is there now.
static size_t read_some(int fd, SSL *ssl, char *buf, size_t cap) {
    return ssl ? tls_read(ssl, buf, cap) : recv_checked(fd, buf, cap);
}

// Whether to read again before waiting: level-triggered epoll reports what is
// left in the socket, but not the records OpenSSL has already read ahead.
static int read_more(SSL *ssl) { return ssl && SSL_has_pending(ssl); }

// One step of connection i's handshake in handshake_all.
static void handshake_step(int hep, SSL **ssl, uint32_t *wait, long long i, long long *left) {
    int r = SSL_do_handshake(ssl[i]);
    int fd = SSL_get_fd(ssl[i]);
    if (r == 1) {
        wait[i] = 0;
        (*left)--;
        if (epoll_ctl(hep, EPOLL_CTL_DEL, fd, NULL) < 0) fail("epoll_ctl: %s", strerror(errno));
        return;
    }
    uint32_t w = tls_wait(ssl[i], r, "handshake");
    if (w == wait[i]) return;
    wait[i] = w;
    struct epoll_event ev = { .events = w == EPOLLOUT ? EPOLLIN | EPOLLOUT : EPOLLIN, .data.u64 = (uint64_t)i };
    if (epoll_ctl(hep, EPOLL_CTL_MOD, fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
}

// Drives the handshakes of n new connections together, on an epoll set of
// their own, so that the caller's registrations do not matter.
static void handshake_all(SSL **ssl, long long n) {
    int hep = epoll_create1(EPOLL_CLOEXEC);
    uint32_t *wait = calloc((size_t)n, sizeof *wait); // what each waits for; 0 once done
    if (hep < 0 || !wait) fail("handshakes: %s", hep < 0 ? strerror(errno) : "out of memory");
    for (long long i = 0; i < n; i++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
        if (epoll_ctl(hep, EPOLL_CTL_ADD, SSL_get_fd(ssl[i]), &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
        wait[i] = EPOLLIN;
    }
    long long left = n;
    for (long long i = 0; i < n; i++) handshake_step(hep, ssl, wait, i, &left); // the ClientHellos
    uint64_t last = now_ns();
    struct epoll_event evs[MAX_EVENTS];
    while (left > 0) {
        int k = epoll_wait(hep, evs, MAX_EVENTS, 1000);
        if (k < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        for (int e = 0; e < k; e++) {
            long long i = (long long)evs[e].data.u64;
            if (wait[i]) handshake_step(hep, ssl, wait, i, &left);
        }
        uint64_t now = now_ns();
        if (k > 0) last = now;
        else if (now - last >= IDLE_LIMIT_NS) fail("TLS handshake: no progress for 10 s");
    }
    close(hep); // its registrations go with it
    free(wait);
}

static char rbuf[RECV_BUF];

// ---------------------------------------------------------------- echo mode

typedef struct {
    int fd, id;
    int want_out;           // EPOLLOUT currently registered
    uint64_t s_msg, s_off;  // message being sent, bytes of it already sent
    uint64_t r_msg, r_off;  // message being received, bytes of it verified
    uint64_t *ts;           // send timestamps, ring of `depth` (index k % depth)
    SSL *ssl;               // NULL: plain TCP
    size_t retry;           // bytes the SSL_write that found the socket full offered
} conn_t;

static unsigned char *ramp; // ramp[j] = j & 0xff, length size + 256
static uint64_t size, depth;
static uint64_t started, start_cap = UINT64_MAX; // messages whose first byte went out
static uint64_t completed, done_target = UINT64_MAX; // verified echoes (all phases)
static int measuring;

static inline const unsigned char *msg_bytes(const conn_t *c, uint64_t k) {
    return ramp + (((uint64_t)c->id * 31 + k * 7) & 0xff);
}

// Account for n bytes that went out; a message is timestamped when its first byte is accepted.
static void account_sent(conn_t *c, uint64_t n, uint64_t t) {
    for (uint64_t rem = n; rem > 0;) {
        if (c->s_off == 0) { c->ts[c->s_msg % depth] = t; started++; }
        uint64_t left = size - c->s_off;
        if (rem >= left) { rem -= left; c->s_msg++; c->s_off = 0; }
        else { c->s_off += rem; rem = 0; }
    }
}

static void send_more_tls(conn_t *c);

// Send as many messages as the window allows, in as few sendmsg calls as possible.
static void send_more(conn_t *c) {
    if (c->ssl) { send_more_tls(c); return; }
    for (;;) {
        struct iovec iov[MAX_IOV];
        int cnt = 0;
        uint64_t k = c->s_msg, off = c->s_off, fresh = 0, total = 0;
        while (k < c->r_msg + depth && cnt < MAX_IOV) {
            if (off == 0 && started + fresh >= start_cap) break; // --messages budget used up
            if (off == 0) fresh++;
            iov[cnt].iov_base = (void *)(msg_bytes(c, k) + off);
            iov[cnt].iov_len = size - off;
            total += size - off;
            cnt++, k++, off = 0;
        }
        if (cnt == 0) break;
        uint64_t t = now_ns();
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) goto blocked;
            fail("send: %s", strerror(errno));
        }
        account_sent(c, (uint64_t)n, t);
        if ((uint64_t)n < total) goto blocked; // socket buffer full
    }
    if (c->want_out) { c->want_out = 0; watch(c->fd, c, EPOLLIN, EPOLL_CTL_MOD); }
    return;
blocked:
    if (!c->want_out) { c->want_out = 1; watch(c->fd, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD); }
}

// send_more over TLS, which has no gathering write: one SSL_write per record,
// of a message (or its rest) straight from the table, or of several small
// ones copied into one buffer, which costs less than a record each.
static void send_more_tls(conn_t *c) {
    static char wbuf[TLS_RECORD];
    for (;;) {
        const char *buf = NULL;
        size_t total = 0;
        uint64_t k = c->s_msg, off = c->s_off, fresh = 0;
        while (k < c->r_msg + depth && total < TLS_RECORD) {
            // A retried write offers at least what it offered before, budget or not.
            if (off == 0 && started + fresh >= start_cap && total >= c->retry) break;
            if (off == 0) fresh++;
            const char *p = (const char *)msg_bytes(c, k) + off;
            size_t len = (size_t)(size - off);
            if (!buf) {
                buf = p, total = len;
            } else {
                if (buf != wbuf) buf = memcpy(wbuf, buf, total);
                if (len > TLS_RECORD - total) len = TLS_RECORD - total;
                memcpy(wbuf + total, p, len);
                total += len;
            }
            k++, off = 0;
        }
        if (total == 0) break;
        uint64_t t = now_ns();
        size_t n = tls_write(c->ssl, buf, total);
        if (n == 0) {
            c->retry = total < TLS_RECORD ? total : TLS_RECORD; // the record it cut from them, at most
            goto blocked;
        }
        c->retry = 0;
        account_sent(c, n, t);
    }
    if (c->want_out) { c->want_out = 0; watch(c->fd, c, EPOLLIN, EPOLL_CTL_MOD); }
    return;
blocked:
    if (!c->want_out) { c->want_out = 1; watch(c->fd, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD); }
}

// Verify n received bytes in rbuf against the messages in flight. Returns messages completed.
static uint64_t check_echo(conn_t *c, size_t n, uint64_t *last_rx) {
    uint64_t t = now_ns(), done = 0;
    *last_rx = t;
    const char *p = rbuf;
    while (n > 0) {
        // Bytes of message r_msg that were sent but not yet echoed.
        uint64_t avail = c->r_msg < c->s_msg ? size - c->r_off : c->s_off - c->r_off;
        if (c->r_msg > c->s_msg || avail == 0 || (c->r_msg == c->s_msg && c->r_off >= c->s_off))
            fail("received more bytes than sent on connection %d", c->id);
        size_t chunk = avail < n ? (size_t)avail : n;
        const char *want = (const char *)msg_bytes(c, c->r_msg) + c->r_off;
        if (memcmp(p, want, chunk)) {
            char where[64];
            snprintf(where, sizeof where, "connection %d, message %llu", c->id, (unsigned long long)c->r_msg);
            mismatch(where, c->r_off, p, want, chunk);
        }
        p += chunk, n -= chunk, c->r_off += chunk;
        if (c->r_off == size) {
            if (measuring) { hist[bucket_of(t - c->ts[c->r_msg % depth])]++; hist_count++; }
            c->r_msg++, c->r_off = 0, done++;
            if (++completed == done_target) return done;
        }
    }
    return done;
}

// One recv (TLS: SSL_reads while OpenSSL holds more), verified. Returns messages completed.
static uint64_t recv_echo(conn_t *c, uint64_t *last_rx) {
    uint64_t done = 0;
    do {
        size_t n = read_some(c->fd, c->ssl, rbuf, sizeof rbuf);
        if (!n) break;
        done += check_echo(c, n, last_rx);
        if (completed == done_target) break;
    } while (read_more(c->ssl));
    return done;
}

// The timed phase of the echo and handshake modes: a warm-up, then --duration (or --messages)
// counted from when it ends.
static uint64_t warm_end, run_ns, t_start, cpu_start, done_base;

// Starts counting: now, or with the budget of --messages from here.
static void begin_measure(uint64_t t) {
    measuring = 1;
    t_start = t;
    cpu_start = cpu_ns();
    done_base = completed;
    if (opt_messages) start_cap = done_target = completed + (uint64_t)opt_messages;
}

// Counting starts right away (no warm-up) or once the warm-up ends.
static void phase_start(uint64_t t0) {
    warm_end = t0 + (uint64_t)(opt_warmup * 1e9);
    run_ns = (uint64_t)(opt_duration * 1e9);
    if (opt_warmup <= 0) begin_measure(t0);
}

// How long epoll_wait may sleep: until the warm-up's or the run's end.
static int phase_timeout(uint64_t now, uint64_t last_rx) {
    return wait_timeout(now, measuring ? (opt_messages ? now + 1000000000ull : t_start + run_ns) : warm_end, last_rx);
}

// After a batch of events: starts counting once the warm-up is over; true once the run is.
static int phase_over(uint64_t now, uint64_t last_rx) {
    if (!measuring && now >= warm_end) begin_measure(now);
    else if (measuring && !opt_messages && now >= t_start + run_ns) return 1;
    if (now - last_rx >= IDLE_LIMIT_NS) fail("no data received for 10 s");
    return 0;
}

// The JSON line of the counted phase (`handshakes` -1: none; `extra` as for print_result).
static void phase_report(long long handshakes, const char *extra) {
    double secs = (double)(now_ns() - t_start) / 1e9;
    double cpu_pct = secs > 0 ? (double)(cpu_ns() - cpu_start) / 1e9 / secs * 100.0 : 0;
    long long msgs = (long long)(completed - done_base);
    print_result(msgs, msgs * (long long)size, secs, cpu_pct, percentile_us(0.50), percentile_us(0.99), handshakes, extra);
}

static int run_echo(void) {
    size = (uint64_t)opt_size;
    depth = (uint64_t)opt_depth;
    ramp = malloc(size + 256);
    conn_t *conns = calloc((size_t)opt_conns, sizeof *conns);
    if (!ramp || !conns) fail("out of memory");
    for (uint64_t j = 0; j < size + 256; j++) ramp[j] = (unsigned char)j;

    for (long i = 0; i < opt_conns; i++) {
        conn_t *c = &conns[i];
        c->id = (int)i;
        c->fd = connect_one();
        c->ts = calloc(depth, sizeof *c->ts);
        if (!c->ts) fail("out of memory");
        watch(c->fd, c, EPOLLIN, EPOLL_CTL_ADD);
        if (tls) c->ssl = tls_new(c->fd);
    }
    if (tls) {
        SSL **ssl = malloc((size_t)opt_conns * sizeof *ssl);
        if (!ssl) fail("out of memory");
        for (long i = 0; i < opt_conns; i++) ssl[i] = conns[i].ssl;
        handshake_all(ssl, opt_conns);
        free(ssl);
    }

    uint64_t t0 = now_ns(), last_rx = t0;
    phase_start(t0);

    for (long i = 0; i < opt_conns; i++) send_more(&conns[i]);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        int n = epoll_wait(ep, evs, MAX_EVENTS, phase_timeout(now, last_rx));
        if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            uint64_t got = 0;
            if (e & EPOLLERR) check_socket_error(c->fd);
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) got = recv_echo(c, &last_rx);
            if (completed == done_target) goto finished;
            if (got || (e & EPOLLOUT)) send_more(c);
        }
        if (phase_over(now_ns(), last_rx)) break;
    }
finished:
    phase_report(-1, "");
    return 0;
}

// ---------------------------------------------------------------- stream mode

// Streams `total` bytes through one new connection and reads them back, verified.
static void stream_once(const unsigned char *pat, uint64_t total) {
    uint64_t sent = 0, rcvd = 0;
    int fd = connect_one();
    SSL *ssl = NULL;
    if (tls) {
        ssl = tls_new(fd);
        handshake_all(&ssl, 1);
    }
    int want_out = 1;
    watch(fd, NULL, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
    uint64_t last_rx = now_ns();
    struct epoll_event evs[1];

    while (rcvd < total) {
        int n = epoll_wait(ep, evs, 1, 1000);
        if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        uint32_t e = n > 0 ? evs[0].events : 0;
        if (e & EPOLLERR) check_socket_error(fd);
        if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            do {
                size_t r = read_some(fd, ssl, rbuf, sizeof rbuf);
                if (!r) break;
                last_rx = now_ns();
                if (rcvd + r > sent) fail("received more bytes than sent");
                const char *want = (const char *)pat + (rcvd & 0xff);
                if (memcmp(rbuf, want, r)) mismatch("stream", rcvd, rbuf, want, r);
                rcvd += r;
            } while (read_more(ssl));
        }
        if ((e & EPOLLOUT) && sent < total) {
            size_t len = total - sent < STREAM_CHUNK ? (size_t)(total - sent) : STREAM_CHUNK;
            if (ssl) {
                // A record per SSL_write: up to a chunk of them, as much as one send() offers.
                // A retry after a full socket offers the same bytes, as sent has not moved.
                for (uint64_t end = sent + len; sent < end;) {
                    size_t s = tls_write(ssl, pat + (sent & 0xff), (size_t)(end - sent));
                    if (!s) break;
                    sent += s;
                }
            } else {
                ssize_t s = send(fd, pat + (sent & 0xff), len, MSG_NOSIGNAL);
                if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    fail("send: %s", strerror(errno));
                if (s > 0) sent += (uint64_t)s;
            }
            if (sent == total && want_out) { want_out = 0; watch(fd, NULL, EPOLLIN, EPOLL_CTL_MOD); }
        }
        if (now_ns() - last_rx >= IDLE_LIMIT_NS) fail("no data received for 10 s");
    }
    if (ssl) {
        SSL_shutdown(ssl); // close_notify, without waiting for the server's
        SSL_free(ssl);
    }
    close(fd); // also leaves the epoll set
}

static int run_stream(void) {
    unsigned char *pat = malloc(STREAM_CHUNK + 256); // pattern is periodic in 256
    if (!pat) fail("out of memory");
    for (uint64_t j = 0; j < STREAM_CHUNK + 256; j++) pat[j] = (unsigned char)(j * 7 + 13);

    uint64_t t0 = now_ns(), cpu0 = cpu_ns(), bytes = 0;
    do {
        stream_once(pat, (uint64_t)opt_stream);
        bytes += (uint64_t)opt_stream;
    } while ((double)(now_ns() - t0) / 1e9 < opt_duration);
    double secs = (double)(now_ns() - t0) / 1e9;
    double cpu_pct = secs > 0 ? (double)(cpu_ns() - cpu0) / 1e9 / secs * 100.0 : 0;
    print_result((long long)(bytes / (uint64_t)opt_size), (long long)bytes, secs, cpu_pct, 0, 0, -1, "");
    return 0;
}

// ---------------------------------------------------------------- idle mode

// Connection i sends the ramp slice starting at (i*31) & 0xff.
static const unsigned char *idle_message(const unsigned char *pattern, long long i) {
    return pattern + ((i * 31) & 0xff);
}

// Opens connections [first, first+count), sends one message on each, verifies every echo.
// ssls: NULL for plain TCP.
static void idle_batch(int *fds, SSL **ssls, long long first, long long count, const unsigned char *pattern,
                       size_t *got) {
    if (ssls) {
        // The batch's handshakes go together, before the messages.
        for (long long i = first; i < first + count; i++) {
            fds[i] = connect_one();
            ssls[i] = tls_new(fds[i]);
            // Held idle by the thousand: no buffers between uses.
            SSL_set_mode(ssls[i], SSL_MODE_RELEASE_BUFFERS);
        }
        handshake_all(ssls + first, count);
    }
    for (long long i = first; i < first + count; i++) {
        if (!ssls) fds[i] = connect_one();
        got[i - first] = 0;
        ssize_t n;
        if (ssls) {
            const unsigned char *m = idle_message(pattern, i);
            size_t done = 0, w;
            while (done < (size_t)opt_size && (w = tls_write(ssls[i], m + done, (size_t)opt_size - done))) done += w;
            n = (ssize_t)done;
        } else {
            n = send(fds[i], idle_message(pattern, i), (size_t)opt_size, MSG_NOSIGNAL);
        }
        if (n != opt_size) fail("send on connection %lld: %s", i, n < 0 ? strerror(errno) : "short");
        watch(fds[i], (void *)(intptr_t)i, EPOLLIN, EPOLL_CTL_ADD);
    }
    long long left = count;
    uint64_t last_rx = now_ns();
    struct epoll_event evs[MAX_EVENTS];
    while (left > 0) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
        if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        for (int e = 0; e < n; e++) {
            long long i = (long long)(intptr_t)evs[e].data.ptr;
            SSL *ssl = ssls ? ssls[i] : NULL;
            size_t *have = &got[i - first];
            if (evs[e].events & EPOLLERR) check_socket_error(fds[i]);
            do {
                size_t r = read_some(fds[i], ssl, rbuf, sizeof rbuf);
                if (!r) break;
                last_rx = now_ns();
                if (*have + r > (size_t)opt_size) fail("received more bytes than sent on connection %lld", i);
                const char *want = (const char *)idle_message(pattern, i) + *have;
                if (memcmp(rbuf, want, r)) {
                    char where[64];
                    snprintf(where, sizeof where, "connection %lld", i);
                    mismatch(where, *have, rbuf, want, r);
                }
                if ((*have += r) == (size_t)opt_size) {
                    watch(fds[i], NULL, 0, EPOLL_CTL_DEL);
                    left--;
                }
            } while (read_more(ssl));
        }
        if (now_ns() - last_rx >= IDLE_LIMIT_NS) fail("no data received for 10 s");
    }
}

static int run_idle(void) {
    long long total = opt_idle;
    int *fds = calloc((size_t)total, sizeof *fds);
    SSL **ssls = tls ? calloc((size_t)total, sizeof *ssls) : NULL;
    size_t *got = calloc(IDLE_BATCH, sizeof *got);
    unsigned char *pattern = malloc((size_t)opt_size + 256);
    if (!fds || (tls && !ssls) || !got || !pattern) fail("out of memory");
    for (long j = 0; j < opt_size + 256; j++) pattern[j] = (unsigned char)j;
    for (long long first = 0; first < total; first += IDLE_BATCH)
        idle_batch(fds, ssls, first, total - first < IDLE_BATCH ? total - first : IDLE_BATCH, pattern, got);
    printf("{\"holding\":%lld,\"errors\":0}\n", total);
    fflush(stdout);

    char byte;
    while (read(0, &byte, 1) < 0 && errno == EINTR) {}
    // A connection the server closed, or wrote to, while it was idle would be readable now.
    for (long long i = 0; i < total; i++) {
        char c;
        ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (n == 0) fail("the server closed idle connection %lld", i);
        if (n > 0) fail("the server sent unasked bytes on idle connection %lld", i);
        if (errno != EAGAIN && errno != EWOULDBLOCK) fail("idle connection %lld: %s", i, strerror(errno));
    }
    for (long long i = 0; i < total; i++) {
        if (ssls) {
            SSL_shutdown(ssls[i]); // close_notify, without waiting for the server's
            SSL_free(ssls[i]);
        }
        close(fds[i]);
    }
    printf("{\"closed\":%lld,\"errors\":0}\n", total);
    fflush(stdout);
    return 0;
}

// ---------------------------------------------------------------- handshake mode

typedef struct {
    int fd, id;
    int phase;        // 0: handshake, 1: send the message, 2: receive its echo
    uint32_t events;  // registered with epoll
    SSL *ssl;
    uint64_t round;   // round trips done by this slot; picks the message
    uint64_t off;     // bytes of the message sent (phase 1) or verified (phase 2)
    uint64_t t0;      // when the connection was opened
} slot_t;

static uint64_t handshakes; // done while measuring

static void slot_open(slot_t *s) {
    s->t0 = now_ns();
    s->fd = connect_one();
    // Closing resets the connection instead of a FIN exchange, so the client
    // keeps no TIME_WAIT: thousands of connections a second would otherwise
    // use up the local ports. The server, closed by the reset, keeps none either.
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0) fail("SO_LINGER: %s", strerror(errno));
    s->ssl = tls_new(s->fd);
    s->phase = 0, s->off = 0, s->events = EPOLLIN;
    watch(s->fd, s, EPOLLIN, EPOLL_CTL_ADD);
}

// Takes slot s as far as it goes without waiting: through the handshake,
// message and echo, to a new connection. Returns the round trips completed.
static uint64_t slot_run(slot_t *s, uint64_t *last_rx) {
    uint64_t done = 0;
    const unsigned char *msg = ramp + (((uint64_t)s->id * 31 + s->round * 7) & 0xff);
    for (;;) {
        uint32_t wait;
        if (s->phase == 0) {
            int r = SSL_do_handshake(s->ssl);
            if (r == 1) {
                s->phase = 1;
                if (measuring) handshakes++;
                continue;
            }
            wait = tls_wait(s->ssl, r, "handshake");
        } else if (s->phase == 1) {
            size_t n = tls_write(s->ssl, msg + s->off, (size_t)(size - s->off));
            if (n) {
                if ((s->off += n) == size) s->phase = 2, s->off = 0;
                continue;
            }
            wait = EPOLLOUT;
        } else {
            size_t n = tls_read(s->ssl, rbuf, sizeof rbuf);
            if (n) {
                uint64_t t = now_ns();
                *last_rx = t;
                if (s->off + n > size) fail("received more bytes than sent on connection %d", s->id);
                if (memcmp(rbuf, msg + s->off, n)) {
                    char where[64];
                    snprintf(where, sizeof where, "connection %d, round %llu", s->id, (unsigned long long)s->round);
                    mismatch(where, s->off, rbuf, (const char *)msg + s->off, n);
                }
                if ((s->off += n) < size) continue;
                if (measuring) { hist[bucket_of(t - s->t0)]++; hist_count++; }
                SSL_shutdown(s->ssl); // close_notify, without waiting for the server's
                ERR_clear_error();    // whatever it met, lest the next SSL_get_error see it
                SSL_free(s->ssl);
                close(s->fd);         // also leaves the epoll set
                s->round++, done++;
                if (++completed == done_target) return done;
                msg = ramp + (((uint64_t)s->id * 31 + s->round * 7) & 0xff);
                slot_open(s);
                continue;
            }
            wait = EPOLLIN;
        }
        uint32_t events = wait == EPOLLOUT ? EPOLLIN | EPOLLOUT : EPOLLIN;
        if (events != s->events) { s->events = events; watch(s->fd, s, events, EPOLL_CTL_MOD); }
        return done;
    }
}

static int run_handshakes(void) {
    size = (uint64_t)opt_size;
    ramp = malloc(size + 256);
    slot_t *slots = calloc((size_t)opt_conns, sizeof *slots);
    if (!ramp || !slots) fail("out of memory");
    for (uint64_t j = 0; j < size + 256; j++) ramp[j] = (unsigned char)j;

    uint64_t t0 = now_ns(), last_rx = t0;
    phase_start(t0);

    for (long i = 0; i < opt_conns; i++) {
        slots[i].id = (int)i;
        slot_open(&slots[i]);
        slot_run(&slots[i], &last_rx);
    }

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        int n = epoll_wait(ep, evs, MAX_EVENTS, phase_timeout(now, last_rx));
        if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        // Errors and hangups surface as failed SSL calls, with OpenSSL's word for them.
        for (int i = 0; i < n; i++) {
            slot_run(evs[i].data.ptr, &last_rx);
            if (completed == done_target) goto finished;
        }
        if (phase_over(now_ns(), last_rx)) break;
    }
finished:
    phase_report((long long)handshakes, "");
    return 0;
}

// ---------------------------------------------------------------- UDP mode

typedef struct {
    int fd, id;
    int want_out;        // EPOLLOUT currently registered
    unsigned char *buf;  // slot i's datagram at buf + i*size: the ramp from id*31, its header over it
    uint32_t *seq;       // slot i's sequence number: i, then + depth each time it is sent anew
    uint64_t *ts;        // when slot i's datagram went out; 0: not in flight
    uint32_t *due, ndue; // slots waiting to be sent (a stack)
    uint32_t *fifo, head, nfifo; // size < 8: slots in flight, oldest first (replies are matched in order)
} uclient_t;

static int udp_gso = -1;           // --udp-gso: 1 while UDP_SEGMENT works, 0 once it failed; -1: not asked
static uint64_t udp_gso_sends;     // sendmsg calls that went out segmented
static uint64_t udp_lost;          // datagrams given up for lost while measuring
static unsigned char *udp_rx;      // receive buffers, UDP_BATCH of size + 1 (a longer datagram shows)
static size_t udp_rx_cap;

static inline unsigned char *udp_slot(const uclient_t *c, uint32_t i) { return c->buf + (size_t)i * size; }

static void put32(unsigned char *p, uint32_t v) { for (int j = 0; j < 4; j++) p[j] = (unsigned char)(v >> (8 * j)); }
static uint32_t get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// Slot i is free: its next datagram gets a new sequence number and waits to be sent.
static void udp_make_due(uclient_t *c, uint32_t i) {
    c->ts[i] = 0;
    if (c->seq[i] > UINT32_MAX - depth) fail("client %d used up its sequence numbers", c->id);
    c->seq[i] += (uint32_t)depth;
    c->due[c->ndue++] = i;
}

// The datagrams of slots list[0..n) went out at t.
static void udp_sent(uclient_t *c, const uint32_t *list, uint32_t n, uint64_t t) {
    for (uint32_t j = 0; j < n; j++) {
        c->ts[list[j]] = t;
        if (size < 8) c->fifo[(c->head + c->nfifo++) % depth] = list[j];
    }
}

// A failed send: the socket is full (or a signal came), and the datagrams stay due until
// EPOLLOUT; anything else (ECONNREFUSED: nothing listens there) fails the run.
static void udp_send_blocked(const char *what) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail("%s: %s", what, strerror(errno));
}

// Sends list[0..n) with sendmmsg; returns how many went out.
static uint32_t udp_sendmmsg(uclient_t *c, const uint32_t *list, uint32_t n) {
    struct mmsghdr mm[UDP_BATCH];
    struct iovec iov[UDP_BATCH];
    memset(mm, 0, sizeof mm);
    for (uint32_t j = 0; j < n; j++) {
        iov[j] = (struct iovec){ .iov_base = udp_slot(c, list[j]), .iov_len = size };
        mm[j].msg_hdr.msg_iov = &iov[j];
        mm[j].msg_hdr.msg_iovlen = 1;
    }
    uint32_t done = 0;
    while (done < n) {
        int r = sendmmsg(c->fd, mm + done, n - done, 0);
        if (r < 0) {
            // ENOBUFS: the kernel dropped it, as a full network would; the loss timeout resends it.
            if (errno == ENOBUFS) { done++; continue; }
            udp_send_blocked("sendmmsg");
            break;
        }
        done += (uint32_t)r;
    }
    return done;
}

// Sends list[0..n) (n >= 2) as one UDP_SEGMENT super-datagram; returns how many went out.
// Falls back to sendmmsg for good when the kernel or the route cannot segment.
static uint32_t udp_send_gso(uclient_t *c, const uint32_t *list, uint32_t n) {
    struct iovec iov[UDP_BATCH];
    for (uint32_t j = 0; j < n; j++) iov[j] = (struct iovec){ .iov_base = udp_slot(c, list[j]), .iov_len = size };
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctrl;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n, .msg_control = ctrl.buf, .msg_controllen = sizeof ctrl.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = (uint16_t)size;
    memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    if (sendmsg(c->fd, &mh, 0) >= 0) { udp_gso_sends++; return n; }
    if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT) {
        udp_gso = 0;
        return udp_sendmmsg(c, list, n);
    }
    if (errno == ENOBUFS) return n; // dropped, as in udp_sendmmsg
    udp_send_blocked("sendmsg (UDP_SEGMENT)");
    return 0;
}

// Sends every due datagram: one send() each, or with --udp-gso as few calls as segmenting allows.
static void udp_send_due(uclient_t *c) {
    // Segments per UDP_SEGMENT send: the whole must fit one IPv4 datagram.
    uint32_t per_gso = size ? (uint32_t)(UDP_MAX_PAYLOAD / size) : 0;
    if (per_gso > UDP_BATCH) per_gso = UDP_BATCH;
    while (c->ndue > 0) {
        uint32_t n = c->ndue < UDP_BATCH ? c->ndue : UDP_BATCH, sent;
        int gso = udp_gso == 1 && per_gso >= 2;
        if (udp_gso < 0) n = 1;
        else if (gso && n > per_gso) n = per_gso;
        uint32_t *list = c->due + c->ndue - n; // the top n of the stack
        for (uint32_t j = 0; j < n && size >= 8; j++) {
            unsigned char *p = udp_slot(c, list[j]);
            put32(p, (uint32_t)c->id);
            put32(p + 4, c->seq[list[j]]);
        }
        if (n == 1) sent = send(c->fd, udp_slot(c, list[0]), size, 0) >= 0 || errno == ENOBUFS ? 1
                                                                            : (udp_send_blocked("send"), 0);
        else sent = gso ? udp_send_gso(c, list, n) : udp_sendmmsg(c, list, n);
        // The first `sent` of the list went out; the rest stay due, for EPOLLOUT.
        udp_sent(c, list, sent, now_ns());
        memmove(list, list + sent, (n - sent) * sizeof *list);
        c->ndue -= sent;
        if (sent < n) goto blocked;
    }
    if (c->want_out) { c->want_out = 0; watch(c->fd, c, EPOLLIN, EPOLL_CTL_MOD); }
    return;
blocked:
    if (!c->want_out) { c->want_out = 1; watch(c->fd, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD); }
}

// Slot i's echo arrived at t.
static void udp_complete(uclient_t *c, uint32_t i, uint64_t t) {
    if (measuring) { hist[bucket_of(t - c->ts[i])]++; hist_count++; }
    completed++;
    udp_make_due(c, i);
}

// One echoed datagram: verified byte for byte and matched to the datagram it echoes.
static void udp_reply(uclient_t *c, const unsigned char *p, size_t len, uint64_t t) {
    if (len != size) fail("client %d: a datagram of %zu bytes came back, %llu were sent", c->id, len, (unsigned long long)size);
    char where[64];
    if (size < 8) {
        // Too small to carry its number: the oldest in flight is taken to be the one.
        const unsigned char *want = ramp + (((uint64_t)c->id * 31) & 0xff);
        if (memcmp(p, want, size)) {
            snprintf(where, sizeof where, "client %d", c->id);
            mismatch(where, 0, (const char *)p, (const char *)want, size);
        }
        if (c->nfifo == 0) return; // the late echo of one given up for lost
        uint32_t i = c->fifo[c->head];
        c->head = (uint32_t)((c->head + 1) % depth), c->nfifo--;
        udp_complete(c, i, t);
        return;
    }
    uint32_t id = get32(p), s = get32(p + 4), i = (uint32_t)(s % depth);
    if (id != (uint32_t)c->id) fail("client %d: an echo carries client id %u", c->id, id);
    int current = c->ts[i] && c->seq[i] == s;
    if (!current && s >= c->seq[i]) fail("client %d: an echo of datagram %u, never sent", c->id, s);
    // Past the header, a datagram is its client's ramp, whichever it was.
    const unsigned char *want = udp_slot(c, i);
    if (memcmp(p + 8, want + 8, size - 8)) {
        snprintf(where, sizeof where, "client %d, datagram %u", c->id, s);
        mismatch(where, 8, (const char *)p + 8, (const char *)want + 8, size - 8);
    }
    if (current) udp_complete(c, i, t); // else a late echo: resent already under a new number
}

// Reads every datagram waiting on c's socket: recv() each, or recvmmsg with --udp-gso.
static void udp_recv(uclient_t *c, uint64_t *last_rx) {
    for (;;) {
        if (udp_gso < 0) {
            ssize_t r = recv(c->fd, udp_rx, udp_rx_cap, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                if (errno == EINTR) continue;
                fail("recv: %s", strerror(errno)); // e.g. ECONNREFUSED: nothing listens there
            }
            udp_reply(c, udp_rx, (size_t)r, *last_rx = now_ns());
            if (completed == done_target) return;
            continue;
        }
        struct mmsghdr mm[UDP_BATCH];
        struct iovec iov[UDP_BATCH];
        memset(mm, 0, sizeof mm);
        for (int j = 0; j < UDP_BATCH; j++) {
            iov[j] = (struct iovec){ .iov_base = udp_rx + (size_t)j * udp_rx_cap, .iov_len = udp_rx_cap };
            mm[j].msg_hdr.msg_iov = &iov[j];
            mm[j].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(c->fd, mm, UDP_BATCH, 0, NULL);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            fail("recvmmsg: %s", strerror(errno));
        }
        uint64_t t = *last_rx = now_ns();
        for (int j = 0; j < r; j++) {
            udp_reply(c, udp_rx + (size_t)j * udp_rx_cap, mm[j].msg_len, t);
            if (completed == done_target) return;
        }
        if (r < UDP_BATCH) return;
    }
}

// Datagrams whose echo is overdue count as lost; their slots send anew.
static void udp_check_loss(uclient_t *c, uint64_t now) {
    if (size < 8) {
        while (c->nfifo > 0 && now - c->ts[c->fifo[c->head]] >= UDP_LOSS_NS) {
            uint32_t i = c->fifo[c->head];
            c->head = (uint32_t)((c->head + 1) % depth), c->nfifo--;
            if (measuring) udp_lost++;
            udp_make_due(c, i);
        }
    } else {
        for (uint32_t i = 0; i < depth; i++)
            if (c->ts[i] && now - c->ts[i] >= UDP_LOSS_NS) {
                if (measuring) udp_lost++;
                udp_make_due(c, i);
            }
    }
    if (c->ndue > 0 && !c->want_out) udp_send_due(c);
}

static int run_udp(void) {
    size = (uint64_t)opt_size;
    depth = (uint64_t)opt_depth;
    if (depth > UINT32_MAX / 2) fail("--depth too large for UDP");
    if (opt_udp_gso) udp_gso = 1;
    ramp = malloc(size + 256);
    udp_rx_cap = (size_t)size + 1;
    udp_rx = malloc((udp_gso < 0 ? 1 : UDP_BATCH) * udp_rx_cap);
    uclient_t *cl = calloc((size_t)opt_conns, sizeof *cl);
    if (!ramp || !udp_rx || !cl) fail("out of memory");
    for (uint64_t j = 0; j < size + 256; j++) ramp[j] = (unsigned char)j;

    for (long k = 0; k < opt_conns; k++) {
        uclient_t *c = &cl[k];
        c->id = (int)k;
        c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) fail("socket: %s", strerror(errno));
        if (connect(c->fd, (struct sockaddr *)&server, sizeof server) < 0) fail("connect: %s", strerror(errno));
        c->buf = malloc(depth * size + 1);
        c->seq = malloc(depth * sizeof *c->seq);
        c->ts = calloc(depth, sizeof *c->ts);
        c->due = malloc(depth * sizeof *c->due);
        c->fifo = malloc(depth * sizeof *c->fifo);
        if (!c->buf || !c->seq || !c->ts || !c->due || !c->fifo) fail("out of memory");
        for (uint32_t i = 0; i < depth; i++) {
            memcpy(udp_slot(c, i), ramp + (((uint64_t)c->id * 31) & 0xff), size);
            c->seq[i] = i;
            c->due[c->ndue++] = (uint32_t)(depth - 1 - i); // slot 0 on top: sent first
        }
        watch(c->fd, c, EPOLLIN, EPOLL_CTL_ADD);
    }

    uint64_t t0 = now_ns(), last_rx = t0, next_check = t0 + UDP_CHECK_NS;
    phase_start(t0);
    for (long k = 0; k < opt_conns; k++) udp_send_due(&cl[k]);

    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_ns();
        int timeout = phase_timeout(now, last_rx);
        int check_ms = next_check > now ? (int)((next_check - now + 999999) / 1000000) : 0;
        if (check_ms < timeout) timeout = check_ms;
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            uclient_t *c = evs[i].data.ptr;
            // EPOLLERR: a queued ICMP error, which recv reports.
            if (evs[i].events & (EPOLLIN | EPOLLERR)) udp_recv(c, &last_rx);
            if (completed == done_target) goto finished;
            if (c->ndue > 0) udp_send_due(c);
        }
        now = now_ns();
        if (now >= next_check) {
            for (long k = 0; k < opt_conns; k++) udp_check_loss(&cl[k], now);
            next_check = now + UDP_CHECK_NS;
        }
        if (phase_over(now, last_rx)) break;
    }
finished:;
    char extra[80];
    int len = snprintf(extra, sizeof extra, "\"lost\":%llu,", (unsigned long long)udp_lost);
    // gso 0: every batch went by sendmmsg (segmenting failed, or a size it cannot segment).
    if (udp_gso >= 0) snprintf(extra + len, sizeof extra - (size_t)len, "\"gso\":%d,", udp_gso_sends > 0);
    phase_report(-1, extra);
    return 0;
}

// ---------------------------------------------------------------- paced mode

enum { PACED_WAIT, PACED_FLIGHT, PACED_DONE };

typedef struct {
    int fd;
    int state;         // PACED_WAIT: on the timer heap; PACED_FLIGHT: a message out; PACED_DONE: none left
    int want_out;      // EPOLLOUT currently registered
    uint32_t k;        // the message out, or the next one
    uint32_t left;     // messages still scheduled, the one out included
    uint32_t sent, got; // bytes of message k sent, and echoed and verified
    uint64_t sched;    // when message k is due
    uint64_t t0;       // where its latency counts from
} pconn_t;

typedef struct { uint64_t t; uint32_t c; } due_t;

static pconn_t *pconns;
static due_t *heap;   // connections waiting for their next send, earliest first
static uint32_t heap_n;
static uint64_t paced_msgs, paced_max_ns, paced_interval;
static long paced_active; // connections with messages left

static void heap_push(uint64_t t, uint32_t c) {
    uint32_t i = heap_n++;
    while (i > 0 && heap[(i - 1) / 2].t > t) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; }
    heap[i] = (due_t){ t, c };
}

static uint32_t heap_pop(void) {
    uint32_t top = heap[0].c;
    due_t last = heap[--heap_n];
    uint32_t i = 0;
    for (;;) {
        uint32_t m = 2 * i + 1;
        if (m >= heap_n) break;
        if (m + 1 < heap_n && heap[m + 1].t < heap[m].t) m++;
        if (heap[m].t >= last.t) break;
        heap[i] = heap[m];
        i = m;
    }
    if (heap_n > 0) heap[i] = last;
    return top;
}

// Raises the soft limit on open files to the hard one; returns the limit now in force.
static rlim_t raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) fail("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t soft = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) rl.rlim_cur = soft; // e.g. an unlimited hard limit
    }
    return rl.rlim_cur;
}

static inline const unsigned char *paced_msg(const pconn_t *p) {
    return ramp + (((uint64_t)(p - pconns) * 31 + (uint64_t)p->k * 7) & 0xff);
}

// Opens connections [first, first+count) without waiting, each from 127.0.0.(1 + c % sources).
static void paced_open(long first, long count) {
    for (long c = first; c < first + count; c++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) fail("socket (connection %ld): %s", c, strerror(errno));
        // The port is picked at connect, for the whole 4-tuple, not reserved at bind for
        // any destination: each source address then has its own ephemeral range.
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(c % opt_sources)) };
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) fail("bind (connection %ld): %s", c, strerror(errno));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // Closing resets the connection, so no TIME_WAIT is left: tens of thousands of
        // them would slow the port search of the next run's connects several times over.
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0 && errno != EINPROGRESS)
            fail("connect (connection %ld): %s", c, strerror(errno));
        pconns[c].fd = fd;
        watch(fd, &pconns[c], EPOLLOUT, EPOLL_CTL_ADD);
    }
}

// The listen queue of the server's port when it is on this host, as `ss -lnt` reads it:
// the most connections any listener on the port holds unaccepted, and the least backlog.
// Returns 0 when unknown (no such listener here, or no sock_diag).
static int listen_queue(uint32_t *queued, uint32_t *backlog) {
    static int diag = -2; // -2: not opened yet
    if (diag == -2) diag = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (diag < 0) return 0;
    int found = 0;
    *queued = 0, *backlog = UINT32_MAX;
    // A dual-stack IPv6 listener takes IPv4 connections too.
    for (int f = 0; f < 2; f++) {
        struct { struct nlmsghdr nlh; struct inet_diag_req_v2 r; } req = {
            .nlh = { .nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
            .r = { .sdiag_family = f ? AF_INET6 : AF_INET, .sdiag_protocol = IPPROTO_TCP, .idiag_states = 1u << TCP_LISTEN },
        };
        if (send(diag, &req, sizeof req, 0) < 0) return 0;
        for (int done = 0; !done;) {
            static union { char b[32768]; struct nlmsghdr align; } buf;
            ssize_t len = recv(diag, buf.b, sizeof buf.b, 0);
            if (len <= 0) return 0;
            for (struct nlmsghdr *h = &buf.align; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) { done = 1; break; } // error: no IPv6
                const struct inet_diag_msg *m = NLMSG_DATA(h);
                if (m->id.idiag_sport != server.sin_port) continue;
                found = 1;
                if (m->idiag_rqueue > *queued) *queued = m->idiag_rqueue;   // accept queue now
                if (m->idiag_wqueue < *backlog) *backlog = m->idiag_wqueue; // its limit
            }
        }
    }
    return found;
}

// How many connections the next batch may open, at most `want`, once the server's accept queue
// has room for them. A connect completes before the server accepts it, so a server short of
// CPU could otherwise let batches pile up in its queue until SYNs are dropped.
static long paced_room(long want) {
    uint32_t queued, backlog, last = UINT32_MAX;
    uint64_t since = now_ns();
    while (listen_queue(&queued, &backlog)) {
        if ((uint64_t)want > (uint64_t)backlog + 1) want = (long)backlog + 1; // the queue holds backlog + 1
        if ((uint64_t)queued + (uint64_t)want <= (uint64_t)backlog + 1) break;
        uint64_t now = now_ns();
        if (queued < last) last = queued, since = now;
        else if (now - since >= IDLE_LIMIT_NS) fail("the server accepted no connection for 10 s (%u waiting)", queued);
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return want;
}

// Connects all n, a batch at a time: a batch's connects all complete, and the server's
// accept queue has room for the next, before the next starts.
static void paced_connect_all(long n) {
    struct epoll_event evs[MAX_EVENTS];
    for (long first = 0, count; first < n; first += count) {
        count = paced_room(n - first < PACED_BATCH ? n - first : PACED_BATCH);
        long left = count;
        paced_open(first, count);
        uint64_t last = now_ns();
        while (left > 0) {
            int k = epoll_wait(ep, evs, MAX_EVENTS, 1000);
            if (k < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
            for (int e = 0; e < k; e++) {
                pconn_t *p = evs[e].data.ptr;
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) fail("connect (connection %ld): %s", (long)(p - pconns), strerror(err));
                watch(p->fd, p, EPOLLIN, EPOLL_CTL_MOD);
                left--;
            }
            uint64_t now = now_ns();
            if (k > 0) last = now;
            else if (now - last >= IDLE_LIMIT_NS) fail("connect: no progress for 10 s");
        }
    }
}

// Sends what is left of p's message; waits for EPOLLOUT if the socket is full.
static void paced_write(pconn_t *p) {
    while (p->sent < size) {
        ssize_t n = send(p->fd, paced_msg(p) + p->sent, size - p->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) fail("send (connection %ld): %s", (long)(p - pconns), strerror(errno));
            if (!p->want_out) { p->want_out = 1; watch(p->fd, p, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD); }
            return;
        }
        p->sent += (uint32_t)n;
    }
    if (p->want_out) { p->want_out = 0; watch(p->fd, p, EPOLLIN, EPOLL_CTL_MOD); }
}

// Message k goes out now; its latency counts from t0.
static void paced_send(pconn_t *p, uint64_t t0) {
    p->state = PACED_FLIGHT;
    p->t0 = t0;
    p->sent = p->got = 0;
    paced_write(p);
}

// Reads and verifies p's echo; once it is whole, the next message is due.
static void paced_recv(pconn_t *p) {
    long c = (long)(p - pconns);
    for (;;) {
        size_t n = recv_checked(p->fd, rbuf, sizeof rbuf);
        if (!n) return;
        if (p->state != PACED_FLIGHT || p->got + n > p->sent) fail("received more bytes than sent on connection %ld", c);
        const char *want = (const char *)paced_msg(p) + p->got;
        if (memcmp(rbuf, want, n)) {
            char where[64];
            snprintf(where, sizeof where, "connection %ld, message %u", c, p->k);
            mismatch(where, p->got, rbuf, want, n);
        }
        if ((p->got += (uint32_t)n) < size) continue;
        uint64_t t = now_ns(), lat = t - p->t0;
        hist[bucket_of(lat)]++, hist_count++;
        if (lat > paced_max_ns) paced_max_ns = lat;
        paced_msgs++;
        p->k++;
        if (--p->left == 0) { p->state = PACED_DONE; paced_active--; continue; }
        p->sched += paced_interval;
        // A late echo: the next message is already due. Its latency counts from
        // its schedule, so the wait for this echo shows in it.
        if (p->sched <= t) paced_send(p, p->sched);
        else { p->state = PACED_WAIT; heap_push(p->sched, (uint32_t)c); }
    }
}

// --hold: keeps every connection open until a byte or EOF on stdin, then closes them.
static void paced_hold(long n) {
    char byte;
    while (read(0, &byte, 1) < 0 && errno == EINTR) {}
    // A connection the server closed, or wrote to unasked, would be readable now.
    for (long c = 0; c < n; c++) {
        ssize_t r = recv(pconns[c].fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
        if (r == 0) fail("the server closed held connection %ld", c);
        // Bytes are only unasked on a connection whose messages were all echoed.
        if (r > 0 && pconns[c].state == PACED_DONE) fail("the server sent unasked bytes on held connection %ld", c);
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) fail("held connection %ld: %s", c, strerror(errno));
    }
    for (long c = 0; c < n; c++) close(pconns[c].fd);
    printf("{\"closed\":%ld,\"errors\":0}\n", n);
    fflush(stdout);
}

// Runs the schedule until every connection is done or t_stop; returns the time it stopped.
static uint64_t paced_loop(uint64_t t_stop) {
    struct epoll_event evs[MAX_EVENTS];
    uint64_t now;
    for (;;) {
        now = now_ns();
        // Waiting on the timer, a connection's latency counts from its actual send: any
        // lateness here is this process's, not the server's.
        while (heap_n > 0 && heap[0].t <= now) paced_send(&pconns[heap_pop()], now = now_ns());
        if (paced_active == 0 || now >= t_stop) break;
        uint64_t until = heap_n > 0 && heap[0].t < t_stop ? heap[0].t : t_stop;
        int k = epoll_wait(ep, evs, MAX_EVENTS, (int)((until - now + 999999) / 1000000));
        if (k < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
        for (int e = 0; e < k; e++) {
            pconn_t *p = evs[e].data.ptr;
            uint32_t ev = evs[e].events;
            if (ev & EPOLLERR) check_socket_error(p->fd);
            if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) paced_recv(p);
            if ((ev & EPOLLOUT) && p->state == PACED_FLIGHT) paced_write(p);
        }
    }
    return now;
}

// --burst: one more message on every connection, all sent at once, every echo awaited and
// verified: the server then has had every connection active together.
static void paced_burst(long n) {
    uint64_t t = now_ns(), before = paced_msgs;
    for (long c = 0; c < n; c++) {
        pconn_t *p = &pconns[c];
        p->sched = t;
        p->left = 1;
        p->state = PACED_WAIT;
        heap_push(t, (uint32_t)c);
        paced_active++;
    }
    paced_loop(t + 30ull * 1000000000ull);
    if (paced_msgs - before != (uint64_t)n)
        fail("--burst: %llu of %ld echoes came back within 30 s", (unsigned long long)(paced_msgs - before), n);
    printf("{\"burst\":%ld,\"errors\":0}\n", n);
    fflush(stdout);
}

static int run_paced(void) {
    long n = opt_conns;
    rlim_t limit = raise_nofile();
    if ((rlim_t)(n + FD_MARGIN) > limit)
        fail("--connections %ld needs %ld open files; RLIMIT_NOFILE allows %llu", n, n + FD_MARGIN,
             (unsigned long long)limit);
    size = (uint64_t)opt_size;
    if (size > UINT32_MAX) fail("--size too large for --paced");
    ramp = malloc(size + 256);
    pconns = calloc((size_t)n, sizeof *pconns);
    heap = malloc((size_t)n * sizeof *heap);
    if (!ramp || !pconns || !heap) fail("out of memory");
    for (uint64_t j = 0; j < size + 256; j++) ramp[j] = (unsigned char)j;

    uint64_t c0 = now_ns();
    paced_connect_all(n);
    double connect_secs = (double)(now_ns() - c0) / 1e9;

    // Connection c's schedule starts c/n of an interval in, so sends are spread evenly.
    paced_interval = (uint64_t)opt_interval_ms * 1000000ull;
    uint64_t dur = (uint64_t)(opt_duration * 1e9), expected = 0;
    uint64_t t_begin = now_ns(), t_stop = t_begin + dur + PACED_GRACE_NS;
    for (long c = 0; c < n; c++) {
        pconn_t *p = &pconns[c];
        uint64_t off = (uint64_t)c * paced_interval / (uint64_t)n;
        uint64_t count = off < dur ? (dur - off + paced_interval - 1) / paced_interval : 0;
        if (count > UINT32_MAX) fail("--duration too long for --interval-ms");
        p->sched = t_begin + off;
        p->left = (uint32_t)count;
        expected += count;
        if (count) { p->state = PACED_WAIT; heap_push(p->sched, (uint32_t)c); paced_active++; }
        else p->state = PACED_DONE;
    }

    uint64_t now = paced_loop(t_stop);
    double secs = (double)(now - t_begin) / 1e9;
    if (secs <= 0) secs = 1e-9;
    printf("{\"connections\":%ld,\"connect_seconds\":%.3f,\"messages\":%llu,\"expected\":%llu,\"p50_us\":%.1f,"
           "\"p99_us\":%.1f,\"max_us\":%.1f,\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"errors\":0}\n",
           n, connect_secs, (unsigned long long)paced_msgs, (unsigned long long)expected, percentile_us(0.50),
           percentile_us(0.99), (double)paced_max_ns / 1000.0, secs, (double)paced_msgs / secs);
    fflush(stdout);
    if (opt_burst) paced_burst(n);
    if (opt_hold) paced_hold(n);
    return 0;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)opt_port);
    if (inet_pton(AF_INET, opt_host, &server.sin_addr) != 1) fail("bad --host %s", opt_host);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail("epoll_create1: %s", strerror(errno));
    if (opt_tls) tls_init();
    if (opt_udp) return run_udp();
    if (opt_paced) return run_paced();
    return opt_idle ? run_idle() : opt_stream ? run_stream() : opt_handshakes ? run_handshakes() : run_echo();
}
