import ArgumentParser
import Glibc
import Metrics
import Prometheus
import Reactor
import ReactorMetrics
import ReactorStreams
import ReactorTLS

/// An echo server on swift-reactor: every byte a client sends comes back. On EOF from a
/// client it echoes what remains, then closes. With `--udp`, every UDP datagram sent to the
/// same port number comes back to its sender too. With `--reactors N`, N reactors serve the
/// port, each with its own listeners (SO_REUSEPORT). SIGINT or SIGTERM stop it gracefully: it
/// stops accepting, gives the connections a grace period to end, cuts the rest, and exits 0.
@main
struct ReactorEcho: ParsableCommand {
    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case streams, sock
    }

    enum UDPMode: String, ExpressibleByArgument, CaseIterable {
        case plain, batched, offload
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

    @Option(help: "How many reactors serve the port, each on a thread of its own (0: one per available CPU).")
    var reactors = 1

    @Option(help: "Pin each reactor's thread to a CPU of its own.")
    var pinned = false

    @Option(help: "The loop's backend: epoll or io_uring (default: REACTOR_BACKEND, else epoll).")
    var backend = Reactor.Backend.fromEnvironment

    @Flag(help: "Report the reactors' and the streams server's metrics every second, through swift-metrics to an in-process Prometheus registry (what reporting costs, for reactor-bench).")
    var metrics = false

    @Option(help: "Serve a monitor console (ps, where, cancel, stats, help) on a Unix-domain socket at this path.")
    var monitor: String?

    @Flag(help: "Also echo UDP datagrams sent to the same port number.")
    var udp = false

    @Option(help: "UDP: plain: one sockRecvfrom / sockSendto per datagram; batched: recvmmsg / sendmmsg; offload: batched with UDP_GRO and UDP_SEGMENT.")
    var udpMode = UDPMode.batched

    @Option(help: "The most bytes read at once per connection.")
    var bufferSize = 65536

    @Option(help: "How long connections may take to end after SIGINT/SIGTERM, in milliseconds.")
    var gracePeriod = 1000

    @Option(help: "Serve TLS with this certificate chain (PEM; streams mode, with --tls-key).")
    var tlsCert: String?

    @Option(help: "The private key of --tls-cert (PEM).")
    var tlsKey: String?

    func validate() throws {
        if reactors < 0 { throw ValidationError("--reactors must be 0 (one per CPU) or more") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert != nil && mode == .sock { throw ValidationError("TLS is served in streams mode only: the sock calls are plain sockets") }
    }

    func run() throws {
        let options = self
        let count = reactors == 0 ? ReactorGroup.availableCPUs.count : reactors
        let configuration = Reactor.Configuration(backend: backend)
        if metrics { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())) }
        try ReactorGroup.run(count: count, pinned: pinned, configuration: configuration) { group in
            let reactor = group.reactors[0]
            let stopSignals = try reactor.signals(SIGINT, SIGTERM)
            let server: any EchoServer = switch options.mode {
            case .streams: try await StreamsEchoServer.start(options, on: group)
            case .sock: try await SockEchoServer.start(options, on: group)
            }
            let udp = options.udp ? try await UDPEchoServer.start(options, port: server.address.port!, on: group) : nil
            let metrics = options.metrics ? ReactorMetrics(reactors: group.reactors, servers: server.metricsServers) : nil
            defer { metrics?.stop() }
            let monitor = if let path = options.monitor { try await ReactorMonitor.start(path: path, reactors: group.reactors) } else { nil as ReactorMonitor? }
            let serving = [options.mode.rawValue, reactor.backend.rawValue, options.tlsCert == nil ? nil : "TLS", udp.map { _ in "UDP \(options.udpMode.rawValue)" },
                           options.metrics ? "metrics" : nil,
                           count > 1 ? "\(count) reactors" : nil].compactMap { $0 }.joined(separator: ", ")
            print("reactor-echo (\(serving)) listening on \(server.address)")
            fflush(nil)
            var signals = stopSignals.makeAsyncIterator()
            let signal = await signals.next()
            print("reactor-echo: signal \(signal ?? 0), stopping")
            fflush(nil)
            await monitor?.stop()
            await udp?.stop()
            await server.stop(gracePeriod: .milliseconds(options.gracePeriod))
        }
    }
}

extension Reactor.Backend: ExpressibleByArgument {}

protocol EchoServer: Sendable {
    var address: SocketAddress { get }
    /// The streams' server, by name, for `--metrics`.
    var metricsServers: [String: Server] { get }
    /// Stops accepting, waits up to `gracePeriod` for the connections to end, cuts the rest.
    func stop(gracePeriod: Duration) async
}

/// Echo on the streams layer: read what is there, write it back, drain.
struct StreamsEchoServer: EchoServer {
    let server: Server
    var address: SocketAddress { server.addresses[0] }
    var metricsServers: [String: Server] { ["echo": server] }

    static func start(_ options: ReactorEcho, on group: ReactorGroup) async throws -> StreamsEchoServer {
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
            return StreamsEchoServer(server: try await startServer(host: options.host, port: options.port, tls: tls, group: group, handler: echo))
        }
        return StreamsEchoServer(server: try await startServer(host: options.host, port: options.port, group: group, handler: echo))
    }

    func stop(gracePeriod: Duration) async {
        server.gracePeriod = gracePeriod
        await server.shutdownGracefully()
    }
}

/// Echo on the sock-level calls, with a worker per reactor, each accepting on its own
/// listener of the group.
struct SockEchoServer: EchoServer {
    let workers: [SockEchoWorker]
    let address: SocketAddress
    var metricsServers: [String: Server] { [:] }

