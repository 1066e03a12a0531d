import Glibc
import Logging
import Reactor
import Synchronization

/// Serves one connection; runs in a task of its own on the server's reactor.
public typealias ConnectionHandler = @Sendable (StreamReader, StreamWriter) async throws -> Void

/// Starts a TCP server (asyncio's `start_server`): listens on every address `host` resolves
/// to (nil: every interface, IPv4 `0.0.0.0` and IPv6 `::`, as asyncio's `host=None`) and runs
/// `handler` for each connection, in a task of its own on `reactor` (by default the reactor
/// the caller runs on), with TCP_NODELAY set. When the handler returns or throws, the
/// connection is closed (a throw is logged first); the server and the other connections carry
/// on. Port 0 picks a free port, shared by all of the host's addresses. With `transport`, each
/// connection's streams read and write through the layer it starts (a TLS handshake), which
/// runs in the connection's task before the handler; a connection whose layer fails to start
/// is closed, with a debug log. `options` bound how long a connection may idle and how many
/// are served at once.
public func startServer(
    host: String? = nil, port: Int, backlog: Int32 = 511, reusePort: Bool = false, transport: TransportStarter? = nil,
    options: ServerOptions = ServerOptions(), limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil,
    file: StaticString = #fileID, line: UInt = #line, handler: @escaping ConnectionHandler
) async throws -> Server {
    let reactor = try Reactor.resolve(reactor, for: "startServer")
    return try await startServer(
        host: host, port: port, on: reactor.blockingPool, transport: transport, options: options, limit: limit, handler: handler
    ) { address in
        let (listener, bound) = try await reactor.listenBound(on: address, backlog: backlog, reusePort: reusePort, file: file, line: line)
        return ([listener], bound)
    }
}

/// Starts a TCP server on every reactor of `group`, as `startServer(host:port:handler:)` does
/// on one: each reactor has its own SO_REUSEPORT listener on each address, the kernel spreads
/// the connections over them, and a connection's handler runs on the reactor that accepted it
/// for the connection's whole life. The one ``Server`` covers them all.
public func startServer(
    host: String? = nil, port: Int, group: ReactorGroup, backlog: Int32 = 511, transport: TransportStarter? = nil,
    options: ServerOptions = ServerOptions(), limit: Int = StreamReader.defaultLimit, file: StaticString = #fileID, line: UInt = #line,
    handler: @escaping ConnectionHandler
) async throws -> Server {
    try await startServer(
        host: host, port: port, on: group.reactors[0].blockingPool, transport: transport, options: options, limit: limit, handler: handler
    ) { address in
        try await group.listen(on: address, backlog: backlog, file: file, line: line)
    }
}

/// Both forms of `startServer`: `listen` makes one listener per reactor on an address, and
/// says where they listen (the port the first one picked, for port 0).
private func startServer(
    host: String?, port: Int, on pool: BlockingPool, transport: TransportStarter?, options: ServerOptions, limit: Int,
    handler: @escaping ConnectionHandler,
    listen: (SocketAddress) async throws -> ([Socket], SocketAddress)
) async throws -> Server {
    var listeners: [[Socket]] = []
    var bound: [SocketAddress] = []
    do {
        var port = port
        let addresses = if let host {
            try await SocketAddress.resolve(host: host, port: port, on: pool)
        } else {
            [try SocketAddress(ipAddress: "0.0.0.0", port: port), try SocketAddress(ipAddress: "::", port: port)]
        }
        for address in addresses {
            do {
                let (sockets, address) = try await listen(try SocketAddress(ipAddress: address.host!, port: port))
                listeners.append(sockets)
                bound.append(address)
                port = address.port!
            } catch let error as SystemCallError where host == nil && address.family == .ipv6 && error.errno == EAFNOSUPPORT {
                continue  // no IPv6 on this machine: every interface is the IPv4 ones
            }
        }
    } catch {
        for listener in listeners.joined() { listener.close() }
        throw error
    }
    // listeners[address][reactor] -> one shard per reactor, with its listener on each address.
    let perReactor = (0..<listeners[0].count).map { index in listeners.map { $0[index] } }
    return Server(
        listeners: perReactor, addresses: bound, limit: limit, unixPath: nil, transport: transport, options: options, handler: handler)
}

