import Foundation
import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// A Server in a swift-service-lifecycle ServiceGroup, in a process of its own
/// (reactor-service-echo), stopped by SIGTERM while requests are in flight.
final class ServiceLifecycleTests: XCTestCase {
    func testSIGTERMLetsRequestsInFlightCompleteThenTheProcessExitsZero() throws {
        try sigtermLetsRequestsInFlightComplete(reactors: 1)
    }

    /// The same with a server on a group of three reactors: one Server value drains them all.
    func testSIGTERMDrainsEveryReactorOfAGroup() throws {
        try sigtermLetsRequestsInFlightComplete(reactors: 3)
    }

    private func sigtermLetsRequestsInFlightComplete(reactors: Int) throws {
        // Each reply waits 300 ms; connections get 1 s to end after the SIGTERM.
        let server = try ServerProcess(
            "reactor-service-echo", ["--port", "0", "--delay", "300", "--grace-period", "1000", "--reactors", "\(reactors)"])
        let port = server.port
        let (replies, idleEnded, refusedAfter) = try runReactor { reactor in
            var clients: [(StreamReader, StreamWriter)] = []
            for _ in 0..<9 { clients.append(try await openConnection(host: "127.0.0.1", port: port)) }
            // One round trip each (served side by side): every connection has been accepted.
            for (_, writer) in clients { try writer.write(Array("hello\n".utf8)) }
            for (reader, _) in clients { _ = try await reader.readLine() }
            let (idleReader, idleWriter) = clients.removeLast()
            defer { idleWriter.close() }
            // Eight requests in flight, each answered 300 ms after the server read it.
            for (index, (_, writer)) in clients.enumerated() { try writer.write(Array("request \(index)\n".utf8)) }
            kill(server.pid, SIGTERM)
            var replies: [String] = []
            for (reader, writer) in clients {
                replies.append(text(try await reader.readLine()))
                writer.close()
            }
            // The idle connection is cut once the grace period is over.
            let idleEnded = try await reactor.withTimeout(.seconds(10)) { try await idleReader.read() }.isEmpty
            // And no new connection is accepted.
            let refusedAfter = (try? await openConnection(host: "127.0.0.1", port: port)) == nil
            return (replies, idleEnded, refusedAfter)
        }
        XCTAssertEqual(replies, (0..<8).map { "request \($0)\n" }, "every request in flight was answered")
        XCTAssertTrue(idleEnded)
        XCTAssertTrue(refusedAfter)
        server.process.waitUntilExit()
        XCTAssertEqual(server.process.terminationReason, .exit)
        XCTAssertEqual(server.process.terminationStatus, 0)
        let rest = String(decoding: server.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(rest.contains("stopped"), rest)
    }
}
