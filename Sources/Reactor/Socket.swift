import CReactor
import Glibc

/// A non-blocking socket registered with one reactor.
///
/// The socket's readiness and waiters live in the reactor (`SocketTable`); this handle names
/// the registration by fd and generation, so a handle used after `close()` gets EBADF even
/// when the fd number was reused. Dropping the last reference closes the socket.
public final class Socket: Sendable, CustomStringConvertible {
    public let reactor: Reactor
    /// The file descriptor, for options this type does not wrap. Do not close it yourself.
    public let fileDescriptor: Int32
    let generation: UInt32

    var fd: Int32 { fileDescriptor }

    init(reactor: Reactor, fd: Int32, generation: UInt32) {
        self.reactor = reactor
        self.fileDescriptor = fd
        self.generation = generation
    }

    deinit {
        reactor.close(fd: fileDescriptor, generation: generation)
    }

    public var description: String { "Socket(fd: \(fileDescriptor))" }

    /// Closes the socket: the fd is released, and tasks waiting on it resume with a
    /// `SocketError` (EBADF). Closing twice is harmless. Called off the loop thread, the close
    /// happens in the loop's next turn.
    public func close() {
        reactor.close(fd: fileDescriptor, generation: generation)
    }

    // The synchronous methods below (options, addresses, shutdown) may be called from any
    // thread, but off the loop thread they act on the fd as it is: do not race them with
    // `close()`, or they may reach a new socket that was given the same fd number.

    /// True until `close()` (answered exactly on the loop thread).
    public var isOpen: Bool {
        guard reactor.inLoopThread else { return true }
        return reactor.sockets.slot(fd: fileDescriptor, generation: generation) != nil
    }

    public enum ShutdownDirection: Sendable {
        case read, write, both
    }

    /// shutdown(2): `.write` sends FIN after the queued bytes; the peer reads EOF.
    public func shutdown(_ direction: ShutdownDirection) throws {
        try checkOpen("shutdown")
        let how: Int32 = switch direction {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
        _ = try check(cr_shutdown(fd, how), "shutdown")
    }

    public func setOption(_ option: SocketOption, _ value: Int32) throws {
        try checkOpen("setsockopt")
        _ = try check(cr_setsockopt_int(fd, option.level, option.name, value), "setsockopt")
    }

    public func option(_ option: SocketOption) throws -> Int32 {
        try checkOpen("getsockopt")
        var value: Int32 = 0
        _ = try check(cr_getsockopt_int(fd, option.level, option.name, &value), "getsockopt")
        return value
    }

    public func localAddress() throws -> SocketAddress {
        try checkOpen("getsockname")
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        _ = try check(cr_getsockname(fd, &storage, &length), "getsockname")
        return SocketAddress(storage: storage, length: length)
    }

    public func peerAddress() throws -> SocketAddress {
        try checkOpen("getpeername")
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        _ = try check(cr_getpeername(fd, &storage, &length), "getpeername")
        return SocketAddress(storage: storage, length: length)
    }

    private func checkOpen(_ operation: String) throws {
        guard isOpen else { throw SocketError.closed(operation, fd: fd) }
    }
}

/// A socket option with an integer value.
public struct SocketOption: Sendable {
    public let level: Int32
    public let name: Int32

    public init(level: Int32, name: Int32) {
        self.level = level
        self.name = name
    }

    public static let noDelay = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY)
    public static let reuseAddress = SocketOption(level: SOL_SOCKET, name: SO_REUSEADDR)
    public static let reusePort = SocketOption(level: SOL_SOCKET, name: SO_REUSEPORT)
    public static let keepAlive = SocketOption(level: SOL_SOCKET, name: SO_KEEPALIVE)
    public static let receiveBufferSize = SocketOption(level: SOL_SOCKET, name: SO_RCVBUF)
    public static let sendBufferSize = SocketOption(level: SOL_SOCKET, name: SO_SNDBUF)
}

