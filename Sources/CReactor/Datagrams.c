// Datagram sockets: one datagram a call, and batches of them (recvmmsg / sendmmsg) with
// segmentation offload (UDP_SEGMENT on send, UDP_GRO on receive).
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

const int CR_UDP_SEGMENT = UDP_SEGMENT;
const int CR_UDP_GRO = UDP_GRO;
const size_t CR_MMSGHDR_SIZE = sizeof(struct mmsghdr);

// MSG_TRUNC makes a datagram socket return the datagram's full length, so a cut one is seen.
ssize_t cr_recv_datagram(int fd, void *buf, size_t len) {
    CR_SYSCALL(SYS_recvfrom, fd, buf, len, MSG_TRUNC, NULL, NULL);
}

ssize_t cr_recvfrom(int fd, void *buf, size_t len, struct sockaddr_storage *addr, socklen_t *addrlen) {
    *addrlen = sizeof *addr;
    CR_SYSCALL(SYS_recvfrom, fd, buf, len, MSG_TRUNC, (struct sockaddr *)addr, addrlen);
}

ssize_t cr_sendto(int fd, const void *buf, size_t len, const struct sockaddr *addr, socklen_t addrlen) {
    CR_SYSCALL(SYS_sendto, fd, buf, len, MSG_NOSIGNAL, addr, addrlen);
}

// Points slot i's header at its bytes, address and control room.
static void point_header(cr_datagram_batch *b, unsigned i, size_t length) {
    struct mmsghdr *h = (struct mmsghdr *)b->headers + i;
    memset(&h->msg_hdr, 0, sizeof h->msg_hdr);
    b->vectors[i].iov_base = b->bytes + (size_t)i * b->slot_size;
    b->vectors[i].iov_len = length;
    h->msg_hdr.msg_iov = &b->vectors[i];
    h->msg_hdr.msg_iovlen = 1;
    h->msg_hdr.msg_name = &b->addresses[i];
    h->msg_hdr.msg_control = b->control + (size_t)i * CR_BATCH_CONTROL;
    h->msg_len = 0;
}

int cr_batch_recv(int fd, cr_datagram_batch *b) {
    struct mmsghdr *headers = b->headers;
    for (unsigned i = 0; i < b->capacity; i++) {
        point_header(b, i, b->slot_size);
        headers[i].msg_hdr.msg_namelen = sizeof b->addresses[i];
        headers[i].msg_hdr.msg_controllen = CR_BATCH_CONTROL;
    }
    long n;
    do {
        n = syscall(SYS_recvmmsg, fd, headers, b->capacity, 0, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (long i = 0; i < n; i++) {
        struct msghdr *m = &headers[i].msg_hdr;
        b->lengths[i] = headers[i].msg_len;
        b->address_lengths[i] = m->msg_namelen;
        b->truncated[i] = (m->msg_flags & MSG_TRUNC) != 0;
        b->segment_sizes[i] = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int size;
                memcpy(&size, CMSG_DATA(c), sizeof size);
                b->segment_sizes[i] = (uint16_t)size;
            }
        }
    }
    return (int)n;
}

int cr_batch_send(int fd, cr_datagram_batch *b, unsigned first, unsigned count) {
    struct mmsghdr *headers = b->headers;
    for (unsigned i = first; i < first + count; i++) {
        point_header(b, i, b->lengths[i]);
        struct msghdr *m = &headers[i].msg_hdr;
        m->msg_namelen = b->address_lengths[i];
        if (m->msg_namelen == 0) m->msg_name = NULL;  // a connected socket's own peer
        if (b->segment_sizes[i] != 0 && b->lengths[i] > b->segment_sizes[i]) {
            m->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
            struct cmsghdr *c = CMSG_FIRSTHDR(m);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            memcpy(CMSG_DATA(c), &b->segment_sizes[i], sizeof(uint16_t));
        } else {
            m->msg_control = NULL;
        }
    }
    CR_SYSCALL(SYS_sendmmsg, fd, headers + first, count, MSG_NOSIGNAL);
}