    static func start(_ options: ReactorEcho, on group: ReactorGroup) async throws -> SockEchoServer {
        let address = try await SocketAddress.resolve(host: options.host, port: options.port, on: group.reactors[0].blockingPool)[0]
        let (listeners, bound) = try await group.listen(on: address)
        let bufferSize = options.bufferSize
        var workers: [SockEchoWorker] = []
        for listener in listeners {
            let worker = SockEchoWorker(listener: listener, bufferSize: bufferSize)
            await worker.start()
            workers.append(worker)
        }
        return SockEchoServer(workers: workers, address: bound)
    }

    func stop(gracePeriod: Duration) async {
        await withTaskGroup(of: Void.self) { stopping in
            for worker in workers {
                stopping.addTask(executorPreference: worker.reactor) { await worker.stop(gracePeriod: gracePeriod) }
            }
        }
    }
}

/// One reactor's part of the sock-level echo: one task per connection, all receiving into the
/// worker's one buffer, so that no connection holds memory of its own while it is idle, nor
/// keeps any after a burst. An actor isolated to the reactor's loop: its tasks run there
/// without preferring the reactor.
actor SockEchoWorker {
    nonisolated let reactor: Reactor
    let listener: Socket
    // The open connections, an event set while there are none, and the buffer every
    // connection receives into. The event, not a wake-up when the last one ends: where a
    // wait hops (the portable cancellation path), the actor runs other tasks between
    // checking the connections and the wait beginning.
    private var connections: [ObjectIdentifier: Socket] = [:]
    private let idle: Event
    private nonisolated(unsafe) let scratch: UnsafeMutableRawBufferPointer

    nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }

    init(listener: Socket, bufferSize: Int) {
        self.reactor = listener.reactor
        self.listener = listener
        self.idle = Event(on: listener.reactor)
        self.scratch = .allocate(byteCount: bufferSize, alignment: 16)
    }

    deinit { scratch.deallocate() }

    /// Starts accepting.
    func start() {
        idle.set()
        Task { await self.acceptLoop() }
    }

    private func acceptLoop() async {
        while let (connection, _) = try? await reactor.sockAccept(listener) {
            try? connection.setOption(.noDelay, 1)
            connections[ObjectIdentifier(connection)] = connection
            idle.clear()
            Task {
                let scope = self.reactor.enterCancellationScope()
                try? await self.echo(connection)
                self.reactor.exitCancellationScope(scope)
                connection.close()
                self.connections[ObjectIdentifier(connection)] = nil
                if self.connections.isEmpty { self.idle.set() }
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

    /// Stops accepting and waits up to `gracePeriod` for the connections to end.
    func stop(gracePeriod: Duration) async {
        listener.close()
        let ended: Void? = try? await reactor.withTimeout(gracePeriod) { try await self.idle.wait() }
        if ended == nil {
            for connection in connections.values { connection.close() }
            try? await idle.wait()
        }
    }
}

/// UDP echo on the same port number: a datagram socket per reactor (sharing the port with
/// SO_REUSEPORT in a group), each datagram sent back to its sender unchanged.
struct UDPEchoServer: Sendable {
    let sockets: [Socket]
    let loops: [Task<Void, Never>]

    static func start(_ options: ReactorEcho, port: Int, on group: ReactorGroup) async throws -> UDPEchoServer {
        let address = try await SocketAddress.resolve(host: options.host, port: port, on: group.reactors[0].blockingPool)[0]
        let mode = options.udpMode
        var sockets: [Socket] = []
        var loops: [Task<Void, Never>] = []
        for reactor in group.reactors {
            // A socket's synchronous calls belong to its own reactor's loop.
            let socket = try await Task(executorPreference: reactor) {
                let socket = try await reactor.makeSocket(family: address.family, kind: .datagram)
                if group.count > 1 { try socket.setOption(.reusePort, 1) }
                if mode == .offload { try? socket.setOption(.udpReceiveOffload, 1) }
                try socket.bind(to: address)
                return socket
            }.value
            sockets.append(socket)
            loops.append(Task(executorPreference: reactor) {
                switch mode {
                case .plain: await echoOneByOne(socket)
                case .batched, .offload: await echoInBatches(socket)
                }
            })
        }
        return UDPEchoServer(sockets: sockets, loops: loops)
    }

    /// One recvfrom and one sendto per datagram, through one buffer: the reply is tried at
    /// once (`trySendto`), as the sock-level TCP echo tries its write, and waits for room
    /// (`sockSendto`) only when the send buffer was full.
    private static func echoOneByOne(_ socket: Socket) async {
        let reactor = socket.reactor
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            do {
                let (count, sender) = try await reactor.sockRecvfrom(socket, into: buffer)
                let datagram = UnsafeRawBufferPointer(rebasing: buffer.prefix(count))
                if try socket.trySendto(datagram, to: sender) == nil { try await reactor.sockSendto(socket, datagram, to: sender) }
            } catch let error as SystemCallError where error.errno == EBADF {
                return  // stopped
            } catch {
                reactor.logger.debug("UDP echo: \(error)")  // a sender gone, a datagram refused: the next one is served
            }
        }
    }

    /// A recvmmsg of what is waiting, then one sendmmsg of it all back: each message to its
    /// sender, a coalesced one (UDP_GRO) as its datagrams (UDP_SEGMENT).
    private static func echoInBatches(_ socket: Socket) async {
        let reactor = socket.reactor
        let batch = DatagramBatch(capacity: 64, slotSize: 65_536)
        while true {
            do {
                try await reactor.sockRecvfrom(socket, into: batch)
                try await reactor.sockSendto(socket, batch)
            } catch let error as SystemCallError where error.errno == EBADF {
                return
            } catch {
                reactor.logger.debug("UDP echo: \(error)")
            }
        }
    }

    func stop() async {
        for socket in sockets { socket.close() }
        for loop in loops { await loop.value }
    }
}
