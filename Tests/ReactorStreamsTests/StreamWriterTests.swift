import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// StreamWriter over a real socket: the writer writes one end of a loopback pair, the test
/// reads the other (`peer`), or does not, to build back-pressure.
final class StreamWriterTests: XCTestCase {
    func testWritesGoStraightOutAndDrainReturnsAtOnceBelowTheHighWaterMark() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { writer.abort(); peer.close() }
            try writer.write(Array("hello ".utf8))
            try writer.write("world".utf8)
            XCTAssertEqual(writer.bufferedCount, 0, "a small write to an idle socket was queued")
            try await writer.drain()
            let received = try await receive(reactor, peer, count: 11)
            XCTAssertEqual(text(received), "hello world")
        }
    }

    func testSeveralTasksWaitInDrainUntilThePeerReads() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { writer.abort(); peer.close() }
            let payload = randomBytes(1 << 20, seed: 31)
            try writer.write(payload)
            XCTAssertGreaterThan(writer.bufferedCount, StreamWriter.defaultHighWaterMark)
            let drainers = (0..<3).map { _ in Task(executorPreference: reactor) { try await writer.drain() } }
            try await waitUntil(reactor, "three tasks wait in drain") { writer.drainWaiterCount == 3 }
            let received = try await receive(reactor, peer, count: payload.count)
            for drainer in drainers { try await drainer.value }
            XCTAssertLessThanOrEqual(writer.bufferedCount, StreamWriter.defaultLowWaterMark)
            XCTAssertTrue(received == payload)
        }
    }

    func testDrainThrowsOnceTheConnectionIsLost() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { writer.abort() }
            try writer.write([UInt8](repeating: 1, count: 1 << 20))
            let drainer = Task(executorPreference: reactor) { try await writer.drain() }
            try await waitUntil(reactor, "a task waits in drain") { writer.drainWaiterCount == 1 }
            // The peer resets the connection.
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(peer.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            peer.close()
            do {
                try await drainer.value
                XCTFail("drain returned on a reset connection")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .connectionLost)
            }
            XCTAssertTrue(writer.isClosing)
            await assertThrows(ReactorError.Code.connectionLost) { try writer.write([1]) }
        }
    }

    func testUseAfterCloseIsAClearError() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { peer.close() }
            writer.close()
            XCTAssertTrue(writer.isClosing)
            await assertThrows(ReactorError.Code.invalidState) { try writer.write([1]) }
            await assertThrows(ReactorError.Code.connectionLost) { try await writer.drain() }
            await writer.waitClosed()
            XCTAssertFalse(writer.handle.isOpen)
        }
    }

    func testCloseFlushesWhatIsQueuedAndWaitClosedWaitsForIt() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { peer.close() }
            let payload = randomBytes(512 * 1024, seed: 41)
            try writer.write(payload)
            XCTAssertGreaterThan(writer.bufferedCount, 0)
            writer.close()
            XCTAssertTrue(writer.handle.isOpen, "close() dropped queued bytes instead of flushing them")
            // The peer reads late; every byte arrives, then EOF.
            let received = try await receive(reactor, peer, count: payload.count + 1)
            XCTAssertTrue(received == payload)
            await writer.waitClosed()
            XCTAssertFalse(writer.handle.isOpen)
        }
    }

    func testCloseGivesUpOnAPeerThatNeverReadsAfterTheTimeout() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor, closeTimeout: .milliseconds(100))
            defer { peer.close() }
            try writer.write([UInt8](repeating: 2, count: 1 << 20))
            let start = ContinuousClock.now
            writer.close()
            await writer.waitClosed()
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(100))
            XCTAssertFalse(writer.handle.isOpen)
        }
    }

    func testAbortClosesAtOnceAndDropsTheQueue() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { peer.close() }
            try writer.write([UInt8](repeating: 3, count: 1 << 20))
            writer.abort()
            XCTAssertFalse(writer.handle.isOpen)
            XCTAssertEqual(writer.bufferedCount, 0)
            await writer.waitClosed()
        }
    }

    func testWriteEOFHalfClosesAfterTheQueueAndTheOtherDirectionStillWorks() throws {
        try runReactor { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { writer.close(); peer.close() }
            let reader = StreamReader(writer.handle)
            let payload = randomBytes(256 * 1024, seed: 51)
            try writer.write(payload)
            try writer.writeEOF()
            await assertThrows(ReactorError.Code.invalidState) { try writer.write([1]) }
            let received = try await receive(reactor, peer, count: payload.count + 1)
            XCTAssertTrue(received == payload, "the peer did not get every byte, then EOF")
            try await reactor.sockSendall(peer, Array("still listening\n".utf8))
            let line = try await reader.readLine()
            XCTAssertEqual(text(line), "still listening\n")
        }
    }

    func testWriteEOFFromAPlainThreadRunsInTheLoopsNextTurnAfterTheWritesBeforeIt() throws {
        let misuses = LockedValue<[ErrorContext]>([])
        let configuration = Reactor.Configuration(exceptionHandler: { _, context in misuses.withLock { $0.append(context) } })
        try runReactor(configuration: configuration) { reactor in
            let (writer, peer) = try await writerAndPeer(reactor)
            defer { writer.close(); peer.close() }
            let payload = randomBytes(256 * 1024, seed: 52)
            // write then writeEOF, twice, from a thread that runs no reactor: neither traps; the
            // second writeEOF is a no-op, and the second write, refused in the loop's turn, goes
            // to the exception handler.
            let returned = callTwiceFromAPlainThread {
                try writer.write(payload)
                try writer.writeEOF()
            }
            XCTAssertEqual(returned, [true, true])
            let received = try await receive(reactor, peer, count: payload.count + 1)
            XCTAssertTrue(received == payload, "the peer did not get the first write's bytes, then EOF")
            try await waitUntil(reactor, "the late misuse reaches the handler") { misuses.withLock { !$0.isEmpty } }
            let misuse = misuses.withLock { $0 }
            XCTAssertEqual(misuse.count, 1)
            XCTAssertEqual((misuse.first?.error as? ReactorError)?.code, .invalidState)
            XCTAssertEqual((misuse.first?.error as? ReactorError)?.message, "write() called after writeEOF()")
        }
    }

    func testAWriterDroppedWithoutCloseClosesItsSocket() throws {
        let logs = LogCapture()
        let configuration = Reactor.Configuration(logger: logs.logger, debugMode: true)
        try runReactor(configuration: configuration) { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { server.close() }
            let fd = client.fileDescriptor
            do {
                let writer = StreamWriter(client)
                try writer.write(Array("bye".utf8))
            }
            // Only the dropped writer held the socket: it is closed, the peer sees EOF.
            let received = try await receive(reactor, server, count: 4)
            XCTAssertEqual(text(received), "bye")
            XCTAssertTrue(logs.contains(.warning, "StreamWriter for Socket(fd: \(fd)) was dropped without close()"))
        }
    }
}

/// A writer whose kernel send buffer is small, so that back-pressure comes quickly. (The
/// peer's receive buffer stays as it is: one far below loopback's 64 KiB MSS sends TCP into
/// persist-timer probing, and the test crawls.)
private func writerAndPeer(_ reactor: Reactor, closeTimeout: Duration = .seconds(10)) async throws -> (StreamWriter, Socket) {
    let (client, server) = try await connectedPair(reactor)
    try client.setOption(.sendBufferSize, 4096)
    return (StreamWriter(client, closeTimeout: closeTimeout), server)
}
