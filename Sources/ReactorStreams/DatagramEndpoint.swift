import Glibc
import Reactor
import Synchronization

/// A datagram and who sent it.
public struct Datagram: Sendable, Hashable {
    public let bytes: [UInt8]
    /// The sender of a received datagram.
    public let address: SocketAddress

    public init(bytes: [UInt8], address: SocketAddress) {
        self.bytes = bytes
        self.address = address
    }
}

/// Opens a UDP endpoint (asyncio's `create_datagram_endpoint`): a datagram socket bound to
/// `local` (a host name or numeric address, resolved off the loop thread, and a port; port 0
/// picks a free one), connected to `remote` when given, so that `send` needs no address and
/// only the remote's datagrams arrive. Either may be nil, not both. With `reusePort`, several
/// endpoints (a process's reactors, or several processes) share the local port and the kernel
/// spreads senders over them.
public func createDatagramEndpoint(
    local: (host: String, port: Int)? = nil, remote: (host: String, port: Int)? = nil, reusePort: Bool = false,
    maxDatagramSize: Int = 65_536, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> DatagramEndpoint {
    let reactor = try Reactor.resolve(reactor, for: "createDatagramEndpoint")
    guard local != nil || remote != nil else { throw ReactorError(.invalidArgument, "createDatagramEndpoint needs a local or a remote address") }
    guard (0...(1 << 20)).contains(maxDatagramSize) else {
        throw ReactorError(.invalidArgument, "maxDatagramSize \(maxDatagramSize) is not in 0...1048576")
    }
    var remoteAddress: SocketAddress?
    if let remote { remoteAddress = try await SocketAddress.resolve(host: remote.host, port: remote.port, on: reactor.blockingPool)[0] }
    var localAddress: SocketAddress?
    if let local { localAddress = try await SocketAddress.resolve(host: local.host, port: local.port, on: reactor.blockingPool)[0] }
    let family = localAddress?.family ?? remoteAddress!.family
    let socket = try await reactor.makeSocket(family: family, kind: .datagram, file: file, line: line)
    do {
        // The socket's synchronous calls belong to its reactor's loop.
        try await reactor.runOnLoop((socket, localAddress, reusePort)) { arguments in
            let (socket, address, reusePort) = arguments
            if reusePort { try socket.setOption(.reusePort, 1) }
            if let address { try socket.bind(to: address) }
        }
        if let remoteAddress { try await reactor.sockConnect(socket, to: remoteAddress, file: file, line: line) }
        let bound = try await reactor.runOnLoop(socket) { try $0.localAddress() }
        return DatagramEndpoint(socket: socket, localAddress: bound, remoteAddress: remoteAddress, maxDatagramSize: maxDatagramSize)
    } catch {
        socket.close()
        throw error
    }
}

/// A UDP endpoint: `send` datagrams, and receive them as an `AsyncSequence` (`for try await
/// datagram in endpoint`), which ends once `close()` is called. One task at a time receives.
/// A received datagram is copied into an array of its own; for no allocation per datagram,
/// use `Reactor.sockRecvfrom(_:into:)` with a `DatagramBatch` on `socket`.
///
/// An error ends the iteration, as it ends any `AsyncSequence`: a connected endpoint's
/// ECONNREFUSED (the peer's port is closed) or a `TruncatedDatagramError`. To carry on past
/// them, as asyncio's `error_received` does, call `receive()` in a loop and catch them.
public final class DatagramEndpoint: AsyncSequence, @unchecked Sendable {  // `buffer` is the receiving task's
    public typealias Element = Datagram

    /// The socket, for the sock-level and batched calls.
    public let socket: Socket
    /// Where the endpoint is bound (with the port the kernel picked, for port 0).
    public let localAddress: SocketAddress
    /// The peer of a connected endpoint.
    public let remoteAddress: SocketAddress?
    /// The longest datagram received whole; a longer one throws `TruncatedDatagramError`.
    public let maxDatagramSize: Int
    private let closed = Atomic<Bool>(false)
    /// What a datagram is received into, then copied out of at once.
    private let buffer: UnsafeMutableRawBufferPointer

    init(socket: Socket, localAddress: SocketAddress, remoteAddress: SocketAddress?, maxDatagramSize: Int) {
        self.socket = socket
        self.localAddress = localAddress
        self.remoteAddress = remoteAddress
        self.maxDatagramSize = maxDatagramSize
        buffer = .allocate(byteCount: Swift.max(maxDatagramSize, 1), alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Sends `bytes` as one datagram to `address`, or to the remote of a connected endpoint
    /// (asyncio's `transport.sendto`). Waits only while the socket's send buffer is full.
    public nonisolated(nonsending) func send(_ bytes: [UInt8], to address: SocketAddress? = nil, file: StaticString = #fileID, line: UInt = #line) async throws {
        if let address {
            try await socket.reactor.sockSendto(socket, bytes, to: address, file: file, line: line)
        } else if remoteAddress != nil {
            try await socket.reactor.sockSend(socket, bytes, file: file, line: line)
        } else {
            throw ReactorError(.invalidArgument, "send on an unconnected endpoint needs an address")
        }
    }

    /// The next datagram, or nil once the endpoint is closed.
    public nonisolated(nonsending) func receive(file: StaticString = #fileID, line: UInt = #line) async throws -> Datagram? {
        do {
            let into = UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(maxDatagramSize))
            let (count, address) = try await socket.reactor.sockRecvfrom(socket, into: into, file: file, line: line)
            return Datagram(bytes: Array(buffer.prefix(count)), address: address)
        } catch let error as SystemCallError where error.errno == EBADF && closed.load(ordering: .relaxed) {
            return nil
        }
    }

    /// Closes the socket: a task waiting in `receive` (or iterating) gets nil.
    public func close() {
        closed.store(true, ordering: .relaxed)
        socket.close()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let endpoint: DatagramEndpoint

        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> Datagram? {
            try await endpoint.receive()
        }

        public mutating func next() async throws -> Datagram? {
            try await endpoint.receive()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(endpoint: self) }
}
