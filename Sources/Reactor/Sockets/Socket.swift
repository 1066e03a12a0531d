import CReactor
import Glibc

/// A non-blocking socket registered with one reactor: an `IOHandle` whose reads and writes
/// are recv(2) and send(2) (with MSG_NOSIGNAL: a peer that went away never raises SIGPIPE),
/// with the socket calls on top.
///
/// The synchronous methods (options, addresses, shutdown) run on the loop thread, so they
/// never race `close()`: called from a thread that runs no reactor, they wait for the loop to
/// run them; from another reactor's loop thread they are refused (see `Reactor.runOnLoop`).
public final class Socket: IOHandle, @unchecked Sendable {
    public enum ShutdownDirection: Sendable {
        case read, write, both
    }

    /// A byte stream (TCP, a Unix stream socket) or datagrams (UDP, a Unix datagram socket).
    public enum Kind: Sendable {
        case stream, datagram
    }

    init(reactor: Reactor, fd: Int32, generation: UInt32, isDatagram: Bool) {
        super.init(reactor: reactor, fd: fd, generation: generation, isSocket: true, isDatagram: isDatagram)
    }

    /// bind(2): gives the socket its local address (port 0 picks a free one: see
    /// `localAddress()`). For a datagram socket that receives, or a client that must send from
    /// a given address; `Reactor.listen` binds a listener itself.
    public func bind(to address: SocketAddress) throws {
        try onOpenSocket("bind") { fd in _ = try address.withSockAddr { try check(cr_bind(fd, $0, $1), "bind to \(address)") } }
    }

    /// shutdown(2): `.write` sends FIN after the queued bytes; the peer reads EOF.
    public func shutdown(_ direction: ShutdownDirection) throws {
        let how: Int32 = switch direction {
        case .read: Int32(SHUT_RD)
        case .write: Int32(SHUT_WR)
        case .both: Int32(SHUT_RDWR)
        }
        try onOpenSocket("shutdown") { _ = try check(cr_shutdown($0, how), "shutdown") }
    }

    public func setOption(_ option: SocketOption, _ value: Int32) throws {
        try onOpenSocket("setsockopt") { _ = try check(cr_setsockopt_int($0, option.level, option.name, value), "setsockopt") }
    }

    public func option(_ option: SocketOption) throws -> Int32 {
        try onOpenSocket("getsockopt") { fd in
            var value: Int32 = 0
            _ = try check(cr_getsockopt_int(fd, option.level, option.name, &value), "getsockopt")
            return value
        }
    }

    public func localAddress() throws -> SocketAddress {
        try address("getsockname", cr_getsockname)
    }

    public func peerAddress() throws -> SocketAddress {
        try address("getpeername", cr_getpeername)
    }

