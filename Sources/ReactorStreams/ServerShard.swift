import CReactor
import Glibc
import Logging
import Reactor
import Synchronization

/// The part of a ``Server`` on one reactor: that reactor's listeners, and the connections
/// their handlers serve. All its state is the loop's.
final class ServerShard: @unchecked Sendable {
    let reactor: Reactor
    let listeners: [Socket]
    private let limit: Int
    /// A Unix-domain server's: no TCP_NODELAY.
    private let isUnix: Bool
    /// The socket file of a Unix-domain server, which this shard removes on close (the first
    /// shard's job).
    private let socketFile: String?
    private let transport: TransportStarter?
    private let options: ServerOptions
    private let admission: ConnectionAdmission
    private let handler: ConnectionHandler

    // Loop-thread state.
    @exclusivity(unchecked) private var isClosed = false
    @exclusivity(unchecked) private var runningAcceptLoops = 0
    @exclusivity(unchecked) private var connections: [ObjectIdentifier: StreamWriter] = [:]
    /// With an idle timeout: each connection's byte count at the last sweep, and since when
    /// it has not moved.
    @exclusivity(unchecked) private var quiet: [ObjectIdentifier: (bytes: UInt64, since: Int64)] = [:]
    @exclusivity(unchecked) private var idleSweep: TimerHandle?
    /// Counted for `statistics()`; the bytes of the connections already closed.
    @exclusivity(unchecked) private var accepted: UInt64 = 0
    @exclusivity(unchecked) private var closes = [UInt64](repeating: 0, count: Server.CloseCause.allCases.count)
    @exclusivity(unchecked) private var closedBytes: (received: UInt64, sent: UInt64) = (0, 0)
    private let closeWaiters: WaitQueue
    private let doneWaiters: WaitQueue
    /// The accept loops that wait for a connection to close, the server being full.
    private let admissionWaiters: WaitQueue

    init(
        reactor: Reactor, listeners: [Socket], limit: Int, isUnix: Bool, socketFile: String?, transport: TransportStarter?,
        options: ServerOptions, admission: ConnectionAdmission, handler: @escaping ConnectionHandler
    ) {
        self.reactor = reactor
        self.listeners = listeners
        self.limit = limit
        self.isUnix = isUnix
        self.socketFile = socketFile
        self.transport = transport
        self.options = options
        self.admission = admission
        self.handler = handler
        self.closeWaiters = WaitQueue(on: reactor)
        self.doneWaiters = WaitQueue(on: reactor)
        self.admissionWaiters = WaitQueue(on: reactor)
        for waiters in [closeWaiters, doneWaiters, admissionWaiters] { waiters.owner = self }
    }

    /// Starts accepting, and the idle sweep.
    func start() {
        runningAcceptLoops = listeners.count
        for listener in listeners {
            Task(executorPreference: reactor) { await self.acceptLoop(listener) }
        }
        if let idleTimeout = options.idleTimeout {
            reactor.runOnLoopNowOrNextTurn((self, idleTimeout)) { shard, idleTimeout in shard.scheduleIdleSweep(idleTimeout) }
        }
    }

    // MARK: - Serving

    private func acceptLoop(_ listener: Socket) async {
        defer {
            runningAcceptLoops -= 1
            resumeDoneWaitersIfDone()
        }
        while !isClosed {
            do {
                let (socket, peer) = try await reactor.sockAccept(listener)
                // Full: the connection waits here, accepted but not served, and the next ones
                // in the kernel's backlog.
                while !isClosed && !admission.tryOpen() {
                    do {
                        try await admissionWaiters.wait()
                    } catch {
                        socket.close()
                        throw error
                    }
                }
                if isClosed {
                    socket.close()
                    return
                }
                if !isUnix { try? socket.setOption(.noDelay, 1) }
                serve(socket, peer: peer)
            } catch {
                // The listener was closed (close()) or failed for good; sockAccept already
                // rides out the passing errors, EMFILE included. One that failed is closed too:
                // beside a group's other listeners the kernel would go on queueing its share of
                // connections there, for nobody.
                if !isClosed {
                    reactor.callExceptionHandler(ErrorContext(message: "server on \(listener) stopped accepting", error: error))
                    listener.close()
                }
                return
            }
        }
    }

