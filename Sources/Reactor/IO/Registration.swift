import CReactor
import Glibc

/// Registering file descriptors with a reactor, and closing them: once each, for both
/// directions (the design article, "Register once, edge-triggered").
extension Reactor {
    /// Takes ownership of an open fd of any kind epoll can watch (a socket, a pipe or FIFO,
    /// an eventfd, a signalfd, a pidfd, a timerfd): makes it non-blocking and registers it.
    /// A socket comes back as a `Socket`. The reactor closes the fd when the handle is
    /// closed or dropped, and also when adopting fails (EPERM for a regular file, which epoll
    /// cannot watch).
    public func adopt(_ fd: Int32, file: StaticString = #fileID, line: UInt = #line) async throws -> IOHandle {
        var type: Int32 = 0
        var result = cr_set_nonblocking(fd)
        if result == 0 { result = cr_getsockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) }
        let isSocket = result == 0
        if result == -ENOTSOCK {
            // A regular file or a directory is always ready: epoll refuses it, and so does every
            // backend (io_uring would report it ready forever).
            var status = stat()
            result = fstat(fd, &status) < 0 ? -errno : 0
            let kind = status.st_mode & S_IFMT
            if result == 0 && (kind == S_IFREG || kind == S_IFDIR) { result = -EPERM }
        }
        if result < 0 {
            _ = cr_close(fd)
            throw SystemCallError(operation: "adopt", errno: -result, detail: "fd \(fd)")
        }
        if !isSocket { ignoreSIGPIPE() }
        return try await registerOnLoop(
            fd, isSocket: isSocket, isStream: !isSocket || type == Int32(SOCK_STREAM.rawValue), operation: "adopt", file: file, line: line)
    }

    /// Takes ownership of an open socket fd, as `adopt` does; throws ENOTSOCK (and closes
    /// the fd) for anything else.
    public func adoptSocket(_ fd: Int32, file: StaticString = #fileID, line: UInt = #line) async throws -> Socket {
        let handle = try await adopt(fd, file: file, line: line)
        guard let socket = handle as? Socket else {
            handle.close()
            throw SystemCallError(operation: "adopt", errno: ENOTSOCK, detail: "fd \(fd)")
        }
        return socket
    }

    /// Watches an fd that other code owns, reads and writes (a C library's, a database
    /// driver's), without taking it over: asyncio's `add_reader` / `add_writer`. Its waits are
    /// level-triggered: `waitUntilReadable()` returns once the fd is readable at or after the
    /// call, however much of it the owner read meanwhile, at the cost of one epoll_ctl per
    /// wait (asyncio pays the same). `close()` stops watching and leaves the fd open, as
    /// asyncio's `remove_reader` does; its blocking mode is left as the owner set it. An fd
    /// this reactor already has registered is refused with EEXIST. As with asyncio, stop
    /// watching before the owner closes the fd: epoll forgets a closed fd without a word, so
    /// a task still waiting on it would wait for good.
    public func watch(_ fd: Int32, file: StaticString = #fileID, line: UInt = #line) async throws -> IOHandle {
        try await runOnLoop((self, fd), file: file, line: line) { arguments in
            let (reactor, fd) = arguments
            return try reactor.registerWatched(fd)
        }
    }

    /// A new pipe (pipe2 with O_NONBLOCK | O_CLOEXEC): bytes written to `write` come out of
    /// `read`. Streams read and write it as they do a socket. SIGPIPE is ignored from then on
    /// unless the process chose a disposition of its own: a write to a pipe whose reader is
    /// gone fails with EPIPE instead of killing the process, as in asyncio.
    public func makePipe(file: StaticString = #fileID, line: UInt = #line) async throws -> (read: IOHandle, write: IOHandle) {
        var fds: [Int32] = [-1, -1]
        _ = try check(cr_pipe(&fds), "pipe2")
        ignoreSIGPIPE()
        let read: IOHandle
        do {
            read = try await registerOnLoop(fds[0], isSocket: false, isStream: true, operation: "makePipe", file: file, line: line)
        } catch {
            _ = cr_close(fds[1])
            throw error
        }
        return (read, try await registerOnLoop(fds[1], isSocket: false, isStream: true, operation: "makePipe", file: file, line: line))
    }

    private func ignoreSIGPIPE() {
        _ = Self.sigpipeIgnored
    }

    /// Set once per process, the first time a pipe or other non-socket is registered.
    private static let sigpipeIgnored: Bool = cr_ignore_sigpipe() == 0

    /// Registers a non-blocking fd, hopping to the loop thread first if needed; closes the fd
    /// if registration fails. `operation`, `file` and `line` name the public call, for debug
    /// mode's report of a hop.
    func registerOnLoop(
        _ fd: Int32, isSocket: Bool, isStream: Bool, operation: StaticString, file: StaticString, line: UInt
    ) async throws -> IOHandle {
        do {
            return try await runOnLoop((self, fd, isSocket, isStream), operation: operation, file: file, line: line) { arguments in
                let (reactor, fd, isSocket, isStream) = arguments
                return try reactor.register(fd, isSocket: isSocket, isStream: isStream)
            }
        } catch let error as ReactorError where error.code == .shutDown {
            // The loop refused the hop, so `register` never ran: the fd is still this call's.
            _ = cr_close(fd)
            throw error
        }
    }

    /// Registers a non-blocking fd on the loop thread, once for both directions.
    func register(_ fd: Int32, isSocket: Bool = true, isStream: Bool = true) throws -> IOHandle {
        let (generation, stranded) = sources.register(fd: fd, isStream: isStream)
        if let waiter = stranded.reader { wake(waiter, .closed) }
        if let waiter = stranded.writer { wake(waiter, .closed) }
        do {
            try poller.register(fd: fd, generation: generation)
        } catch {
            _ = sources.unregister(fd: fd, generation: generation)
            _ = cr_close(fd)
            throw error
        }
        if isSocket { return Socket(reactor: self, fd: fd, generation: generation, isDatagram: !isStream) }
        return IOHandle(reactor: self, fd: fd, generation: generation, isSocket: false)
    }

    /// Registers an fd for `watch`, on the loop thread; on failure the fd stays as it was.
    private func registerWatched(_ fd: Int32) throws -> IOHandle {
        guard fd >= 0 else { throw SystemCallError(operation: "watch", errno: EBADF, detail: "fd \(fd)") }
        if sources.isRegistered(fd: fd) {
            throw SystemCallError(operation: "watch", errno: EEXIST, detail: "fd \(fd) is already registered with this reactor")
        }
        let (generation, _) = sources.register(fd: fd, isStream: true, isWatched: true)
        do {
            try poller.registerWatched(fd: fd, generation: generation)
        } catch {
            _ = sources.unregister(fd: fd, generation: generation)
            throw error
        }
        return IOHandle(reactor: self, fd: fd, generation: generation, isSocket: false)
    }

    /// Closes a registration from any thread (on the loop thread at once, else next turn).
    func close(fd: Int32, generation: UInt32) {
        runOnLoopNowOrNextTurn((self, fd, generation)) { reactor, fd, generation in
            reactor.closeRegistration(fd: fd, generation: generation)
        }
    }

    /// Closes the fd of a live registration (a watched one is only no longer watched) and
    /// resumes its waiters with `.closed`.
    func closeRegistration(fd: Int32, generation: UInt32) {
        guard let isWatched = sources.source(fd: fd, generation: generation)?.pointee.isWatched,
            let waiters = sources.unregister(fd: fd, generation: generation)
        else { return }
        poller.deregister(fd: fd, generation: generation, closing: !isWatched)
        if !isWatched { _ = cr_close(fd) }
        if let waiter = waiters.reader { wake(waiter, .closed) }
        if let waiter = waiters.writer { wake(waiter, .closed) }
    }
}