// MARK: - Opening and closing sockets on a reactor

extension Reactor {
    /// A new, unconnected TCP (or Unix stream) socket for `family`, registered with this
    /// reactor; connect it with `sockConnect`.
    public func makeSocket(family: SocketAddress.Family) async throws -> Socket {
        let domain = switch family {
        case .ipv4: AF_INET
        case .ipv6: AF_INET6
        case .unix: AF_UNIX
        }
        return try await registerOnLoop(check(cr_socket(domain, Int32(SOCK_STREAM.rawValue)), "socket"))
    }

    /// A listening socket bound to `address` (port 0 picks a free port: see `localAddress()`).
    public func listen(
        on address: SocketAddress, backlog: Int32 = 511, reuseAddress: Bool = true, reusePort: Bool = false
    ) async throws -> Socket {
        let fd = try check(cr_socket(address.domain, Int32(SOCK_STREAM.rawValue)), "socket")
        do {
            if address.family != .unix {
                if reuseAddress { _ = try check(cr_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1), "setsockopt(SO_REUSEADDR)") }
                if reusePort { _ = try check(cr_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1), "setsockopt(SO_REUSEPORT)") }
            }
            _ = try address.withSockAddr { try check(cr_bind(fd, $0, $1), "bind to \(address)") }
            _ = try check(cr_listen(fd, backlog), "listen")
        } catch {
            _ = cr_close(fd)
            throw error
        }
        return try await registerOnLoop(fd)
    }

    /// A socket connected to `address` (makeSocket + sockConnect; closed again on failure).
    public func connect(to address: SocketAddress) async throws -> Socket {
        let socket = try await makeSocket(family: address.family)
        do {
            try await sockConnect(socket, to: address)
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    /// Takes ownership of an open socket fd: makes it non-blocking and registers it.
    /// The reactor closes the fd when the returned `Socket` is closed or dropped.
    public func adopt(_ fd: Int32) async throws -> Socket {
        var type: Int32 = 0
        var result = cr_set_nonblocking(fd)
        if result == 0 { result = cr_getsockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) }
        if result < 0 {
            _ = cr_close(fd)
            throw SocketError(operation: "adopt", errno: -result, detail: "fd \(fd)")
        }
        return try await registerOnLoop(fd, isStream: type == Int32(SOCK_STREAM.rawValue))
    }

    /// Registers a non-blocking fd, hopping to the loop thread first if needed; closes the fd
    /// if registration fails.
    func registerOnLoop(_ fd: Int32, isStream: Bool = true) async throws -> Socket {
        guard inLoopThread else { return try await hop(UnsafeTransfer { try await self.registerOnLoop(fd, isStream: isStream) }) }
        return try register(fd, isStream: isStream)
    }

    /// Registers a non-blocking fd on the loop thread (decision 3: once, for both directions).
    func register(_ fd: Int32, isStream: Bool = true) throws -> Socket {
        let (generation, stranded) = sockets.register(fd: fd, isStream: isStream)
        stranded.reader?.continuation.resume(returning: .closed)
        stranded.writer?.continuation.resume(returning: .closed)
        do {
            try poller.register(fd: fd, generation: generation)
        } catch {
            _ = sockets.unregister(fd: fd, generation: generation)
            _ = cr_close(fd)
            throw error
        }
        return Socket(reactor: self, fd: fd, generation: generation)
    }

    /// Closes a registration from any thread (on the loop thread at once, else next turn).
    func close(fd: Int32, generation: UInt32) {
        onLoopThread { self.closeRegistration(fd: fd, generation: generation) }
    }

    /// Closes the fd of a live registration and resumes its waiters with `.closed`.
    func closeRegistration(fd: Int32, generation: UInt32) {
        guard let waiters = sockets.unregister(fd: fd, generation: generation) else { return }
        _ = cr_close(fd)
        waiters.reader?.continuation.resume(returning: .closed)
        waiters.writer?.continuation.resume(returning: .closed)
    }
}