    private func address(
        _ operation: String,
        _ call: @escaping @Sendable (Int32, UnsafeMutablePointer<sockaddr_storage>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws -> SocketAddress {
        try onOpenSocket(operation) { fd in
            var address = SocketAddress()
            _ = try check(address.withUnsafeMutableStorage { call(fd, $0, $1) }, operation)
            return address
        }
    }

    /// Runs `call` with the fd on the loop thread while the socket is open (EBADF once closed).
    private func onOpenSocket<T: Sendable>(_ operation: String, _ call: @escaping @Sendable (Int32) throws -> T) throws -> T {
        try reactor.runOnLoopAndWait(operation) { [reactor, fd, generation] in
            guard reactor.sources.source(fd: fd, generation: generation) != nil else {
                throw SystemCallError.closed(operation, fd: fd)
            }
            return try call(fd)
        }
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
    /// UDP receive offload (UDP_GRO, Linux 5.0): a batch receive may return several datagrams
    /// of one sender in one message (`DatagramBatch.Message.segmentSize`).
    public static let udpReceiveOffload = SocketOption(level: Int32(IPPROTO_UDP), name: CR_UDP_GRO)
    /// UDP segmentation offload for every send (UDP_SEGMENT, Linux 4.18): the segment size.
    /// A batch sets it per message instead (`DatagramBatch.append(_:to:segmentSize:)`).
    public static let udpSegmentSize = SocketOption(level: Int32(IPPROTO_UDP), name: CR_UDP_SEGMENT)
}

// MARK: - Opening and closing sockets on a reactor

extension Reactor {
    /// A new, unconnected socket for `family`, registered with this reactor: TCP (or Unix
    /// stream), to connect with `sockConnect`; or with `kind: .datagram`, UDP (or Unix
    /// datagram), to `bind(to:)` and use with `sockSendto` / `sockRecvfrom`, or to connect
    /// with `sockConnect` and use with `sockSend` / `sockRecv`.
    public func makeSocket(
        family: SocketAddress.Family, kind: Socket.Kind = .stream, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> Socket {
        let domain = switch family {
        case .ipv4: AF_INET
        case .ipv6: AF_INET6
        case .unix: AF_UNIX
        }
        let type = kind == .stream ? SOCK_STREAM : SOCK_DGRAM
        let fd = try check(cr_socket(domain, Int32(type.rawValue)), "socket")
        return try await registerOnLoop(fd, isSocket: true, isStream: kind == .stream, operation: "makeSocket", file: file, line: line) as! Socket
    }

    /// A listening socket bound to `address` (port 0 picks a free port: see `localAddress()`).
    public func listen(
        on address: SocketAddress, backlog: Int32 = 511, reuseAddress: Bool = true, reusePort: Bool = false,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws -> Socket {
        try await listenBound(on: address, backlog: backlog, reuseAddress: reuseAddress, reusePort: reusePort, file: file, line: line).socket
    }

    /// `listen`, with the address the listener was bound to (its port, for port 0), read
    /// before the socket is registered, so that a caller on another reactor's thread gets it
    /// too.
    package func listenBound(
        on address: SocketAddress, backlog: Int32 = 511, reuseAddress: Bool = true, reusePort: Bool = false,
        file: StaticString = #fileID, line: UInt = #line
    ) async throws -> (socket: Socket, address: SocketAddress) {
        let fd = try check(cr_socket(address.domain, Int32(SOCK_STREAM.rawValue)), "socket")
        var bound = address
        do {
            if address.family == .ipv6 {
                // As asyncio's create_server: an IPv6 listener takes IPv6 only, so that one on
                // "::" and one on "0.0.0.0" can share a port.
                _ = try check(cr_setsockopt_int(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1), "setsockopt(IPV6_V6ONLY)")
            }
            if address.family != .unix {
                if reuseAddress { _ = try check(cr_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1), "setsockopt(SO_REUSEADDR)") }
                if reusePort { _ = try check(cr_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1), "setsockopt(SO_REUSEPORT)") }
            }
            _ = try address.withSockAddr { try check(cr_bind(fd, $0, $1), "bind to \(address)") }
            _ = try check(cr_listen(fd, backlog), "listen")
            if address.family != .unix {
                _ = try check(bound.withUnsafeMutableStorage { cr_getsockname(fd, $0, $1) }, "getsockname")
            }
        } catch {
            _ = cr_close(fd)
            throw error
        }
        return (try await registerSocket(fd, operation: "listen", file: file, line: line), bound)
    }

    /// A socket connected to `address` (makeSocket + sockConnect; closed again on failure).
    public func connect(to address: SocketAddress, file: StaticString = #fileID, line: UInt = #line) async throws -> Socket {
        let socket = try await makeSocket(family: address.family, file: file, line: line)
        do {
            try await sockConnect(socket, to: address, file: file, line: line)
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    private func registerSocket(_ fd: Int32, operation: StaticString, file: StaticString, line: UInt) async throws -> Socket {
        try await registerOnLoop(fd, isSocket: true, isStream: true, operation: operation, file: file, line: line) as! Socket
    }
}
