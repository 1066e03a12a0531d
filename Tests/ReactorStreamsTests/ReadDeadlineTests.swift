import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// `StreamReader.withTimeout`: a deadline over the reads of a body, with one timer and no task.
final class ReadDeadlineTests: XCTestCase {
    func testAReadWaitingPastTheDeadlineThrowsTimedOutAndKeepsWhatItHadReceived() throws {
        try runReactor { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            let timers = reactor.timers.count
            try await reactor.sockSendall(client, Array("abc".utf8))
            do {
                let line = try await reader.withTimeout(.milliseconds(100)) { try await reader.readLine() }
                XCTFail("read \(line) past its deadline")
            } catch {
                XCTAssertTrue(isTimedOut(error), "\(error)")
            }
            XCTAssertEqual(reader.bufferedCount, 3, "the partial line stays buffered")
            XCTAssertEqual(reactor.timers.count, timers, "the deadline's timer is gone")
            // Outside the deadline the reader carries on, with the bytes it had.
            try await reactor.sockSendall(client, Array("def\n".utf8))
            let line = try await reader.readLine()
            XCTAssertEqual(String(decoding: line, as: UTF8.self), "abcdef\n")
        }
    }

    /// A task started with `Task.immediate` parks while its starter's job runs: its deadline
    /// still finds its wait.
    func testTheDeadlineWakesAReadOfATaskStartedImmediately() throws {
        try runReactor { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            // No yield before the read parks: it parks while this task's job runs.
            reactor.budget = 1_000
            let read = Task.immediate(executorPreference: reactor) {
                try await reader.withTimeout(.milliseconds(100)) { try await reader.read(10) }
            }
            do {
                let bytes = try await read.value
                XCTFail("read \(bytes) past its deadline")
            } catch {
                XCTAssertTrue(isTimedOut(error), "\(error)")
            }
        }
    }

    func testTheDeadlineBoundsTheWholeBodyNotEachWait() throws {
        try runReactor { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            // A peer that trickles a line every 10 ms, forever: each wait is short, the whole is not.
            let trickle = reactor.spawn {
                while true {
                    try await reactor.sockSendall(client, Array("x\n".utf8))
                    try await reactor.sleep(for: .milliseconds(10))
                }
            }
            defer { trickle.cancel() }
            var lines = 0
            do {
                try await reader.withTimeout(.milliseconds(300)) {
                    while true {
                        _ = try await reader.readLine()
                        lines += 1
                    }
                }
            } catch {
                XCTAssertTrue(isTimedOut(error), "\(error)")
            }
            XCTAssertGreaterThan(lines, 0)
        }
    }

    func testADeadlineThatPassedFailsOnlyTheReadsThatMustWait() throws {
        try runReactor { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            try await reactor.sockSendall(client, Array("ready\n".utf8))
            try await reader.withTimeout(.milliseconds(20)) {
                // The deadline passes while the body does something else.
                let passed = reactor.startDeadline(after: .milliseconds(20))!
                defer { reactor.endDeadline(passed) }
                try await waitUntil(reactor, timeout: .seconds(10), "the deadline passes") { passed.hasPassed }
                // Data that is there is still read...
                let line = try await reader.readLine()
                XCTAssertEqual(String(decoding: line, as: UTF8.self), "ready\n")
                // ...but a read that would wait fails at once.
                do {
                    _ = try await reader.readLine()
                    XCTFail("a read waited past its deadline")
                } catch {
                    XCTAssertTrue(isTimedOut(error), "\(error)")
                }
            }
        }
    }

    func testTheEarlierOfTwoNestedDeadlinesHolds() throws {
        try runReactor(timeout: .seconds(5)) { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            let timers = reactor.timers.count
            // The inner deadline is earlier: it ends the inner body, the outer goes on.
            try await reader.withTimeout(.seconds(30)) {
                do {
                    _ = try await reader.withTimeout(.milliseconds(50)) { try await reader.read(10) }
                    XCTFail("read past the inner deadline")
                } catch {
                    XCTAssertTrue(isTimedOut(error), "\(error)")
                }
                try await reactor.sockSendall(client, Array("after".utf8))
                let bytes = try await reader.read(10)
                XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "after")
            }
            // The outer deadline is earlier: an inner one of 30 s cannot extend it (the test's
            // own timeout is 5 s).
            do {
                try await reader.withTimeout(.milliseconds(50)) {
                    _ = try await reader.withTimeout(.seconds(30)) { try await reader.read(10) }
                }
                XCTFail("read past the outer deadline")
            } catch {
                XCTAssertTrue(isTimedOut(error), "\(error)")
            }
            XCTAssertEqual(reactor.timers.count, timers, "every deadline's timer is gone")
        }
    }

    func testTheBodyMayKeepStateThatIsNotSendableAndCancellationStillEndsIt() throws {
        /// A parser's session: a class that is not Sendable.
        final class Session {
            var lines: [String] = []
        }
        try runReactor { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            let timers = reactor.timers.count
            let parked = Shared(false)
            let task = reactor.spawn {
                let session = Session()
                try await reader.withTimeout(.seconds(30)) {
                    session.lines.append(String(decoding: try await reader.readLine(), as: UTF8.self))
                    parked.value = true
                    session.lines.append(String(decoding: try await reader.readLine(), as: UTF8.self))
                }
                return session.lines.count
            }
            try await reactor.sockSendall(client, Array("one\n".utf8))
            try await waitUntil(reactor, "the reader parks for its second line") { parked.value && reactor.isWaiting(server, .read) }
            task.cancel()
            await assertThrows(CancellationError.self, task)
            XCTAssertEqual(reactor.timers.count, timers, "the deadline's timer is gone")
        }
    }

    func testAReaderOnAnotherThreadHopsAndKeepsItsDeadline() throws {
        try runReactor { reactor in
            let (reader, client, server) = try await readerPair(reactor)
            defer { client.close(); server.close() }
            let result = await Task.detached {
                do {
                    _ = try await reader.withTimeout(.milliseconds(50)) { try await reader.read(10) }
                    return "read"
                } catch {
                    return "\(error)"
                }
            }.value
            XCTAssertTrue(result.contains("timed out"), result)
        }
    }
}

/// A connected pair: the server side's reader, the client socket that feeds it, and the server
/// side's socket.
private func readerPair(_ reactor: Reactor) async throws -> (StreamReader, Socket, Socket) {
    let (client, server) = try await connectedPair(reactor)
    return (StreamReader(server), client, server)
}
