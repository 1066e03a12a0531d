import Reactor

/// Connects to `host` (a name, resolved off the loop thread, or a numeric address) and returns
/// the stream pair (asyncio's `open_connection`). Each address `host` resolves to is tried in
/// turn, each for at most `connectTimeout`; TCP_NODELAY is set.
public func openConnection(
    host: String, port: Int, connectTimeout: Duration? = nil,
    limit: Int = StreamReader.defaultLimit, on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> (StreamReader, StreamWriter) {
    let reactor = try Reactor.resolve(reactor, for: "openConnection")
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
            return (StreamReader(socket, limit: limit), StreamWriter(socket, peerAddress: address))
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
    return (StreamReader(socket, limit: limit), StreamWriter(socket, peerAddress: address))
}
