import CReactor
import Glibc

/// The io_uring backend: each registration's readability comes from one multishot poll
/// (edge-triggered, as epoll's registration), its writability from a one-shot poll queued when
/// a task waits to write; submissions are queued in the ring and reach the kernel with the
/// loop's next wait, and a turn that finds completions waiting makes no system call at all.
/// A stream socket, from its first read, receives in completion mode instead (`URingReceives`):
/// its poll for readability is cancelled and not armed again, and its receive's completions
/// report it.
///
/// Completion data is the registration's `PollEvent.token`, with `writeArm` set in a write
/// wait's poll and `URingReceives.tag` in a receive's (fds stay below 2^29). Data with
/// generation 0 is the backend's own: the wake-up eventfd's poll, the cancellations, and the
/// one-shot arms of watched fds, which carry a sequence number so that an arm replaced by a
/// later one is told apart from it.
final class URingPoller: Poller {
    static let entries: UInt32 = 1024
    /// The most completions one `wait` takes; more stay in the ring for the next turn.
    static let maxEvents = 256
    private static let wakeToken = UInt64(UInt32.max)
    private static let cancelToken = UInt64(UInt32.max - 1)
    private static let lastArm = UInt32.max - 2
    private static let writeArm: UInt32 = 1 << 30
    private static let readEvents = CR_EPOLLIN | CR_EPOLLRDHUP

    var backend: Reactor.Backend { .ioUring }
    private let ring: OpaquePointer
    private let wakeFD: Int32
    private var isClosed = false
    private let completions: UnsafeMutablePointer<cr_completion>
    /// The registrations whose multishot poll is live: one the kernel ends is armed again.
    private var registered = Set<UInt64>()
    /// The watched fds' pending arms, by sequence number, and each fd's current one.
    private var arms: [UInt32: (fd: Int32, generation: UInt32)] = [:]
    private var armOfFD: [Int32: UInt32] = [:]
    private var lastArmSequence: UInt32 = 0
    /// The receives in completion mode, nil where the kernel has no provided-buffer rings.
    let receives: URingReceives?

    init() throws {
        var ring: OpaquePointer?
        let created = cr_uring_create(Self.entries, &ring)
        guard created == 0, let ring else { throw SystemCallError(operation: "io_uring_setup", errno: -created) }
        let wakeFD = cr_eventfd()
        if wakeFD < 0 {
            cr_uring_destroy(ring)
            throw SystemCallError(operation: "eventfd", errno: -wakeFD)
        }
        self.ring = ring
        self.wakeFD = wakeFD
        completions = .allocate(capacity: Self.maxEvents)
        receives = URingReceives(ring: ring, cancelToken: Self.cancelToken)
        try add(fd: wakeFD, events: CR_EPOLLIN, data: Self.wakeToken, multishot: true)
        // A kernel or a seccomp profile that refuses io_uring's operations says so here, while
        // the reactor can still fall back to epoll. (Thrown from here on, deinit releases what
        // was made.)
        _ = try check(cr_uring_submit(ring), "io_uring_enter")
    }

    func register(fd: Int32, generation: UInt32) throws {
        receives?.release(fd: fd)
        let token = PollEvent.token(fd: fd, generation: generation)
        try add(fd: fd, events: Self.readEvents, data: token, multishot: true)
        registered.insert(token)
    }

    /// At once if the fd is writable when the kernel sees the poll: no edge is missed.
    func willWaitToWrite(fd: Int32, generation: UInt32) {
        try? add(fd: fd, events: CR_EPOLLOUT, data: PollEvent.token(fd: fd, generation: generation) | UInt64(Self.writeArm), multishot: false)
    }

    /// Nothing to tell the kernel until a wait arms it.
    func registerWatched(fd: Int32, generation: UInt32) throws {
        receives?.release(fd: fd)
    }

