import HTTPTypes
import Reactor
import ReactorStreams
import ReactorTLS

/// An HTTP/1.1 client in the manner of aiohttp's `ClientSession`: connections are kept and
/// reused per host (at most ``Configuration/maxConnectionsPerHost`` open to each; a request
/// past that waits for one), response bodies stream as an `AsyncSequence`, a request has a
/// connect timeout and a timeout for the whole exchange, redirects are not followed unless
/// asked, and HTTPS verifies the server's certificate and name.
///
/// A client lives on one reactor: call it from tasks on that reactor.
public final class HTTPClient: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// How long connecting (and a TLS handshake) may take.
        public var connectTimeout = Duration.seconds(10)
        /// How long a whole request may take: connecting, sending, the response's head and its body.
        public var requestTimeout = Duration.seconds(60)
        /// The most connections open to one host (scheme, host and port) at once.
        public var maxConnectionsPerHost = 8
        /// Whether 301, 302, 303, 307 and 308 are followed (at most ``maxRedirects`` times).
        public var followRedirects = false
        public var maxRedirects = 5
        /// The TLS client context for https URLs; nil: the system's trust store, verification on.
        public var tls: TLSContext?

        public init() {}
    }

    struct PoolKey: Hashable, Sendable {
        var isSecure: Bool
        var host: String
        var port: Int
    }

    public let reactor: Reactor
    public let configuration: Configuration
    @exclusivity(unchecked) private var idle: [PoolKey: [ClientConnection]] = [:]
    @exclusivity(unchecked) private var permits: [PoolKey: Semaphore] = [:]
    @exclusivity(unchecked) private var defaultTLS: TLSContext?

    /// A client on `reactor`, by default the caller's.
    public init(configuration: Configuration = Configuration(), on reactor: Reactor? = nil) throws {
        self.reactor = try Reactor.resolve(reactor, for: "HTTPClient")
        self.configuration = configuration
    }

    public nonisolated(nonsending) func get(_ url: String, headerFields: HTTPFields = [:]) async throws -> HTTPClientResponse {
        try await execute(.get, url, headerFields: headerFields, body: nil)
    }

    public nonisolated(nonsending) func post(_ url: String, headerFields: HTTPFields = [:], body: [UInt8]) async throws -> HTTPClientResponse {
        try await execute(.post, url, headerFields: headerFields, body: body)
    }

    /// Sends a request and returns its response once the head arrived; read the body from
    /// ``HTTPClientResponse/body`` (the connection goes back to the pool once it is read to
    /// its end, and is closed if the response is dropped before).
    public nonisolated(nonsending) func execute(
        _ method: HTTPRequest.Method, _ url: String, headerFields: HTTPFields = [:], body: [UInt8]? = nil
    ) async throws -> HTTPClientResponse {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        var url = try ClientURL(url)
        var headerFields = headerFields
        var method = method
        var body = body
        var redirects = 0
        while true {
            let response = try await send(method, url, headerFields, body, deadline: deadline)
            guard configuration.followRedirects, [301, 302, 303, 307, 308].contains(response.status.code),
                let location = response.headerFields[.location]
            else { return response }
            redirects += 1
            guard redirects <= configuration.maxRedirects else { throw HTTPClientError("more than \(configuration.maxRedirects) redirects") }
            response.discard()
            let next = try url.resolving(location)
            if next.isSecure != url.isSecure || next.host != url.host || next.port != url.port {
                // Credentials are for the origin they were given to.
                for name in [HTTPField.Name.authorization, .cookie, .proxyAuthorization] { headerFields[name] = nil }
            }
            url = next
            if response.status.code == 303 || (response.status.code <= 302 && method == .post) {
                if method != .head { method = .get }
                body = nil
            }
        }
    }

    /// One exchange on a pooled connection. A reused connection that fails before any byte of
    /// a response came (the server closed it while it was idle) is replaced, once, for an
    /// idempotent method.
    private nonisolated(nonsending) func send(
        _ method: HTTPRequest.Method, _ url: ClientURL, _ fields: HTTPFields, _ body: [UInt8]?, deadline: ContinuousClock.Instant
    ) async throws -> HTTPClientResponse {
        let key = PoolKey(isSecure: url.isSecure, host: url.host, port: url.port)
        let permits = try permits(for: key)
        let permit = PermitTaken()
        do {
            try await within(deadline) {
                try await permits.acquire()
                permit.isTaken = true
            }
        } catch {
            // The wait timed out as the permit came: it is given back.
            if permit.isTaken { try? permits.release() }
            throw error
        }
        var connection: ClientConnection?
        var mayRetry = [.get, .head, .options, .put, .delete].contains(method)
        do {
            while true {
                let reused = idle[key]?.popLast()
                let current = if let reused { reused } else { try await within(deadline) { try await self.connect(url) } }
                connection = current
                do {
                    let (response, version) = try await within(deadline) {
                        try await current.send(method: method, url: url, fields: fields, body: body)
                    }
                    let lease = ResponseLease(client: self, connection: current, deadline: deadline)
                    return HTTPClientResponse(response: response, version: version, body: HTTPClientResponseBody(lease: lease))
                } catch where reused != nil && mayRetry && !current.receivedResponseBytes && ContinuousClock.now < deadline {
                    current.writer.abort()
                    connection = nil
                    mayRetry = false
                }
            }
        } catch {
            connection?.writer.abort()
            try? permits.release()
            throw error
        }
    }

    private func connect(_ url: ClientURL) async throws -> ClientConnection {
        let (reader, writer) = if url.isSecure {
            try await openConnection(host: url.host, port: url.port, tls: try tlsContext(), connectTimeout: configuration.connectTimeout, on: reactor)
        } else {
            try await openConnection(host: url.host, port: url.port, connectTimeout: configuration.connectTimeout, on: reactor)
        }
        return ClientConnection(key: PoolKey(isSecure: url.isSecure, host: url.host, port: url.port), reader: reader, writer: writer)
    }

    private func tlsContext() throws -> TLSContext {
        if let tls = configuration.tls { return tls }
        if let defaultTLS { return defaultTLS }
        let context = try TLSContext(.client(applicationProtocols: ["http/1.1"]))
        defaultTLS = context
        return context
    }

    private func permits(for key: PoolKey) throws -> Semaphore {
        if let semaphore = permits[key] { return semaphore }
        let semaphore = try Semaphore(value: configuration.maxConnectionsPerHost, on: reactor)
        permits[key] = semaphore
        return semaphore
    }

    /// `operation`, cut at `deadline`.
    private nonisolated(nonsending) func within<T: Sendable>(
        _ deadline: ContinuousClock.Instant, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { throw HTTPClientError("the request timed out") }
        do {
            return try await reactor.withTimeout(remaining, operation: operation)
        } catch let error as ReactorError where error.code == .timedOut {
            throw HTTPClientError("the request timed out")
        }
    }

    /// A response's connection is done with: kept if it can carry another request (and
    /// nothing past the response was received).
    func checkIn(_ connection: ClientConnection) {
        _ = reactor.runOnLoopNowOrNextTurn((self, connection)) { client, connection in
            if connection.reusable && connection.isBodyDone && !connection.writer.isClosing && connection.reader.bufferedCount == 0
                && !connection.reader.atEOF
            {
                client.idle[connection.key, default: []].append(connection)
            } else {
                connection.writer.close()
            }
            try? client.permits[connection.key]?.release()
        }
    }

    /// Closes every idle connection; connections in use close when their responses are read.
    public func shutdown() {
        _ = reactor.runOnLoopNowOrNextTurn(self) { client in
            for connection in client.idle.values.joined() { connection.writer.close() }
            client.idle.removeAll()
        }
    }

    /// How many idle connections the pool keeps (to the hosts it has seen).
    public var idleConnectionCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}

/// Whether a request took a permit of its host's, set in the task that waited for it.
private final class PermitTaken: @unchecked Sendable {
    var isTaken = false
}
