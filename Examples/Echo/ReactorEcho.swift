import ArgumentParser
import Glibc
import Reactor
import ReactorStreams
import ReactorTLS

/// An echo server on swift-reactor: every byte a client sends comes back. On EOF from a
/// client it echoes what remains, then closes. SIGINT or SIGTERM stop it gracefully: it stops
/// accepting, gives the connections a grace period to end, cuts the rest, and exits 0.
@main
struct ReactorEcho: ParsableCommand {
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case streams, sock
    }

    static let configuration = CommandConfiguration(
        commandName: "reactor-echo",
        abstract: "An echo server on swift-reactor.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one, printed at start).")
    var port = 8888

    @Option(help: "streams: StreamReader/StreamWriter via startServer; sock: sockAccept/sockRecv/sockSendall.")
    var mode = Mode.streams

    @Option(help: "The most bytes read at once per connection.")
    var bufferSize = 65536

    @Option(help: "How long connections may take to end after SIGINT/SIGTERM, in milliseconds.")
    var gracePeriod = 1000

    @Option(help: "Serve TLS with this certificate chain (PEM; streams mode, with --tls-key).")
    var tlsCert: String?

    @Option(help: "The private key of --tls-cert (PEM).")
    var tlsKey: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil && mode == .sock { throw ValidationError("TLS is served in streams mode only: the sock calls are plain sockets") }
    }

    func run() throws {
        let options = self
        try Reactor.run { reactor in
            let stopSignals = try reactor.signals(SIGINT, SIGTERM)
            let server: any EchoServer = switch options.mode {
            case .streams: try await StreamsEchoServer.start(options, on: reactor)
            case .sock: try await SockEchoServer.start(options, on: reactor)
            }
            print("reactor-echo (\(options.mode.rawValue)\(options.tlsCert == nil ? "" : ", TLS")) listening on \(server.address)")
            fflush(nil)
            var signals = stopSignals.makeAsyncIterator()
            let signal = await signals.next()
            print("reactor-echo: signal \(signal ?? 0), stopping")
            fflush(nil)
            await server.stop(gracePeriod: .milliseconds(options.gracePeriod))
        }
    }
}

protocol EchoServer: Sendable {
    var address: SocketAddress { get }
    /// Stops accepting, waits up to `gracePeriod` for the connections to end, cuts the rest.
    func stop(gracePeriod: Duration) async
}

/// Echo on the streams layer: read what is there, write it back, drain.
struct StreamsEchoServer: EchoServer {
    let server: Server
    var address: SocketAddress { server.addresses[0] }

    static func start(_ options: ReactorEcho, on reactor: Reactor) async throws -> StreamsEchoServer {
        let bufferSize = options.bufferSize
        let echo: ConnectionHandler = { reader, writer in
            while true {
                let bytes = try await reader.read(bufferSize)
                if bytes.isEmpty { return }
                try writer.write(bytes)
                try await writer.drain()
            }
        }
        if let certificate = options.tlsCert, let key = options.tlsKey {
            let tls = try TLSContext(.server(certificateChain: .file(certificate), privateKey: .file(key)))
            return StreamsEchoServer(server: try await startServer(host: options.host, port: options.port, tls: tls, on: reactor, handler: echo))
        }
        return StreamsEchoServer(server: try await startServer(host: options.host, port: options.port, on: reactor, handler: echo))
    }

    func stop(gracePeriod: Duration) async {
        server.gracePeriod = gracePeriod
        await server.shutdownGracefully()
    }
}

/// Echo on the sock-level calls: one task per connection, all receiving into the server's one
/// buffer, so that no connection holds memory of its own while it is idle, nor keeps any after
/// a burst.
final class SockEchoServer: EchoServer, @unchecked Sendable {
    let reactor: Reactor
    let listener: Socket
    let address: SocketAddress
    // Loop-thread state: the open connections, who waits for there to be none, and the
    // buffer every connection receives into.
    private var connections: [ObjectIdentifier: Socket] = [:]
    private let idleWaiters: WaitQueue
    private let scratch: UnsafeMutableRawBufferPointer

    init(reactor: Reactor, listener: Socket, bufferSize: Int) throws {
        self.reactor = reactor
        self.listener = listener
        self.address = try listener.localAddress()
        self.idleWaiters = WaitQueue(on: reactor)
        self.scratch = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit { scratch.deallocate() }

    static func start(_ options: ReactorEcho, on reactor: Reactor) async throws -> SockEchoServer {
        let address = try await SocketAddress.resolve(host: options.host, port: options.port, on: reactor.blockingPool)[0]
        let listener = try await reactor.listen(on: address)
        let server = try SockEchoServer(reactor: reactor, listener: listener, bufferSize: options.bufferSize)
        Task(executorPreference: reactor) { await server.acceptLoop() }
        return server
    }

    private func acceptLoop() async {
        while let (connection, _) = try? await reactor.sockAccept(listener) {
            try? connection.setOption(.noDelay, 1)
            connections[ObjectIdentifier(connection)] = connection
            Task(executorPreference: reactor) {
                try? await self.echo(connection)
                connection.close()
                self.connections[ObjectIdentifier(connection)] = nil
                if self.connections.isEmpty { self.idleWaiters.wakeAll() }
            }
        }
    }

    /// Receives into the shared buffer and sends from it at once: the bytes live there only
    /// between the receive and the send, with no suspension between them, so the connections
    /// cannot overwrite each other's. Only what the kernel does not take at once is copied, to
    /// wait for writability in memory of its own.
    private func echo(_ connection: Socket) async throws {
        while true {
            let count = try await reactor.sockRecv(connection, into: scratch)
            if count == 0 { return }
            let received = UnsafeRawBufferPointer(rebasing: scratch.prefix(count))
            let sent = try connection.tryWrite(received) ?? 0
            if sent < count {
                try await reactor.sockSendall(connection, Array(received[sent...]))
            }
        }
    }

    func stop(gracePeriod: Duration) async {
        listener.close()
        let ended: Void? = try? await reactor.withTimeout(gracePeriod) { await self.waitUntilIdle() }
        if ended == nil {
            for connection in connections.values { connection.close() }
            await waitUntilIdle()
        }
    }

    private func waitUntilIdle() async {
        if connections.isEmpty { return }
        try? await idleWaiters.wait()
    }
}
