import HTTPTypes
import Reactor
import ReactorStreams
import ReactorTLS

/// Answers one request: reads it (its head, and its body if it wants), and writes the
/// response. Runs in the connection's task, on the reactor that accepted it; the requests of a
/// connection are handled one after another, in order.
public typealias HTTPHandler = @Sendable (HTTPServerRequest, HTTPResponseWriter) async throws -> Void

/// An HTTP/1.1 server (and 1.0) on the streams: keep-alive, pipelining, Content-Length and
/// chunked bodies both ways, `Expect: 100-continue`, HEAD, and hard limits against abuse (see
/// ``Configuration``), over TCP or TLS, on one reactor or every reactor of a group.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        /// The most a request head may hold: more is answered 431 and the connection closed.
        public var maxHeadSize = 16 * 1024
        /// The most fields a request head may have: more is 431.
        public var maxFieldCount = 100
        /// The largest request body: a larger Content-Length is answered 413 before the
        /// handler runs; a chunked body that grows past it throws 413 from its reads.
        public var maxBodySize = 1024 * 1024
        /// How long a request head may take to arrive, from its first byte (slowloris).
        public var headerTimeout = Duration.seconds(10)
        /// How long a connection may wait for its next request, or stall in a body or a write.
        public var idleTimeout = Duration.seconds(60)
        /// The `Server` field's value, if one is sent.
        public var serverName: String?
        /// The most connections served at once (``ServerOptions/maxConnections``); nil: no limit.
        public var maxConnections: Int?

        public init() {}

        /// What the streams' server enforces; the timeouts are the HTTP connection's own.
        var serverOptions: ServerOptions { ServerOptions(maxConnections: maxConnections) }
    }

    /// The listening server (its addresses, connection count, graceful stop).
    public let server: Server
    private let loops: [HTTPLoop]

    /// Starts serving on `host` and `port` (0: a free port) on `reactor` (by default the
    /// caller's), over TLS with `tls` (ALPN `http/1.1` is the context's to offer).
    public static func start(
        host: String? = "127.0.0.1", port: Int, tls: TLSContext? = nil, configuration: Configuration = Configuration(),
        on reactor: Reactor? = nil, handler: @escaping HTTPHandler
    ) async throws -> HTTPServer {
        let reactor = try Reactor.resolve(reactor, for: "HTTPServer.start")
        let loop = HTTPLoop(reactor: reactor, configuration: configuration)
        let connectionHandler = handle(loops: [loop], tls: tls != nil, handler: handler)
        let server = if let tls {
            try await startServer(host: host, port: port, tls: tls, options: configuration.serverOptions, on: reactor, handler: connectionHandler)
        } else {
            try await startServer(host: host, port: port, options: configuration.serverOptions, on: reactor, handler: connectionHandler)
        }
        return HTTPServer(server: server, loops: [loop])
    }

    /// Starts serving on every reactor of `group` (a listener each, SO_REUSEPORT).
    public static func start(
        host: String? = "127.0.0.1", port: Int, tls: TLSContext? = nil, configuration: Configuration = Configuration(),
        group: ReactorGroup, handler: @escaping HTTPHandler
    ) async throws -> HTTPServer {
        let loops = group.reactors.map { HTTPLoop(reactor: $0, configuration: configuration) }
        let connectionHandler = handle(loops: loops, tls: tls != nil, handler: handler)
        let server = if let tls {
            try await startServer(host: host, port: port, tls: tls, group: group, options: configuration.serverOptions, handler: connectionHandler)
        } else {
            try await startServer(host: host, port: port, group: group, options: configuration.serverOptions, handler: connectionHandler)
        }
        return HTTPServer(server: server, loops: loops)
    }

    private init(server: Server, loops: [HTTPLoop]) {
        self.server = server
        self.loops = loops
        for loop in loops { loop.start() }
    }

    private static func handle(loops: [HTTPLoop], tls: Bool, handler: @escaping HTTPHandler) -> ConnectionHandler {
        { reader, writer in
            let reactor = reader.handle.reactor
            let loop = loops.count == 1 ? loops[0] : loops.first { $0.reactor === reactor }!
            try await HTTPConnection(reader: reader, writer: writer, loop: loop, handler: handler, isSecure: tls).serve()
        }
    }

    /// The bound addresses.
    public var addresses: [SocketAddress] { server.addresses }
    /// The port of the first address.
    public var port: Int { server.port ?? 0 }

    /// Stops accepting, closes idle connections, lets each busy one finish its response
    /// (then closes it) for up to the server's grace period, and returns once all are closed.
    public nonisolated(nonsending) func shutdownGracefully() async {
        server.close()
        for loop in loops { _ = loop.reactor.runOnLoopNowOrNextTurn(loop) { $0.stop() } }
        await server.shutdownGracefully()
        for loop in loops { loop.finish() }
    }

    /// Stops accepting and closes every connection at once.
    public func close() {
        server.close()
        server.abortClients()
        for loop in loops { loop.finish() }
    }
}
