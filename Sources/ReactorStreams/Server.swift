import Glibc
import Logging
import Reactor

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
/// is closed, with a debug log.
public func startServer(
    host: String? = nil, port: Int, backlog: Int32 = 511, reusePort: Bool = false, transport: TransportStarter? = nil,
    limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line,
    handler: @escaping ConnectionHandler
) async throws -> Server {
    let reactor = try Reactor.resolve(reactor, for: "startServer")
    var listeners: [Socket] = []
    do {
        var port = port
        let addresses = if let host {
            try await SocketAddress.resolve(host: host, port: port, on: reactor.blockingPool)
        } else {
            [try SocketAddress(ipAddress: "0.0.0.0", port: port), try SocketAddress(ipAddress: "::", port: port)]
        }
        for address in addresses {
            let bound = try SocketAddress(ipAddress: address.host!, port: port)
            do {
                let listener = try await reactor.listen(on: bound, backlog: backlog, reusePort: reusePort, file: file, line: line)
                listeners.append(listener)
                port = try listener.localAddress().port!
            } catch let error as SystemCallError where host == nil && address.family == .ipv6 && error.errno == EAFNOSUPPORT {
                continue  // no IPv6 on this machine: every interface is the IPv4 ones
            }
        }
    } catch {
        for listener in listeners { listener.close() }
        throw error
    }
    return try Server(reactor: reactor, listeners: listeners, limit: limit, unixPath: nil, transport: transport, handler: handler)
}

/// Starts a Unix-domain stream server at `path` (asyncio's `start_unix_server`). A stale
/// socket file left at `path` is removed first, and the file is removed again on `close()`.
public func startUnixServer(
    path: String, backlog: Int32 = 511, limit: Int = StreamReader.defaultLimit,
    on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line, handler: @escaping ConnectionHandler
) async throws -> Server {
    let reactor = try Reactor.resolve(reactor, for: "startUnixServer")
    var status = stat()
    if stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
    let listener = try await reactor.listen(on: SocketAddress(unixPath: path), backlog: backlog, file: file, line: line)
    return try Server(reactor: reactor, listeners: [listener], limit: limit, unixPath: path, transport: nil, handler: handler)
}

/// A running server: its listeners, and the connections their handlers serve.
public final class Server: @unchecked Sendable {
    public let reactor: Reactor
    /// The bound addresses (with the port the kernel picked, for port 0).
    public let addresses: [SocketAddress]
    private let listeners: [Socket]
    private let limit: Int
    private let unixPath: String?
    private let transport: TransportStarter?
    private let handler: ConnectionHandler

    // Loop-thread state.
    @exclusivity(unchecked) private var isClosed = false
    @exclusivity(unchecked) private var runningAcceptLoops = 0
    @exclusivity(unchecked) private var connections: [ObjectIdentifier: StreamWriter] = [:]
    private let closeWaiters: WaitQueue
    private let doneWaiters: WaitQueue
    private let gracePeriodValue = LockedValue(Duration.seconds(10))

    init(
        reactor: Reactor, listeners: [Socket], limit: Int, unixPath: String?, transport: TransportStarter?,
        handler: @escaping ConnectionHandler
    ) throws {
        self.reactor = reactor
        self.listeners = listeners
        self.addresses = try listeners.map { try $0.localAddress() }
        self.limit = limit
        self.unixPath = unixPath
        self.transport = transport
        self.handler = handler
        self.closeWaiters = WaitQueue(on: reactor)
        self.doneWaiters = WaitQueue(on: reactor)
        runningAcceptLoops = listeners.count
        for listener in listeners {
            Task(executorPreference: reactor) { await self.acceptLoop(listener) }
        }
    }

    /// The port of the first address (nil for a Unix-domain server).
    public var port: Int? { addresses.first?.port }

    /// How many connections are being served.
    public var connectionCount: Int { connections.count }

    /// True until `close()`.
    public var isServing: Bool { !isClosed }

    // MARK: - Serving

    private func acceptLoop(_ listener: Socket) async {
        defer {
            runningAcceptLoops -= 1
            resumeDoneWaitersIfDone()
        }
        while !isClosed {
            do {
                let (socket, peer) = try await reactor.sockAccept(listener)
                if unixPath == nil { try? socket.setOption(.noDelay, 1) }
                serve(socket, peer: peer)
            } catch {
                // The listener was closed (close()) or failed for good; sockAccept already
                // rides out the passing errors, EMFILE included.
                if !isClosed { reactor.callExceptionHandler(ErrorContext(message: "server on \(listener) stopped accepting", error: error)) }
                return
            }
        }
    }