    private func serve(_ socket: Socket, peer: SocketAddress) {
        let reader = StreamReader(socket, limit: limit)
        let writer = StreamWriter(socket, peerAddress: peer, reader: reader)
        connections[ObjectIdentifier(writer)] = writer
        accepted &+= 1
        // The task's first frame stays on its stack for as long as the connection lives, under
        // every frame of the handler's waits, so it holds little: a failure is reported in a
        // synchronous function of its own.
        Task(executorPreference: reactor) {
            // Tested here, not in the call: a task keeps the slab its deepest frames took, and a
            // plain connection makes no call it does not need.
            var started = true
            if let transport = self.transport { started = await self.startTransport(transport, writer) }
            if started {
                let scope = self.reactor.enterCancellationScope()
                do {
                    try await self.handler(reader, writer)
                    self.handlerEnded(.handlerReturned, writer)
                } catch {
                    self.handlerThrew(error, writer)
                }
                self.reactor.exitCancellationScope(scope)
            }
            writer.close()
            // Its place, its bytes and the server's waitClosed() last until the socket is
            // closed, also for a task that was cancelled (a monitor's `cancel`).
            await writer.waitClosedIgnoringCancellation()
            self.connectionClosed(writer)
        }
    }

    private func connectionClosed(_ writer: StreamWriter) {
        let id = ObjectIdentifier(writer)
        connections[id] = nil
        if options.idleTimeout != nil { quiet[id] = nil }
        let bytes = writer.connectionBytes
        closedBytes.received &+= bytes.received
        closedBytes.sent &+= bytes.sent
        admission.closed()
        resumeDoneWaitersIfDone()
    }

