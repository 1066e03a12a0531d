import ArgumentParser
import Reactor

/// An echo server on swift-reactor: every byte a client sends comes back.
@main
struct ReactorEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-echo",
        abstract: "An echo server on swift-reactor's sockAccept / sockRecv / sockSendall.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one).")
    var port = 8888

    @Option(help: "The size of each connection's receive buffer, in bytes.")
    var bufferSize = 65536

    func run() throws {
        let address = try SocketAddress(ipAddress: host, port: port)
        let bufferSize = bufferSize
        try Reactor.run { reactor in
            let listener = try await reactor.listen(on: address)
            print("reactor-echo listening on \(try listener.localAddress())")
            while true {
                let (connection, _) = try await reactor.sockAccept(listener)
                Task(executorPreference: reactor) {
                    try? await echo(reactor, connection, bufferSize: bufferSize)
                }
            }
        }
    }
}

/// Echoes until the peer's EOF (or an error), then closes the connection.
func echo(_ reactor: Reactor, _ connection: Socket, bufferSize: Int) async throws {
    defer { connection.close() }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 1)
    defer { buffer.deallocate() }
    while true {
        let count = try await reactor.sockRecv(connection, into: buffer)
        if count == 0 { return }
        try await reactor.sockSendall(connection, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
    }
}
