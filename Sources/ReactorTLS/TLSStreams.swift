import Reactor
import ReactorStreams

/// Starts a TLS server (asyncio's `start_server(ssl=)`): `ReactorStreams.startServer` with each
/// connection's handshake done, within the context's handshake timeout, in the connection's
/// task before `handler` runs. A failed or stalled handshake closes its connection (with a
/// debug log) and delays no other.
public func startServer(
    host: String? = nil, port: Int, tls: TLSContext, backlog: Int32 = 511, reusePort: Bool = false,
    options: ServerOptions = ServerOptions(), limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line,
    handler: @escaping ConnectionHandler
) async throws -> Server {
    precondition(tls.configuration.role == .server, "startServer(tls:) needs a server context")
    return try await ReactorStreams.startServer(
        host: host, port: port, backlog: backlog, reusePort: reusePort, transport: { try await TLSSession.start($0, context: tls) },
        options: options, limit: limit, on: reactor, file: file, line: line, handler: handler)
}

/// Starts a TLS server on every reactor of `group` (see `ReactorStreams.startServer(host:port:group:)`),
/// each connection's handshake done on the reactor that accepted it.
public func startServer(
    host: String? = nil, port: Int, tls: TLSContext, group: ReactorGroup, backlog: Int32 = 511,
    options: ServerOptions = ServerOptions(), limit: Int = StreamReader.defaultLimit, file: StaticString = #fileID, line: UInt = #line,
    handler: @escaping ConnectionHandler
) async throws -> Server {
    precondition(tls.configuration.role == .server, "startServer(tls:) needs a server context")
    return try await ReactorStreams.startServer(
        host: host, port: port, group: group, backlog: backlog, transport: { try await TLSSession.start($0, context: tls) },
        options: options, limit: limit, file: file, line: line, handler: handler)
}

/// Connects over TLS (asyncio's `open_connection(ssl=)`): verifies the server's certificate
/// (against the system's trust store with `.defaultClient`, asyncio's `ssl=True`) and checks
/// it against `serverName`, by default `host`, which is also sent as SNI (an address is
/// checked against the certificate's IP names, and sent as no SNI).
public func openConnection(
    host: String, port: Int, tls: TLSContext, serverName: String? = nil, connectTimeout: Duration? = nil,
    limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> (StreamReader, StreamWriter) {
    precondition(tls.configuration.role == .client, "openConnection(tls:) needs a client context")
    let serverName = serverName ?? host
    return try await ReactorStreams.openConnection(
        host: host, port: port, connectTimeout: connectTimeout,
        transport: { try await TLSSession.start($0, context: tls, serverName: serverName) },
        limit: limit, on: reactor, file: file, line: line)
}

extension StreamWriter {
    /// The connection's TLS session (protocol version, cipher suite, ALPN, peer certificate),
    /// or nil on a plain stream.
    public var tls: TLSSession? { transport as? TLSSession }

    /// Upgrades this connection to TLS in place (asyncio's `StreamWriter.start_tls`): STARTTLS
    /// in SMTP and IMAP, PostgreSQL's SSLRequest. The context's role says which side of the
    /// handshake this is; a client checks the server's certificate against `serverName`.
    /// Nothing may be queued to write nor left unread (`ReactorError`, `.invalidState`);
    /// a failed handshake leaves the connection unusable.
    public nonisolated(nonsending) func startTLS(
        _ tls: TLSContext, serverName: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws {
        try await startTransport(file: file, line: line) { try await TLSSession.start($0, context: tls, serverName: serverName) }
    }
}
