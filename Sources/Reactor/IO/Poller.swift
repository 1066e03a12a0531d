import CReactor
import Glibc
import Logging

/// What a poller reports of one registration: which of its directions became ready, in the
/// backend's neutral terms (epoll's and io_uring's poll bits are decoded by the backend).
struct PollEvent {
    var fd: Int32
    var generation: UInt32
    var readable: Bool
    var writable: Bool
    /// The peer's FIN: the read side is done for good.
    var readClosed: Bool
    /// A hang-up or an error: both sides are done; the next system call says what happened.
    var failed: Bool

    /// From a mask of epoll's bits, which io_uring's polls report too.
    init(fd: Int32, generation: UInt32, mask: UInt32) {
        self.fd = fd
        self.generation = generation
        readable = mask & CR_EPOLLIN != 0
        writable = mask & CR_EPOLLOUT != 0
        readClosed = mask & CR_EPOLLRDHUP != 0
        failed = mask & (CR_EPOLLHUP | CR_EPOLLERR) != 0
    }

    /// What a backend hands the kernel to tell a registration's events apart: its generation
    /// beside its fd (generations start at 1, so a token with generation 0 is the backend's).
    static func token(fd: Int32, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(fd))
    }
}

/// The reactor's OS layer (Redis's `ae_epoll.c`, mio's `sys::Selector`): registrations
/// identified by fd and generation, readiness reported as `PollEvent`s, and a wake-up that
/// other threads may call. The loop knows nothing of the backend under it.
protocol Poller: AnyObject {
    var backend: Reactor.Backend { get }
    /// Adds a socket or pipe the reactor owns, once, for every readiness it will ever wait on,
    /// edge-triggered (decision 3).
    func register(fd: Int32, generation: UInt32) throws
    /// Adds an fd that other code reads and writes (`Reactor.watch`), disarmed until `arm`.
    func registerWatched(fd: Int32, generation: UInt32) throws
    /// A task is about to park until a registered fd is writable: for a backend that reports
    /// writability only when asked (io_uring: writable sockets would otherwise post a completion
    /// for every acknowledgement).
    func willWaitToWrite(fd: Int32, generation: UInt32)
    /// Arms a watched fd for one report of the directions waited on: at once if the fd is
    /// ready now, whatever happened to it meanwhile.
    func arm(fd: Int32, generation: UInt32, read: Bool, write: Bool) throws
    /// Ends a registration. `closing`: the reactor closes the fd right after; otherwise it stays
    /// open (a watched fd's owner closes it).
    func deregister(fd: Int32, generation: UInt32, closing: Bool)
    /// Waits up to `timeoutNanoseconds` (-1: forever, 0: not at all) and reports each event
    /// that arrived; wake-ups are taken by the backend itself.
    func wait(timeoutNanoseconds: Int64, _ report: (PollEvent) -> Void)
    /// Called from any thread: makes a blocked `wait` return.
    func wake()
    /// Releases the backend's descriptors; the loop calls this once, as it ends.
    func close()
}

extension Reactor {
    /// The system interface a reactor's loop waits on.
    public enum Backend: String, Sendable, CaseIterable {
        /// epoll, edge-triggered: the default.
        case epoll
        /// io_uring (Linux 5.11 and later; from 6.3, stream sockets receive in completion
        /// mode); where the kernel lacks it or forbids it (seccomp, `kernel.io_uring_disabled`),
        /// the reactor logs why and uses epoll.
        case ioUring = "io_uring"

        /// `REACTOR_BACKEND` from the environment (`epoll` or `io_uring`); epoll when unset.
        public static var fromEnvironment: Backend {
            getenv("REACTOR_BACKEND").flatMap { Backend(rawValue: String(cString: $0)) } ?? .epoll
        }
    }

    /// The poller for `backend`, or epoll with a logged reason when io_uring cannot be used.
    static func makePoller(_ backend: Backend, logger: Logger) throws -> any Poller {
        if backend == .ioUring {
            do {
                return try URingPoller()
            } catch {
                logger.warning("io_uring is unavailable (\(error)); the reactor uses epoll")
            }
        }
        return try EpollPoller()
    }
}