/// Starts a Unix-domain stream server at `path` (asyncio's `start_unix_server`). A stale
/// socket file left at `path` is removed first, and the file is removed again on `close()`.
/// With `group`, every reactor of the group accepts from the one socket (see
/// `ReactorGroup.listen(on:backlog:file:line:)`).
public func startUnixServer(
    path: String, backlog: Int32 = 511, options: ServerOptions = ServerOptions(), limit: Int = StreamReader.defaultLimit,
    on reactor: Reactor? = nil, group: ReactorGroup? = nil, file: StaticString = #fileID, line: UInt = #line, handler: @escaping ConnectionHandler
) async throws -> Server {
    if reactor != nil && group != nil { throw ReactorError(.invalidArgument, "startUnixServer takes a reactor or a group, not both") }
    var status = stat()
    if stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
    let address = try SocketAddress(unixPath: path)
    let listeners = if let group {
        try await group.listen(on: address, backlog: backlog, file: file, line: line).sockets
    } else {
        [try await Reactor.resolve(reactor, for: "startUnixServer").listen(on: address, backlog: backlog, file: file, line: line)]
    }
    return Server(
        listeners: listeners.map { [$0] }, addresses: [address], limit: limit, unixPath: path, transport: nil, options: options,
        handler: handler)
}

/// A running server: its listeners, and the connections their handlers serve, on one reactor
/// or on each reactor of a group.
public final class Server: @unchecked Sendable {
    /// The reactor the server runs on; for a group, the first of ``reactors``.
    public var reactor: Reactor { shards[0].reactor }
    /// The reactors the server runs on: one, or each of a group's.
    public let reactors: [Reactor]
    /// The bound addresses (with the port the kernel picked, for port 0).
    public let addresses: [SocketAddress]
    let shards: [ServerShard]
    private let admission: ConnectionAdmission
    private let closed = Atomic<Bool>(false)
    private let gracePeriodValue = LockedValue(Duration.seconds(10))

    /// `listeners[i]`: the listeners of the i-th reactor's shard, on `addresses`.
    init(
        listeners: [[Socket]], addresses: [SocketAddress], limit: Int, unixPath: String?, transport: TransportStarter?,
        options: ServerOptions, handler: @escaping ConnectionHandler
    ) {
        self.addresses = addresses
        let admission = ConnectionAdmission(maxConnections: options.maxConnections)
        shards = listeners.enumerated().map { index, sockets in
            ServerShard(
                reactor: sockets[0].reactor, listeners: sockets, limit: limit, isUnix: unixPath != nil,
                socketFile: index == 0 ? unixPath : nil, transport: transport, options: options, admission: admission, handler: handler)
        }
        self.admission = admission
        reactors = shards.map(\.reactor)
        admission.admit(shards)
        for shard in shards { shard.start() }
    }

    /// The port of the first address (nil for a Unix-domain server).
    public var port: Int? { addresses.first?.port }

    /// How many connections are being served, on every reactor.
    public var connectionCount: Int { admission.count }

    /// True until `close()`.
    public var isServing: Bool { !closed.load(ordering: .relaxed) }

    /// Stops accepting: the listeners close (and a Unix socket's file is removed). Connections
    /// already accepted carry on; see `closeClients()`, `abortClients()` and `waitClosed()`.
    public func close() {
        closed.store(true, ordering: .relaxed)
        for shard in shards { shard.close() }
    }

    /// Closes every connection's writer (its queued bytes are flushed first).
    public func closeClients() {
        for shard in shards { shard.closeClients() }
    }

    /// Closes every connection at once, dropping queued bytes.
    public func abortClients() {
        for shard in shards { shard.abortClients() }
    }

    /// How long ``shutdownGracefully(file:line:)`` (and so a ServiceLifecycle graceful shutdown, with
    /// the `ReactorServiceLifecycle` adapter) lets the handlers finish before it cuts their
    /// connections. 10 seconds unless set.
    public var gracePeriod: Duration {
        get { gracePeriodValue.withLock { $0 } }
        set { gracePeriodValue.withLock { $0 = newValue } }
    }

    /// Stops accepting (`close()`), lets the handlers finish for up to ``gracePeriod``, then
    /// closes the connections still open at once (`abortClients()`), and returns once every
    /// one is closed.
    public nonisolated(nonsending) func shutdownGracefully(file: StaticString = #fileID, line: UInt = #line) async {
        close()
        let finished: Void? = try? await reactor.withTimeout(gracePeriod) { await self.waitClosed(file: file, line: line) }
        if finished == nil {
            abortClients()
            await waitClosed(file: file, line: line)
        }
    }

    /// Returns once the server is closed and every handler has finished and its connection
    /// is closed (or the waiting task is cancelled).
    public nonisolated(nonsending) func waitClosed(file: StaticString = #fileID, line: UInt = #line) async {
        for shard in shards { await shard.waitClosed(file: file, line: line) }
    }

    /// Waits until `close()` (asyncio's `serve_forever`). Cancelling the waiting task closes
    /// the server, and the task throws `CancellationError`.
    public nonisolated(nonsending) func serveForever(file: StaticString = #fileID, line: UInt = #line) async throws {
        do {
            try await shards[0].serveForever(file: file, line: line)
        } catch {
            close()
            throw error
        }
    }
}

extension Server: CustomStringConvertible {
    public var description: String {
        "Server(\(addresses.map(\.description).joined(separator: ", "))\(shards.count > 1 ? " on \(shards.count) reactors" : ""))"
    }
}