    private func serve(_ socket: Socket, peer: SocketAddress) {
        let reader = StreamReader(socket, limit: limit)
        let writer = StreamWriter(socket, peerAddress: peer, reader: reader)
        connections[ObjectIdentifier(writer)] = writer
        // The task's first frame stays on its stack for as long as the connection lives, under
        // every frame of the handler's waits, so it holds little: a failure is reported in a
        // synchronous function of its own.
        Task(executorPreference: reactor) {
            // Tested here, not in the call: a task keeps the slab its deepest frames took, and a
            // plain connection makes no call it does not need.
            var started = true
            if let transport = self.transport { started = await self.startTransport(transport, writer) }
            if started {
                do {
                    try await self.handler(reader, writer)
                } catch {
                    self.handlerThrew(error, writer)
                }
            }
            writer.close()
            await writer.waitClosed()
            self.connections[ObjectIdentifier(writer)] = nil
            self.resumeDoneWaitersIfDone()
        }
    }

    /// Starts the server's transport on the connection: false if it failed. A layer that
    /// failed to start (a TLS handshake with a scanner, a client that gave up, a
    /// certificate the server refused) is the peer's failure, not the server's: logged at
    /// debug, as asyncio logs a failed SSL handshake, and the connection closed.
    private nonisolated(nonsending) func startTransport(_ transport: @escaping TransportStarter, _ writer: StreamWriter) async -> Bool {
        do {
            try await writer.startTransport(transport)
            return true
        } catch {
            reactor.logger.debug("connection from \(writer.peerAddress.map(\.description) ?? "?"): its transport failed to start: \(error)")
            writer.abort()
            return false
        }
    }

    @inline(never)
    private func handlerThrew(_ error: any Error, _ writer: StreamWriter) {
        // A connection this side closed (`abortClients()`, the reactor's shutdown) makes its
        // handler throw EBADF, or a closing writer's error; a peer that went away makes it
        // throw ECONNRESET, EPIPE or ETIMEDOUT, seen by the reader or by the writer. Neither is
        // a failure of the handler: debug, whichever side saw it. So is a transport's error that
        // the peer caused (`PeerFailure`: a TLS alert).
        let errno = (error as? SystemCallError)?.errno ?? (error as? ReactorError)?.cause?.errno
        let closedHere = writer.isClosing || errno == EBADF
        let peerWentAway = [ECONNRESET, EPIPE, ETIMEDOUT].contains(errno) || error is any PeerFailure
        let message = "connection handler for \(writer.peerAddress.map(\.description) ?? "?") threw"
        if closedHere || peerWentAway {
            reactor.logger.debug("\(message): \(error)")
        } else {
            reactor.callExceptionHandler(ErrorContext(message: message, error: error, peer: writer.peerAddress))
        }
    }

    // MARK: - Stopping

    /// Stops accepting: the listeners close (and a Unix socket's file is removed). Connections
    /// already accepted carry on; see `closeClients()`, `abortClients()` and `waitClosed()`.
    public func close() {
        reactor.runOnLoopNowOrNextTurn(self) { $0.closeOnLoop() }
    }

    private func closeOnLoop() {
        guard !isClosed else { return }
        isClosed = true
        for listener in listeners { listener.close() }
        if let unixPath { unlink(unixPath) }
        closeWaiters.wakeAll()
        resumeDoneWaitersIfDone()
    }

    /// Closes every connection's writer (its queued bytes are flushed first).
    public func closeClients() {
        reactor.runOnLoopNowOrNextTurn(self) { server in
            for writer in server.connections.values { writer.close() }
        }
    }

    /// Closes every connection at once, dropping queued bytes.
    public func abortClients() {
        reactor.runOnLoopNowOrNextTurn(self) { server in
            for writer in server.connections.values { writer.abort() }
        }
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
        _ = try? await reactor.runOnLoop(self, file: file, line: line) { server in
            if !server.isDone { try await server.doneWaiters.wait() }
        }
    }

    /// Waits until `close()` (asyncio's `serve_forever`). Cancelling the waiting task closes
    /// the server, and the task throws `CancellationError`.
    public nonisolated(nonsending) func serveForever(file: StaticString = #fileID, line: UInt = #line) async throws {
        try await reactor.runOnLoop(self, file: file, line: line) { server in
            if server.isClosed { return }
            do {
                try await server.closeWaiters.wait()
            } catch {
                server.closeOnLoop()
                throw error
            }
        }
    }

    private var isDone: Bool { isClosed && runningAcceptLoops == 0 && connections.isEmpty }

    private func resumeDoneWaitersIfDone() {
        if isDone { doneWaiters.wakeAll() }
    }
}

extension Server: CustomStringConvertible {
    public var description: String {
        "Server(\(addresses.map(\.description).joined(separator: ", ")))"
    }
}
