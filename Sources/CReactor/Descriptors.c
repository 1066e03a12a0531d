// Sockets, pipes and the calls every fd shares (read, write, close, fcntl).
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

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
    CR_SYSCALL(SYS_accept4, fd, (struct sockaddr *)addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cr_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    // EINTR on a non-blocking connect still leaves the connection in progress.
    if (connect(fd, addr, len) == 0) return 0;
    return errno == EINTR ? -EINPROGRESS : -errno;
}

ssize_t cr_recv(int fd, void *buf, size_t len) {
    CR_SYSCALL(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
}

ssize_t cr_send(int fd, const void *buf, size_t len) {
    CR_SYSCALL(SYS_sendto, fd, buf, len, MSG_NOSIGNAL, NULL, 0);
}

ssize_t cr_sendv(int fd, const struct iovec *iov, int count) {
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
    CR_SYSCALL(SYS_sendmsg, fd, &msg, MSG_NOSIGNAL);
}

int cr_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    return 0;
}

ssize_t cr_read(int fd, void *buf, size_t len) {
    CR_SYSCALL(SYS_read, fd, buf, len);
}

ssize_t cr_write(int fd, const void *buf, size_t len) {
    CR_SYSCALL(SYS_write, fd, buf, len);
}

ssize_t cr_writev(int fd, const struct iovec *iov, int count) {
    CR_SYSCALL(SYS_writev, fd, iov, count);
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

int cr_dup(int fd) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    return copy < 0 ? -errno : copy;
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
