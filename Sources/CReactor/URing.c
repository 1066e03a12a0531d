// io_uring over its system calls (no liburing): the rings are mapped once, submissions wait in
// the submission ring and reach the kernel with the next wait, one io_uring_enter per turn.
#define _GNU_SOURCE
#include "CReactor.h"
#include "Internal.h"

#include <linux/io_uring.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// Linux 6.3; the headers here may be older than the kernel.
#ifndef IORING_FEAT_REG_REG_RING
#define IORING_FEAT_REG_REG_RING (1U << 13)
#endif

struct cr_uring {
    int fd;
    unsigned features;
    unsigned *sq_head, *sq_tail, *sq_flags;
    unsigned sq_mask, sq_entries;
    unsigned sq_local_tail;  // counts the entries queued but not yet published
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail;
    unsigned cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_ring, *cq_ring;
    size_t sq_ring_size, cq_ring_size, sqes_size;
    // The provided buffers (group 0) and the ring that hands them to the kernel.
    struct io_uring_buf_ring *buffer_ring;
    unsigned char *buffers;
    unsigned buffer_count, buffer_size;
    uint16_t buffer_tail;
};

#define LOAD_ACQUIRE(p) atomic_load_explicit((_Atomic unsigned *)(p), memory_order_acquire)
#define STORE_RELEASE(p, v) atomic_store_explicit((_Atomic unsigned *)(p), (v), memory_order_release)

static void cr_uring_unmap(cr_uring *r) {
    if (r->sqes) munmap(r->sqes, r->sqes_size);
    if (r->cq_ring && r->cq_ring != r->sq_ring) munmap(r->cq_ring, r->cq_ring_size);
    if (r->sq_ring) munmap(r->sq_ring, r->sq_ring_size);
}

int cr_uring_create(unsigned entries, cr_uring **out) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    // Completions are finished when the loop enters the kernel, not by interrupting it
    // (COOP_TASKRUN, 5.19); the ring's flags say when some wait to be finished (TASKRUN_FLAG).
    p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    int fd = (int)syscall(SYS_io_uring_setup, entries, &p);
    if (fd < 0 && errno == EINVAL) {
        memset(&p, 0, sizeof p);
        fd = (int)syscall(SYS_io_uring_setup, entries, &p);
    }
    if (fd < 0) return -errno;
    // The wait's timeout travels in IORING_ENTER_EXT_ARG (5.11), and a full completion ring
    // must keep its completions rather than drop them.
    if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP)) {
        close(fd);
        return -ENOSYS;
    }
    cr_uring *r = calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return -ENOMEM;
    }
    r->fd = fd;
    r->features = p.features;
    r->sq_ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_ring_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    int single = p.features & IORING_FEAT_SINGLE_MMAP;
    if (single && r->cq_ring_size > r->sq_ring_size) r->sq_ring_size = r->cq_ring_size;
    r->sq_ring = mmap(NULL, r->sq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                      IORING_OFF_SQ_RING);
    if (r->sq_ring == MAP_FAILED) goto fail;
    if (single) {
        r->cq_ring = r->sq_ring;
    } else {
        r->cq_ring = mmap(NULL, r->cq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                          fd, IORING_OFF_CQ_RING);
        if (r->cq_ring == MAP_FAILED) goto fail;
    }
    r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) goto fail;

    char *sq = r->sq_ring, *cq = r->cq_ring;
    r->sq_head = (unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_flags = (unsigned *)(sq + p.sq_off.flags);
    r->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_entries = p.sq_entries;
    r->sq_local_tail = *r->sq_tail;
    // Entry i of the submission ring is always slot i of the entries.
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i;
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    *out = r;
    return 0;
fail:;
    int err = errno;
    if (r->sq_ring == MAP_FAILED) r->sq_ring = NULL;
    if (r->cq_ring == MAP_FAILED) r->cq_ring = NULL;
    if (r->sqes == MAP_FAILED) r->sqes = NULL;
    cr_uring_unmap(r);
    close(fd);
    free(r);
    return -err;
}

