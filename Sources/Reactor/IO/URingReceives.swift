import CReactor
import Glibc

/// The io_uring backend's receives in completion mode: a stream socket's bytes arrive through
/// one multishot recv into buffers the kernel picks from a ring shared by every connection (an
/// idle connection holds none), and `IOHandle.tryRead` copies them out of the buffers instead
/// of making a recv. A completion is reported to the loop as readability, so the readiness and
/// the waits stay as they are with epoll.
///
/// A socket starts receiving at its first read that returns bytes (a listener or a socket still
/// connecting never does): the reads until then make their recv, the multishot recv takes what
/// follows. A
/// connection whose reader falls behind stops receiving at `pauseAt` buffers (its peer then
/// meets a full window, as with a socket's own buffer) and starts again once its reader is down
/// to `resumeAt`. One that finds no buffer left reads with recv, woken by a poll, until buffers
/// come back: no connection waits on another's reader.
final class URingReceives {
    static let bufferCount = 256
    static let bufferSize = 16 * 1024
    static let pauseAt = 16
    static let resumeAt = 4
    /// Set in a receive's completion data beside the registration's token (fds stay below 2^29).
    static let tag: UInt32 = 1 << 29

    /// One socket's receive: its filled buffers, oldest first, linked through `nextBuffer`.
    struct Receiver {
        /// The registration receiving on this fd, 0 for none.
        var generation: UInt32 = 0
        var head: UInt16 = 0
        var tail: UInt16 = 0
        var queued: UInt16 = 0
        /// Bytes of the head buffer already read.
        var offset: UInt16 = 0
        /// The kernel's multishot recv has not ended.
        var isLive = false
        /// Ended on purpose: `pauseAt` buffers wait to be read.
        var isPaused = false
        /// Ended for want of a buffer: reads make their own recv.
        var isStarved = false
        /// EOF or an error came: nothing more will.
        var isEnded = false
        /// The error that ended it (errno), for the read after the bytes before it.
        var error: UInt16 = 0
    }

    private let ring: OpaquePointer
    private let cancelToken: UInt64
    private let buffers: UnsafeMutablePointer<UInt8>
    private let nextBuffer: UnsafeMutablePointer<UInt16>
    private let lengths: UnsafeMutablePointer<Int>
    /// Indexed by fd.
    private var receivers: UnsafeMutablePointer<Receiver>
    private var capacity = 64
    /// Buffers waiting in the receivers' queues (the kernel has the rest).
    private(set) var held = 0

    /// nil when the kernel has no multishot recv: receives stay in poll mode.
    init?(ring: OpaquePointer, cancelToken: UInt64) {
        guard cr_uring_buffers_create(ring, UInt32(Self.bufferCount), UInt32(Self.bufferSize)) == 0 else { return nil }
        self.ring = ring
        self.cancelToken = cancelToken
        buffers = cr_uring_buffers_base(ring)
        nextBuffer = .allocate(capacity: Self.bufferCount)
        lengths = .allocate(capacity: Self.bufferCount)
        receivers = .allocate(capacity: capacity)
        receivers.initialize(repeating: Receiver(), count: capacity)
    }

    deinit {
        nextBuffer.deallocate()
        lengths.deallocate()
        receivers.deallocate()
    }

