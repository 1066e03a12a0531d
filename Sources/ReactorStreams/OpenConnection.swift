import Reactor

/// Connects to `host` (a name, resolved off the loop thread, or a numeric address) and returns
/// the stream pair (asyncio's `open_connection`). Each address `host` resolves to is tried in
/// turn, each for at most `connectTimeout`; TCP_NODELAY is set. With `transport`, the streams
/// read and write through the layer it starts on the connected socket (a TLS handshake; a
/// throw closes the socket).
public func openConnection(
    host: String, port: Int, connectTimeout: Duration? = nil, transport: TransportStarter? = nil,
    limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> (StreamReader, StreamWriter) {
    let reactor = try Reactor.resolve(reactor, for: "openConnection")
    let (socket, address) = try await connect(host: host, port: port, connectTimeout: connectTimeout, on: reactor, file: file, line: line)
    return try await streams(socket, peer: address, limit: limit, transport: transport)
}

/// Tries each address `host` resolves to in turn; TCP_NODELAY is set on the one that answers.
private func connect(
    host: String, port: Int, connectTimeout: Duration?, on reactor: Reactor, file: StaticString, line: UInt
) async throws -> (Socket, SocketAddress) {
    var lastError: any Error = ReactorError(.invalidArgument, "\(host) resolved to no address")
    for address in try await SocketAddress.resolve(host: host, port: port, on: reactor.blockingPool) {
        do {
            let socket: Socket
            if let connectTimeout {
                socket = try await reactor.withTimeout(connectTimeout) { try await reactor.connect(to: address, file: file, line: line) }
            } else {
                socket = try await reactor.connect(to: address, file: file, line: line)
            }
            try socket.setOption(.noDelay, 1)
            return (socket, address)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            lastError = error
        }
    }
    throw lastError
}

/// Connects to the Unix-domain stream socket at `path` (asyncio's `open_unix_connection`).
public func openUnixConnection(
    path: String, limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> (StreamReader, StreamWriter) {
    let reactor = try Reactor.resolve(reactor, for: "openUnixConnection")
    let address = try SocketAddress(unixPath: path)
    let socket = try await reactor.connect(to: address, file: file, line: line)
    return try await streams(socket, peer: address, limit: limit, transport: nil)
}

/// The stream pair over a connected socket, through the transport `start` layers over it.
private func streams(
    _ socket: Socket, peer: SocketAddress, limit: Int, transport start: TransportStarter?
) async throws -> (StreamReader, StreamWriter) {
    var transport: (any StreamTransport)?
    if let start {
        do {
            // On the loop thread, as a starter is run (this caller may be anywhere).
            transport = try await socket.reactor.runOnLoop((socket, start)) { try await $0.1($0.0) }
        } catch {
            socket.close()
            throw error
        }
    }
    let reader = StreamReader(socket, limit: limit, transport: transport)
    return (reader, StreamWriter(socket, peerAddress: peer, reader: reader))
}
