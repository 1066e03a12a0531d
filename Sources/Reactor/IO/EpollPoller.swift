import CReactor

/// The epoll backend: one epoll instance, edge-triggered, and an eventfd that lets other
/// threads wake it.
///
/// epoll_data carries the registration's `PollEvent.token`; the wake-up eventfd is marked by
/// `wakeToken`, which no registration can produce.
final class EpollPoller: Poller {
    static let wakeToken = UInt64(UInt32.max)
    /// The most events one `wait` returns; more stay queued in the kernel for the next turn.
    static let maxEvents = 256

    var backend: Reactor.Backend { .epoll }
    private let epollFD: Int32
    private let wakeFD: Int32
    private var isClosed = false
    private let events: UnsafeMutablePointer<cr_event>

    init() throws {
        let epollFD = try check(cr_epoll_create(), "epoll_create1")
        let wakeFD = cr_eventfd()
        let added = wakeFD < 0 ? wakeFD : cr_epoll_add(epollFD, wakeFD, CR_EPOLLIN | CR_EPOLLET, Self.wakeToken)
        if added < 0 {
            if wakeFD >= 0 { _ = cr_close(wakeFD) }
            _ = cr_close(epollFD)
            throw SystemCallError(operation: wakeFD < 0 ? "eventfd" : "epoll_ctl", errno: -added)
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        events = .allocate(capacity: Self.maxEvents)
    }

    func register(fd: Int32, generation: UInt32) throws {
        let events = CR_EPOLLIN | CR_EPOLLOUT | CR_EPOLLRDHUP | CR_EPOLLET
        _ = try check(cr_epoll_add(epollFD, fd, events, PollEvent.token(fd: fd, generation: generation)), "epoll_ctl")
    }

    /// The registration reports every edge in both directions already.
    func willWaitToWrite(fd: Int32, generation: UInt32) {}

    /// Level-triggered and one-shot, so that readiness nobody waits for is never reported
    /// again and again (but for a hang-up or an error, which epoll reports once).
    func registerWatched(fd: Int32, generation: UInt32) throws {
        _ = try check(cr_epoll_add(epollFD, fd, CR_EPOLLONESHOT, PollEvent.token(fd: fd, generation: generation)), "epoll_ctl")
    }

    func arm(fd: Int32, generation: UInt32, read: Bool, write: Bool) throws {
        let events = (read ? CR_EPOLLIN | CR_EPOLLRDHUP : 0) | (write ? CR_EPOLLOUT : 0) | CR_EPOLLONESHOT
        _ = try check(cr_epoll_modify(epollFD, fd, events, PollEvent.token(fd: fd, generation: generation)), "epoll_ctl")
    }

    /// A closed fd leaves the epoll set by itself: only a watched one is removed.
    func deregister(fd: Int32, generation: UInt32, closing: Bool) {
        if !closing { _ = cr_epoll_remove(epollFD, fd) }
    }

    func wait(timeoutNanoseconds: Int64, _ report: (PollEvent) -> Void) {
        let count = cr_epoll_wait(epollFD, events, Int32(Self.maxEvents), timeoutNanoseconds)
        precondition(count >= 0, "epoll_pwait2 failed: \(SystemCallError(operation: "epoll_wait", errno: -count))")
        for index in 0..<Int(count) {
            let event = events[index]
            if event.data == Self.wakeToken {
                _ = cr_eventfd_drain(wakeFD)
                continue
            }
            report(
                PollEvent(
                    fd: Int32(truncatingIfNeeded: event.data), generation: UInt32(truncatingIfNeeded: event.data >> 32),
                    mask: event.events))
        }
    }

    func wake() {
        _ = cr_eventfd_signal(wakeFD)
    }

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