    func arm(fd: Int32, generation: UInt32, read: Bool, write: Bool) throws {
        if let previous = armOfFD.removeValue(forKey: fd) {
            arms[previous] = nil
            _ = try check(cr_uring_cancel(ring, UInt64(previous), Self.cancelToken), "io_uring cancel")
        }
        lastArmSequence = lastArmSequence >= Self.lastArm ? 1 : lastArmSequence + 1
        let sequence = lastArmSequence
        let events = (read ? Self.readEvents : 0) | (write ? CR_EPOLLOUT : 0)
        try add(fd: fd, events: events, data: UInt64(sequence), multishot: false)
        arms[sequence] = (fd, generation)
        armOfFD[fd] = sequence
    }

    /// Cancels every poll and receive of the fd and submits the cancellation at once: the kernel holds a
    /// reference to the file while it polls it, and a socket closed with a poll pending would
    /// stay open.
    func deregister(fd: Int32, generation: UInt32, closing: Bool) {
        registered.remove(PollEvent.token(fd: fd, generation: generation))
        receives?.close(fd: fd, generation: generation)
        if let sequence = armOfFD.removeValue(forKey: fd) { arms[sequence] = nil }
        _ = cr_uring_cancel_fd(ring, fd, Self.cancelToken)
        _ = cr_uring_submit(ring)
    }

    func wait(timeoutNanoseconds: Int64, _ report: (PollEvent) -> Void) {
        let count = cr_uring_wait(ring, completions, Int32(Self.maxEvents), timeoutNanoseconds)
        precondition(count >= 0, "io_uring_enter failed: \(SystemCallError(operation: "io_uring_enter", errno: -count))")
        for index in 0..<Int(count) {
            let completion = completions[index]
            let data = completion.data
            let generation = UInt32(truncatingIfNeeded: data >> 32)
            let low = UInt32(truncatingIfNeeded: data)
            if generation != 0 && low & URingReceives.tag != 0 {
                let fd = Int32(bitPattern: low & ~URingReceives.tag)
                if let event = receives?.complete(completion, fd: fd, generation: generation) { report(event) }
            } else if generation != 0 {
                let fd = Int32(bitPattern: low & ~Self.writeArm)
                if low & Self.writeArm == 0 && completion.more == 0 && registered.contains(data) {
                    if completion.result < 0 && completion.result != -ECANCELED
                        || receives?.isReceiving(fd: fd, generation: generation) == true
                    {
                        registered.remove(data)
                    } else {
                        // The kernel ended the multishot poll (a full completion ring): poll again.
                        try? add(fd: fd, events: Self.readEvents, data: data, multishot: true)
                    }
                }
                if completion.result != -ECANCELED && completion.result != 0 {
                    report(Self.event(fd, generation, completion.result))
                }
            } else if data == Self.wakeToken {
                _ = cr_eventfd_drain(wakeFD)
                if completion.more == 0 { try? add(fd: wakeFD, events: CR_EPOLLIN, data: Self.wakeToken, multishot: true) }
            } else if data != Self.cancelToken, let armed = arms.removeValue(forKey: low) {
                if armOfFD[armed.fd] == low { armOfFD[armed.fd] = nil }
                if completion.result != -ECANCELED { report(Self.event(armed.fd, armed.generation, completion.result)) }
            }
        }
    }

    /// A poll's result: its mask of ready events, or -errno, reported as a failure.
    private static func event(_ fd: Int32, _ generation: UInt32, _ result: Int32) -> PollEvent {
        PollEvent(fd: fd, generation: generation, mask: result >= 0 ? UInt32(result) : CR_EPOLLERR)
    }

    private func add(fd: Int32, events: UInt32, data: UInt64, multishot: Bool) throws {
        _ = try check(cr_uring_poll_add(ring, fd, events, data, multishot ? 1 : 0), "io_uring poll")
    }

    func wake() {
        _ = cr_eventfd_signal(wakeFD)
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        cr_uring_destroy(ring)
        _ = cr_close(wakeFD)
    }

    deinit {
        close()
        completions.deallocate()
    }
}
