import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// What a reactor, its blocking pool and a server count for their statistics (the metrics).
final class StatisticsTests: XCTestCase {
    func testTheLoopCountsItsTurnsHandlesHopsAndTime() throws {
        try runReactor { reactor in
            let start = reactor.statistics()
            XCTAssertEqual(start.busyTime, .zero, "no time before it is asked for")
            reactor.measureLoopTime()
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            XCTAssertEqual(reactor.statistics().registeredHandles, start.registeredHandles + 2)
            try await reactor.sleep(for: .milliseconds(20))
            // A call from off the loop hops.
            _ = try await Task.detached { try await reactor.sockSendall(client, [1]) }.value
            let now = reactor.statistics()
            XCTAssertGreaterThan(now.turns, start.turns)
            XCTAssertEqual(now.hops, start.hops + 1)
            XCTAssertGreaterThanOrEqual(now.waitingTime, .milliseconds(10), "the sleep was spent waiting")
            XCTAssertGreaterThan(now.busyTime, .zero)
            let pool = reactor.blockingPool.statistics
            _ = try await reactor.runBlocking { 1 }
            XCTAssertEqual(reactor.blockingPool.statistics.started, pool.started + 1)
        }
    }

    func testRunningChildrenAreCountedUntilReaped() throws {
        try runReactor { reactor in
            let before = Subprocess.runningCount
            let child = try await createSubprocessExec("/bin/cat", [], stdin: .pipe, stdout: .pipe)
            XCTAssertEqual(Subprocess.runningCount, before + 1)
            child.stdin!.close()
            _ = try await child.stdout!.read()
            let status = try await child.wait()
            XCTAssertEqual(status, 0)
            try await waitUntil(reactor, "the reaped child is no longer counted") { Subprocess.runningCount == before }
        }
    }

    func testAServerCountsItsConnectionsBytesAndWhyEachClosed() throws {
        let logs = LogCapture()  // the throwing handler's report
        try runReactor(timeout: .seconds(30), configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let server = try await startServer(
                host: "127.0.0.1", port: 0, options: ServerOptions(idleTimeout: .seconds(1))
            ) { reader, writer in
                let line = try await reader.readLine()
                switch String(decoding: line, as: UTF8.self) {
                case "return\n": try writer.write(line)
                case "throw\n": throw TestFailure("the handler failed")
                case "deadline\n": _ = try await reader.withTimeout(.milliseconds(50)) { try await reader.read(100) }
                default: _ = try await reader.read()  // until EOF, a reset, an abort or the idle timeout
                }
            }
            defer { server.close() }
            func stats() -> Server.Statistics { server.statistics(on: reactor) }
            func connect(_ line: String) async throws -> Socket {
                let socket = try await reactor.connect(to: server.addresses[0])
                try await reactor.sockSendall(socket, Array("\(line)\n".utf8))
                return socket
            }
            func closed(_ cause: Server.CloseCause, _ count: UInt64) async throws {
                try await waitUntil(reactor, timeout: .seconds(10), "\(count) closed as \(cause)") { stats().closed[cause] == count }
            }
            // Returned: the handler answers and returns.
            let returning = try await connect("return")
            defer { returning.close() }
            try await closed(.handlerReturned, 1)
            // Error: the handler throws.
            let throwing = try await connect("throw")
            defer { throwing.close() }
            try await closed(.handlerFailed, 1)
            // Reset: the peer resets while the handler reads.
            var received = stats().bytesReceived
            let resetting = try await connect("wait")
            try await waitUntil(reactor, "the handler has its line") { stats().bytesReceived == received + 5 }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(resetting.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            resetting.close()
            try await closed(.peerReset, 1)
            // Timed out: a silent one.
            let silent = try await connect("wait")
            defer { silent.close() }
            try await closed(.timedOut, 1)
            // Timed out too: a read deadline passes, which is the peer's doing, not a failure.
            let slow = try await connect("deadline")
            defer { slow.close() }
            try await closed(.timedOut, 2)
            let reported = logs.messages.withLock { $0.filter { $0.0 == .error && $0.1.contains("threw") } }
            XCTAssertEqual(reported.count, 1, "only the throwing handler is reported as failed: \(reported)")
            // Aborted: the server cuts the connection.
            received = stats().bytesReceived
            let cut = try await connect("wait")
            defer { cut.close() }
            try await waitUntil(reactor, "the handler has its line") { stats().bytesReceived == received + 5 }
            server.abortClients()
            try await closed(.closedByServer, 1)
            let final = stats()
            XCTAssertEqual(final.accepted, 6)
            XCTAssertEqual(final.open, 0)
            XCTAssertEqual(final.closed.values.reduce(0, +), 6)
            XCTAssertEqual(final.bytesReceived, UInt64("return\nthrow\nwait\nwait\ndeadline\nwait\n".utf8.count))
            XCTAssertEqual(final.bytesSent, UInt64("return\n".utf8.count))
        }
    }
}
