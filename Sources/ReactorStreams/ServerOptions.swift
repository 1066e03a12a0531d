/// What a server allows its connections, as a public server must bound them (nginx's
/// `keepalive_timeout` and `worker_connections`; a TLS server's handshake has its own timeout,
/// `TLSConfiguration.handshakeTimeout`). Nothing here costs a connection anything per message.
public struct ServerOptions: Sendable {
    /// A connection that moves no bytes either way for this long is closed (its handler's
    /// wait on the stream then throws). Its silence is seen by a sweep over the connections
    /// every quarter of the timeout (at most every second), so it is closed within a quarter
    /// (at most a second) after. nil: never.
    public var idleTimeout: Duration?
    /// At most this many connections are served at once, on all of the server's reactors
    /// together: above it, accepting pauses (the kernel's backlog holds the clients that
    /// arrive meanwhile), and it resumes as connections close. nil: no limit.
    public var maxConnections: Int?

    public init(idleTimeout: Duration? = nil, maxConnections: Int? = nil) {
        precondition(maxConnections.map { $0 > 0 } ?? true, "a server's maxConnections must be positive")
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}