    /// `IOHandle.tryRead`'s transfer on a stream socket: a count (0 at EOF) or -errno, as recv's.
    @inline(__always)
    func receive(fd: Int32, generation: UInt32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard Int(fd) < capacity, receivers[Int(fd)].generation == generation else {
            return start(fd: fd, generation: generation, into: buffer)
        }
        let receiver = receivers + Int(fd)
        guard receiver.pointee.queued > 0 else { return drained(receiver, fd: fd, generation: generation, into: buffer) }
        // The counts are bounded by a buffer's size: no overflow checks.
        var copied = 0
        while copied < buffer.count && receiver.pointee.queued > 0 {
            let id = Int(receiver.pointee.head)
            let offset = Int(receiver.pointee.offset)
            let end = offset &+ min(buffer.count &- copied, lengths[id] &- offset)
            let source = buffers + (id &* Self.bufferSize &+ offset)
            (buffer.baseAddress.unsafelyUnwrapped + copied).copyMemory(from: source, byteCount: end &- offset)
            copied &+= end &- offset
            if end < lengths[id] {
                receiver.pointee.offset = UInt16(truncatingIfNeeded: end)
            } else {
                receiver.pointee.offset = 0
                receiver.pointee.head = nextBuffer[id]
                receiver.pointee.queued &-= 1
                give(UInt16(truncatingIfNeeded: id))
            }
        }
        if receiver.pointee.isPaused && receiver.pointee.queued <= Self.resumeAt { resume(receiver, fd: fd, generation: generation) }
        if receiver.pointee.isStarved && receiver.pointee.queued == 0 { starvedAndDrained(receiver, fd: fd, generation: generation) }
        return copied
    }

    /// A read of a registration that does not receive yet makes its own recv. The first that
    /// returns bytes starts the receive (a listener, or a socket still connecting, never does:
    /// the receive would take the error a connect waits for): the poll for readability is
    /// cancelled (the poller does not arm it again once `isReceiving`) and the multishot recv
    /// is queued, to reach the kernel after this recv, so the bytes stay in order.
    @inline(never)
    private func start(fd: Int32, generation: UInt32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = cr_recv(fd, buffer.baseAddress, buffer.count)
        guard count > 0 else { return count }
        if Int(fd) >= capacity {
            // Through a local: a class's property passed inout would be checked for exclusive
            // access at run time, at every access.
            var grownCapacity = capacity
            receivers = .grownTable(receivers, capacity: &grownCapacity, toHold: Int(fd), empty: Receiver())
            capacity = grownCapacity
        }
        receivers[Int(fd)] = Receiver(generation: generation)
        _ = cr_uring_cancel(ring, PollEvent.token(fd: fd, generation: generation), cancelToken)
        arm(receivers + Int(fd), fd: fd, generation: generation)
        return count
    }

    /// Whether the registration receives here (its poll for readability is not wanted).
    func isReceiving(fd: Int32, generation: UInt32) -> Bool {
        Int(fd) < capacity && receivers[Int(fd)].generation == generation
    }

    /// A read that found no buffer waiting.
    @inline(never)
    private func drained(
        _ receiver: UnsafeMutablePointer<Receiver>, fd: Int32, generation: UInt32, into buffer: UnsafeMutableRawBufferPointer
    ) -> Int {
        if receiver.pointee.isEnded {
            let error = receiver.pointee.error
            receiver.pointee.error = 0
            return error == 0 ? 0 : -Int(error)
        }
        guard receiver.pointee.isStarved else { return -Int(EAGAIN) }
        let count = cr_recv(fd, buffer.baseAddress, buffer.count)
        // A short read of a byte stream says the socket is drained, as EAGAIN does.
        if count == -Int(EAGAIN) || (count > 0 && count < buffer.count) { starvedAndDrained(receiver, fd: fd, generation: generation) }
        return count
    }

    /// A starved receiver whose read found nothing more (the readiness is about to be cleared):
    /// it receives into buffers again if there are some, or a poll says when there is more.
    @inline(never)
    private func starvedAndDrained(_ receiver: UnsafeMutablePointer<Receiver>, fd: Int32, generation: UInt32) {
        if held < Self.bufferCount {
            arm(receiver, fd: fd, generation: generation)
        } else {
            pollToRecv(fd: fd, generation: generation)
        }
    }

    /// A one-shot poll for readability: a starved receiver's reads make their own recv.
    private func pollToRecv(fd: Int32, generation: UInt32) {
        _ = cr_uring_poll_add(ring, fd, CR_EPOLLIN | CR_EPOLLRDHUP, PollEvent.token(fd: fd, generation: generation), 0)
    }

