import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// `ServerOptions`: the idle timeout and the most connections served at once, over real sockets.
final class ServerOptionsTests: XCTestCase {
    /// Echoes line by line.
    private static let lineEcho: ConnectionHandler = { reader, writer in
        while true {
            let line = try await reader.readLine()
            if line.isEmpty { return }
            try writer.write(line)
            try await writer.drain()
        }
    }

    private static func roundTrip(_ reader: StreamReader, _ writer: StreamWriter, _ text: String) async throws -> String {
        try writer.write(Array("\(text)\n".utf8))
        return String(decoding: try await reader.readLine(), as: UTF8.self)
    }

    func testAnIdleConnectionIsClosedAndABusyOneIsNot() throws {
        try runReactor(timeout: .seconds(30)) { reactor in
            let server = try await startServer(
                host: "127.0.0.1", port: 0, options: ServerOptions(idleTimeout: .seconds(1)), handler: Self.lineEcho)
            defer { server.close() }
            let (idleReader, idleWriter) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { idleWriter.close() }
            let (busyReader, busyWriter) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { busyWriter.close() }
            // The busy client talks every 20 ms for two timeouts' worth and is served throughout.
            for round in 0..<100 {
                let echoed = try await Self.roundTrip(busyReader, busyWriter, "ping \(round)")
                XCTAssertEqual(echoed, "ping \(round)\n")
                try await reactor.sleep(for: .milliseconds(20))
            }
            // The silent one was closed by the server: it reads EOF.
            let rest = try await idleReader.read(100)
            XCTAssertEqual(rest, [], "the idle connection was closed")
            let echoed = try await Self.roundTrip(busyReader, busyWriter, "still here")
            XCTAssertEqual(echoed, "still here\n")
            // Once the busy one falls silent, it is closed too.
            let end = try await busyReader.read(100)
            XCTAssertEqual(end, [])
            try await waitUntil(reactor, timeout: .seconds(10), "no connection is served") { server.connectionCount == 0 }
        }
    }

    func testAClientThatNeverReadsIsClosedAsIdleWithItsQueueDropped() throws {
        try runReactor(timeout: .seconds(30)) { reactor in
            // Writes until the client's window and the queue are full, then waits in drain.
            let server = try await startServer(
                host: "127.0.0.1", port: 0, options: ServerOptions(idleTimeout: .milliseconds(300))
            ) { _, writer in
                let chunk = [UInt8](repeating: 1, count: 65536)
                while true {
                    try writer.write(chunk)
                    try await writer.drain()
                }
            }
            defer { server.close() }
            let client = try await reactor.connect(to: server.addresses[0])
            defer { client.close() }
            try await waitUntil(reactor, timeout: .seconds(10), "the connection is served") { server.connectionCount == 1 }
            try await waitUntil(reactor, timeout: .seconds(10), "the stalled connection is closed") { server.connectionCount == 0 }
        }
    }

    func testAtMostMaxConnectionsAreServedAndTheNextIsServedWhenOneCloses() throws {
        try runReactor(timeout: .seconds(30)) { reactor in
            let running = Shared(0)
            let mostRunning = Shared(0)
            let server = try await startServer(host: "127.0.0.1", port: 0, options: ServerOptions(maxConnections: 2)) { reader, writer in
                running.value += 1
                mostRunning.value = max(mostRunning.value, running.value)
                defer { running.value -= 1 }
                try await Self.lineEcho(reader, writer)
            }
            defer { server.close() }
            var clients: [(StreamReader, StreamWriter)] = []
            for index in 0..<2 {
                let client = try await openConnection(host: "127.0.0.1", port: server.port!)
                clients.append(client)
                let echoed = try await Self.roundTrip(client.0, client.1, "client \(index)")
                XCTAssertEqual(echoed, "client \(index)\n")
            }
            // The third connects (the kernel's backlog takes it) but is not served.
            let (thirdReader, thirdWriter) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { thirdWriter.close() }
            try thirdWriter.write(Array("third\n".utf8))
            do {
                let line = try await thirdReader.withTimeout(.milliseconds(300)) { try await thirdReader.readLine() }
                XCTFail("a third connection was served: \(line)")
            } catch {
                XCTAssertTrue(isTimedOut(error), "\(error)")
            }
            XCTAssertEqual(server.connectionCount, 2)
            // One closes: the third is served, and its line was kept.
            clients[0].1.close()
            let third = try await thirdReader.readLine()
            XCTAssertEqual(String(decoding: third, as: UTF8.self), "third\n")
            let echoed = try await Self.roundTrip(clients[1].0, clients[1].1, "second still")
            XCTAssertEqual(echoed, "second still\n")
            XCTAssertEqual(mostRunning.value, 2)
            clients[1].1.close()
        }
    }

}
