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
            throw SystemCallError(operation: wakeFD < 0 ? "eventfd" : "epoll_ctl", errno: -added)
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        events = .allocate(capacity: Self.maxEvents)
    }

    /// Adds a socket once, for every readiness it will ever wait on (decision 3).
    func register(fd: Int32, generation: UInt32) throws {
        let events = CR_EPOLLIN | CR_EPOLLOUT | CR_EPOLLRDHUP | CR_EPOLLET
        _ = try check(cr_epoll_add(epollFD, fd, events, Self.token(fd, generation)), "epoll_ctl")
    }

    /// Adds an fd that other code reads and writes (`Reactor.watch`): level-triggered and
    /// one-shot, disarmed until a wait arms it (but for a hang-up or an error, which epoll
    /// reports once), so that readiness nobody waits for is never reported again and again.
    func registerWatched(fd: Int32, generation: UInt32) throws {
        _ = try check(cr_epoll_add(epollFD, fd, CR_EPOLLONESHOT, Self.token(fd, generation)), "epoll_ctl")
    }

    /// Arms a watched fd for one report of the directions waited on: at once if the fd is
    /// ready now, whatever happened to it meanwhile.
    func arm(fd: Int32, generation: UInt32, read: Bool, write: Bool) throws {
        let events = (read ? CR_EPOLLIN | CR_EPOLLRDHUP : 0) | (write ? CR_EPOLLOUT : 0) | CR_EPOLLONESHOT
        _ = try check(cr_epoll_modify(epollFD, fd, events, Self.token(fd, generation)), "epoll_ctl")
    }

    /// Stops watching an fd that stays open (its owner closes it).
    func deregister(fd: Int32) {
        _ = cr_epoll_remove(epollFD, fd)
    }

    /// epoll_data of a registration: its generation beside its fd.
    private static func token(_ fd: Int32, _ generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(fd))
    }

    /// Waits up to `timeoutNanoseconds` (-1: forever) and returns how many events arrived.
    func wait(timeoutNanoseconds: Int64) -> Int {
        let count = cr_epoll_wait(epollFD, events, Int32(Self.maxEvents), timeoutNanoseconds)
        precondition(count >= 0, "epoll_pwait2 failed: \(SystemCallError(operation: "epoll_wait", errno: -count))")
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
