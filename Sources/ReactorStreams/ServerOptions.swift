/// What a server allows its connections, as a public server must bound them (nginx's
/// `keepalive_timeout` and `worker_connections`; a TLS server's handshake has its own timeout,
/// `TLSConfiguration.handshakeTimeout`). Nothing here costs a connection anything per message.
public struct ServerOptions: Sendable {
    /// A connection that moves no bytes either way for this long is closed (its handler's
    /// wait on the stream then throws). Its silence is seen by a sweep over the connections
    /// every quarter of the timeout (at most every second, at least every 10 ms), so it is
    /// closed at most two sweeps late. Bytes are counted above the transport: a TLS handshake
    /// that takes longer is cut too. Positive; nil: never.
    public var idleTimeout: Duration? {
        didSet { precondition(idleTimeout.map { $0 > .zero } ?? true, "a server's idleTimeout must be positive") }
    }
    /// At most this many connections are served at once, on all of the server's reactors
    /// together: above it, accepting pauses, and it resumes as connections close. Each accept
    /// loop holds the one connection it accepted last, unserved, and the kernel's backlog the
    /// clients that arrive meanwhile. Positive; nil: no limit.
    public var maxConnections: Int? {
        didSet { precondition(maxConnections.map { $0 > 0 } ?? true, "a server's maxConnections must be positive") }
    }

    public init(idleTimeout: Duration? = nil, maxConnections: Int? = nil) {
        precondition(idleTimeout.map { $0 > .zero } ?? true, "a server's idleTimeout must be positive")
        precondition(maxConnections.map { $0 > 0 } ?? true, "a server's maxConnections must be positive")
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}