    /// Counts why a handler ended; a connection the idle sweep closed counts as timed out.
    private func handlerEnded(_ cause: Server.CloseCause, _ writer: StreamWriter) {
        let idle = options.idleTimeout != nil && quiet[ObjectIdentifier(writer)]?.since == .max
        closes[(idle ? .timedOut : cause).index] &+= 1
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
            handlerEnded(.transportFailed, writer)
            writer.abort()
            return false
        }
    }

    @inline(never)
    private func handlerThrew(_ error: any Error, _ writer: StreamWriter) {
        // A connection this side closed (`abortClients()`, the reactor's shutdown) makes its
        // handler throw EBADF, or a closing writer's error, and a task cancelled (a monitor's
        // `cancel`) CancellationError; a peer that went away makes it
        // throw ECONNRESET, EPIPE or ETIMEDOUT, seen by the reader or by the writer. Neither is
        // a failure of the handler: debug, whichever side saw it. Nor is a transport's error that
        // the peer caused (`PeerFailure`: a TLS alert), or a read deadline that a slow peer let
        // pass (`.timedOut`).
        let errno = (error as? SystemCallError)?.errno ?? (error as? ReactorError)?.cause?.errno
        let closedHere = writer.isClosing || errno == EBADF || error is CancellationError
        let peerWentAway = [ECONNRESET, EPIPE, ETIMEDOUT].contains(errno) || error is any PeerFailure
        let timedOut = (error as? ReactorError)?.code == .timedOut
        let message = "connection handler for \(writer.peerAddress.map(\.description) ?? "?") threw"
        if closedHere || peerWentAway || timedOut {
            reactor.logger.debug("\(message): \(error)")
        } else {
            reactor.callExceptionHandler(ErrorContext(message: message, error: error, peer: writer.peerAddress))
        }
        handlerEnded(closedHere ? .closedByServer : peerWentAway ? .peerReset : timedOut ? .timedOut : .handlerFailed, writer)
    }

    // MARK: - Stopping

    /// Stops accepting: the listeners close (and a Unix socket's file is removed). Connections
    /// already accepted carry on; see `closeClients()`, `abortClients()` and `waitClosed()`.
    func close() {
        reactor.runOnLoopNowOrNextTurn(self) { $0.closeOnLoop() }
    }

    private func closeOnLoop() {
        guard !isClosed else { return }
        isClosed = true
        for listener in listeners { listener.close() }
        if let socketFile { unlink(socketFile) }
        closeWaiters.wakeAll()
        admissionWaiters.wakeAll()
        resumeDoneWaitersIfDone()
    }

    /// From any thread: a connection of the server closed while it was full.
    func connectionClosedWhileFull() {
        reactor.runOnLoopNowOrNextTurn(self) { $0.admissionWaiters.wakeAll() }
    }

    /// Closes every connection's writer (its queued bytes are flushed first).
    func closeClients() {
        reactor.runOnLoopNowOrNextTurn(self) { server in
            for writer in server.connections.values { writer.close() }
        }
    }

    /// Closes every connection at once, dropping queued bytes.
    func abortClients() {
        reactor.runOnLoopNowOrNextTurn(self) { server in
            for writer in server.connections.values { writer.abort() }
        }
    }

    /// Returns once the server is closed and every handler has finished and its connection
    /// is closed (or the waiting task is cancelled).
    nonisolated(nonsending) func waitClosed(file: StaticString, line: UInt) async {
        _ = try? await reactor.runOnLoop(self, file: file, line: line) { server in
            if !server.isDone { try await server.doneWaiters.wait() }
        }
    }

    /// Waits until `close()` (asyncio's `serve_forever`). Cancelling the waiting task closes
    /// the server, and the task throws `CancellationError`.
    nonisolated(nonsending) func serveForever(file: StaticString, line: UInt) async throws {
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
        if isDone {
            doneWaiters.wakeAll()
            if let idleSweep { reactor.cancelTimer(idleSweep) }
            idleSweep = nil
        }
    }

    // MARK: - Statistics

    func statistics() -> Server.Statistics {
        precondition(reactor.isOnLoopThread, "Server.statistics(on:) must be called on the reactor's loop thread")
        var received = closedBytes.received, sent = closedBytes.sent
        for writer in connections.values {
            let bytes = writer.connectionBytes
            received &+= bytes.received
            sent &+= bytes.sent
        }
        let closed = Dictionary(uniqueKeysWithValues: Server.CloseCause.allCases.map { ($0, closes[$0.index]) })
        return Server.Statistics(accepted: accepted, open: connections.count, closed: closed, bytesReceived: received, bytesSent: sent)
    }

    // MARK: - Idle connections

    private func scheduleIdleSweep(_ idleTimeout: Duration) {
        guard !isDone else { return }
        let interval = max(min(idleTimeout / 4, .seconds(1)), .milliseconds(10))
        idleSweep = reactor.callLater(interval) { [self] in
            closeIdleConnections(idleTimeout)
            scheduleIdleSweep(idleTimeout)
        }
    }

    /// Closes the connections whose byte counts have not moved for `idleTimeout`.
    private func closeIdleConnections(_ idleTimeout: Duration) {
        let now = cr_monotonic_ns()
        for (id, writer) in connections {
            let bytes = writer.connectionBytes.received &+ writer.connectionBytes.sent
            guard let last = quiet[id], last.bytes == bytes else {
                quiet[id] = (bytes, now)
                continue
            }
            if now - last.since >= idleTimeout.nanoseconds {
                reactor.logger.debug("connection from \(writer.peerAddress.map(\.description) ?? "?") was idle for \(idleTimeout): closed")
                writer.abort()
                quiet[id] = (bytes, .max)
            }
        }
    }
}

extension StreamWriter {
    /// The bytes its connection has received (through its reader) and sent.
    fileprivate var connectionBytes: (received: UInt64, sent: UInt64) { (reader?.receivedByteCount ?? 0, sentByteCount) }
}