void cr_uring_destroy(cr_uring *r) {
    if (r->buffer_ring) {
        struct io_uring_buf_reg reg;
        memset(&reg, 0, sizeof reg);
        syscall(SYS_io_uring_register, r->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
        munmap(r->buffer_ring, r->buffer_count * sizeof(struct io_uring_buf));
        munmap(r->buffers, (size_t)r->buffer_count * r->buffer_size);
    }
    cr_uring_unmap(r);
    close(r->fd);
    free(r);
}

// Hands the queued entries to the kernel and, with min_complete, waits for that many
// completions or the timeout (-1: none). With getevents, the completions the submissions
// caused are finished before it returns.
static int cr_uring_enter(cr_uring *r, int getevents, unsigned min_complete, int64_t timeout_ns) {
    STORE_RELEASE(r->sq_tail, r->sq_local_tail);
    unsigned to_submit = r->sq_local_tail - LOAD_ACQUIRE(r->sq_head);
    unsigned flags = IORING_ENTER_EXT_ARG;
    struct __kernel_timespec ts;
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    if (getevents || min_complete > 0 || (LOAD_ACQUIRE(r->sq_flags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN))) {
        flags |= IORING_ENTER_GETEVENTS;
    }
    if (min_complete > 0 && timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        arg.ts = (uint64_t)(uintptr_t)&ts;
    }
    int n = (int)syscall(SYS_io_uring_enter, r->fd, to_submit, min_complete, flags, &arg, sizeof arg);
    if (n >= 0) return n;
    // A timeout, a signal, or completions the kernel holds back until the ring has room:
    // each ends this wait, and the loop looks again.
    if (errno == ETIME || errno == EINTR || errno == EBUSY || errno == EAGAIN) return 0;
    return -errno;
}

// A zeroed entry at the submission ring's tail; a full ring is submitted first.
static struct io_uring_sqe *cr_uring_next(cr_uring *r) {
    if (r->sq_local_tail - LOAD_ACQUIRE(r->sq_head) >= r->sq_entries) {
        if (cr_uring_enter(r, 0, 0, 0) < 0) return NULL;
        if (r->sq_local_tail - LOAD_ACQUIRE(r->sq_head) >= r->sq_entries) return NULL;
    }
    struct io_uring_sqe *sqe = &r->sqes[r->sq_local_tail & r->sq_mask];
    memset(sqe, 0, sizeof *sqe);
    r->sq_local_tail++;
    return sqe;
}

int cr_uring_poll_add(cr_uring *r, int fd, uint32_t events, uint64_t data, int multishot) {
    struct io_uring_sqe *sqe = cr_uring_next(r);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = events;
    sqe->len = multishot ? IORING_POLL_ADD_MULTI : 0;
    sqe->user_data = data;
    return 0;
}

// Asynchronous cancellations, not IORING_OP_POLL_REMOVE: that one gives up with EALREADY
// when a wake-up of the poll is being handled, and leaves the poll armed.
static int cr_uring_queue_cancel(cr_uring *r, int fd, uint64_t target, uint32_t flags, uint64_t data) {
    struct io_uring_sqe *sqe = cr_uring_next(r);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = fd;
    sqe->addr = target;
    sqe->cancel_flags = flags;
    sqe->user_data = data;
    return 0;
}

int cr_uring_cancel(cr_uring *r, uint64_t target, uint64_t data) {
    return cr_uring_queue_cancel(r, -1, target, 0, data);
}

int cr_uring_cancel_fd(cr_uring *r, int fd, uint64_t data) {
    return cr_uring_queue_cancel(r, fd, 0, IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL, data);
}

int cr_uring_buffers_create(cr_uring *r, unsigned count, unsigned size) {
    // Multishot recv came in 6.0; a feature of 6.3 is the nearest the kernel reports.
    if (!(r->features & IORING_FEAT_REG_REG_RING)) return -ENOSYS;
    size_t ring_size = count * sizeof(struct io_uring_buf);
    void *ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ring == MAP_FAILED) return -errno;
    void *buffers = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffers == MAP_FAILED) {
        int err = errno;
        munmap(ring, ring_size);
        return -err;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)ring;
    reg.ring_entries = count;
    reg.bgid = 0;
    if (syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int err = errno;
        munmap(buffers, (size_t)count * size);
        munmap(ring, ring_size);
        return -err;
    }
    r->buffer_ring = ring;
    r->buffers = buffers;
    r->buffer_count = count;
    r->buffer_size = size;
    r->buffer_tail = 0;
    for (unsigned i = 0; i < count; i++) cr_uring_buffer_give(r, (uint16_t)i);
    return 0;
}

unsigned char *cr_uring_buffers_base(cr_uring *r) { return r->buffers; }

// Only the entry's address, length and id are written: the ring's tail shares the first
// entry's reserved field.
void cr_uring_buffer_give(cr_uring *r, uint16_t id) {
    struct io_uring_buf *entry = &r->buffer_ring->bufs[r->buffer_tail & (r->buffer_count - 1)];
    entry->addr = (uint64_t)(uintptr_t)(r->buffers + (size_t)id * r->buffer_size);
    entry->len = r->buffer_size;
    entry->bid = id;
    r->buffer_tail++;
    atomic_store_explicit((_Atomic uint16_t *)&r->buffer_ring->tail, r->buffer_tail, memory_order_release);
}

int cr_uring_recv_multishot(cr_uring *r, int fd, uint64_t data) {
    struct io_uring_sqe *sqe = cr_uring_next(r);
    if (!sqe) return -EBUSY;
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->user_data = data;
    return 0;
}

int cr_uring_submit(cr_uring *r) {
    int n = cr_uring_enter(r, 1, 0, 0);
    return n < 0 ? n : 0;
}

int cr_uring_wait(cr_uring *r, cr_completion *out, int max, int64_t timeout_ns) {
    unsigned head = *r->cq_head;
    int ready = LOAD_ACQUIRE(r->cq_tail) != head;
    // Nothing to hand over and nothing to wait for: no system call at all.
    int idle = r->sq_local_tail == LOAD_ACQUIRE(r->sq_head) &&
               !(LOAD_ACQUIRE(r->sq_flags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN));
    if (!(idle && (ready || timeout_ns == 0))) {
        int n = cr_uring_enter(r, 0, ready || timeout_ns == 0 ? 0 : 1, timeout_ns);
        if (n < 0) return n;
    }
    unsigned tail = LOAD_ACQUIRE(r->cq_tail);
    int count = 0;
    while (head != tail && count < max) {
        struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];
        out[count].data = cqe->user_data;
        out[count].result = cqe->res;
        out[count].more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        out[count].buffer = (cqe->flags & IORING_CQE_F_BUFFER) ? (int32_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT) : -1;
        count++;
        head++;
    }
    STORE_RELEASE(r->cq_head, head);
    return count;
}