    /// A completion whose data carries `tag`: queues its buffer and says what the loop is told.
    func complete(_ completion: cr_completion, fd: Int32, generation: UInt32) -> PollEvent? {
        guard Int(fd) < capacity, receivers[Int(fd)].generation == generation else {
            // A receive of a closed registration: its buffer goes back.
            if completion.buffer >= 0 { cr_uring_buffer_give(ring, UInt16(completion.buffer)) }
            return nil
        }
        let receiver = receivers + Int(fd)
        if completion.more == 0 { receiver.pointee.isLive = false }
        let result = completion.result
        var mask = CR_EPOLLIN
        if result > 0 {
            let id = UInt16(completion.buffer)
            lengths[Int(id)] = Int(result)
            if receiver.pointee.queued == 0 {
                receiver.pointee.head = id
            } else {
                nextBuffer[Int(receiver.pointee.tail)] = id
            }
            receiver.pointee.tail = id
            receiver.pointee.queued += 1
            held += 1
            if receiver.pointee.queued >= Self.pauseAt && !receiver.pointee.isPaused {
                receiver.pointee.isPaused = true
                if receiver.pointee.isLive { cancel(fd: fd, generation: generation) }
            }
        } else {
            // No kernel fills a buffer for an end, but one handed over goes back.
            if completion.buffer >= 0 { cr_uring_buffer_give(ring, UInt16(completion.buffer)) }
            if result == 0 {
                receiver.pointee.isEnded = true
                mask |= CR_EPOLLRDHUP
            } else if result == -ENOBUFS {
                receiver.pointee.isStarved = true
            } else if result != -ECANCELED {
                receiver.pointee.isEnded = true
                receiver.pointee.error = UInt16(truncatingIfNeeded: -result)
                mask = CR_EPOLLERR
            }
        }
        // Ended for a reason of the kernel's own (a full completion ring): receive again.
        if !receiver.pointee.isLive && !receiver.pointee.isPaused && !receiver.pointee.isStarved && !receiver.pointee.isEnded {
            arm(receiver, fd: fd, generation: generation)
        }
        return result == -ECANCELED ? nil : PollEvent(fd: fd, generation: generation, mask: mask)
    }

    /// A new registration of `fd`: a receive left on the fd's number by a registration whose fd
    /// was closed behind the reactor's back is cancelled, and its buffers given back.
    func release(fd: Int32) {
        guard Int(fd) < capacity, case let generation = receivers[Int(fd)].generation, generation != 0 else { return }
        cancel(fd: fd, generation: generation)
        close(fd: fd, generation: generation)
    }

    /// Gives a closed registration's buffers back; the poller cancels its recv.
    func close(fd: Int32, generation: UInt32) {
        guard Int(fd) < capacity, receivers[Int(fd)].generation == generation else { return }
        let receiver = receivers + Int(fd)
        var id = receiver.pointee.head
        for _ in 0..<receiver.pointee.queued {
            let next = nextBuffer[Int(id)]
            give(id)
            id = next
        }
        receiver.pointee = Receiver()
    }

    private func resume(_ receiver: UnsafeMutablePointer<Receiver>, fd: Int32, generation: UInt32) {
        receiver.pointee.isPaused = false
        // A recv still live (its cancellation not yet completed) is armed again when it ends.
        if !receiver.pointee.isLive && !receiver.pointee.isEnded { arm(receiver, fd: fd, generation: generation) }
    }

    /// Queues the multishot recv; a receiver it could not be queued for is starved.
    private func arm(_ receiver: UnsafeMutablePointer<Receiver>, fd: Int32, generation: UInt32) {
        receiver.pointee.isLive = cr_uring_recv_multishot(ring, fd, Self.data(fd: fd, generation: generation)) == 0
        receiver.pointee.isStarved = !receiver.pointee.isLive
        if receiver.pointee.isStarved { pollToRecv(fd: fd, generation: generation) }
    }

    private func cancel(fd: Int32, generation: UInt32) {
        _ = cr_uring_cancel(ring, Self.data(fd: fd, generation: generation), cancelToken)
    }

    private func give(_ id: UInt16) {
        held &-= 1
        cr_uring_buffer_give(ring, id)
    }

    static func data(fd: Int32, generation: UInt32) -> UInt64 {
        PollEvent.token(fd: fd, generation: generation) | UInt64(tag)
    }
}
