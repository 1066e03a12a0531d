import CReactor

/// The reactor's OS layer: one epoll instance, edge-triggered, and an eventfd that lets
/// other threads wake it.
///
/// epoll_data carries (generation << 32 | fd) for sockets; the wake-up eventfd is marked by
/// `Poller.wakeToken`, which no registration can produce (generations start at 1).
final class Poller {
    static let wakeToken = UInt64(UInt32.max)
    /// The most events one `wait` returns; more stay queued in the kernel for the next turn.
    static let maxEvents = 256

    private let epollFD: Int32
    private let wakeFD: Int32
    private var isClosed = false
    let events: UnsafeMutablePointer<cr_event>

    init() throws {
        let epollFD = try check(cr_epoll_create(), "epoll_create1")
        let wakeFD = cr_eventfd()
        let added = wakeFD < 0 ? wakeFD : cr_epoll_add(epollFD, wakeFD, CR_EPOLLIN | CR_EPOLLET, Self.wakeToken)
        if added < 0 {
            if wakeFD >= 0 { _ = cr_close(wakeFD) }
            _ = cr_close(epollFD)
            throw SocketError(operation: wakeFD < 0 ? "eventfd" : "epoll_ctl", errno: -added)
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        events = .allocate(capacity: Self.maxEvents)
    }

    /// Adds a socket once, for every readiness it will ever wait on (decision 3).
    func register(fd: Int32, generation: UInt32) throws {
        let events = CR_EPOLLIN | CR_EPOLLOUT | CR_EPOLLRDHUP | CR_EPOLLET
        _ = try check(cr_epoll_add(epollFD, fd, events, UInt64(generation) << 32 | UInt64(UInt32(fd))), "epoll_ctl")
    }

    /// Waits up to `timeoutNanoseconds` (-1: forever) and returns how many events arrived.
    func wait(timeoutNanoseconds: Int64) -> Int {
        let count = cr_epoll_wait(epollFD, events, Int32(Self.maxEvents), timeoutNanoseconds)
        precondition(count >= 0, "epoll_pwait2 failed: \(SocketError(operation: "epoll_wait", errno: -count))")
        return Int(count)
    }

    /// Called from any thread: makes a blocked `wait` return.
    func wake() {
        _ = cr_eventfd_signal(wakeFD)
    }

    /// Resets the wake-up eventfd after it fired.
    func acknowledgeWake() {
        _ = cr_eventfd_drain(wakeFD)
    }

    /// Closes the epoll and eventfd descriptors; the loop calls this once, as it ends.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        _ = cr_close(wakeFD)
        _ = cr_close(epollFD)
    }

    deinit {
        close()
        events.deallocate()
    }
}
