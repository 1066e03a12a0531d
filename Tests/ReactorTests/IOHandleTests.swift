import CReactor
import Glibc
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// Handles over fds that are not sockets: pipes, eventfd, and what epoll refuses.
final class IOHandleTests: XCTestCase {
    func testEightMebibytesThroughAPipeWithStreamsInRandomChunksAreByteExact() throws {
        let payload = randomBytes(8 << 20, seed: 808)
        let received = try runReactor { reactor -> [UInt8] in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            let reader = StreamReader(readEnd)
            let writer = StreamWriter(writeEnd)
            XCTAssertNil(writer.peerAddress)
            let writing = Task(executorPreference: reactor) {
                var generator = SeededGenerator(seed: 1)
                var offset = 0
                while offset < payload.count {
                    let size = min(Int.random(in: 1...200_000, using: &generator), payload.count - offset)
                    try writer.write(payload[offset..<offset + size])
                    try await writer.drain()
                    offset += size
                }
                writer.close()
                await writer.waitClosed()
            }
            var generator = SeededGenerator(seed: 2)
            var received: [UInt8] = []
            while true {
                let chunk = try await reader.read(Int.random(in: 1...100_000, using: &generator))
                if chunk.isEmpty { break }
                received += chunk
            }
            try await writing.value
            XCTAssertTrue(reader.atEOF)
            readEnd.close()
            return received
        }
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload, "the bytes out of the pipe differ from the bytes in")
    }

    func testAWriteToAPipeWhoseReaderIsGoneFailsWithEPIPE() throws {
        try runReactor { reactor in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            readEnd.close()
            let bytes: [UInt8] = [1, 2, 3]
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try writeEnd.tryWrite($0) }) { error in
                XCTAssertEqual((error as? SocketError)?.errno, EPIPE)
                XCTAssertEqual((error as? SocketError)?.operation, "write")
            }
            writeEnd.close()
        }
    }

    func testAnAdoptedEventfdIsAwaitedAndReadWithRead() throws {
        try runReactor { reactor in
            let fd = cr_eventfd()
            XCTAssertGreaterThanOrEqual(fd, 0)
            let handle = try await reactor.adopt(fd)
            XCTAssertFalse(handle is Socket)
            let waiting = Task(executorPreference: reactor) { () -> UInt64 in
                var value: UInt64 = 0
                // A new registration is "ready" until a read says EAGAIN: try, then wait.
                while try withUnsafeMutableBytes(of: &value, { try handle.tryRead(into: $0) }) == nil {
                    try await handle.waitUntilReadable()
                }
                return value
            }
            try await waitUntil(reactor, "the eventfd's reader parks") { reactor.isWaiting(handle, .read) }
            XCTAssertEqual(cr_eventfd_signal(fd), 8, "the eventfd write failed")
            let value = try await waiting.value
            XCTAssertEqual(value, 1)
            // Drained: the next read says "not yet", and a waiter would park again.
            var more: UInt64 = 0
            let again = try withUnsafeMutableBytes(of: &more) { try handle.tryRead(into: $0) }
            XCTAssertNil(again)
            handle.close()
            XCTAssertEqual(fcntl(fd, F_GETFD), -1, "close() left the eventfd open")
        }
    }

    func testAdoptingARegularFileFailsAndClosesIt() throws {
        try runReactor { reactor in
            let fd = open("/proc/self/stat", O_RDONLY)
            XCTAssertGreaterThanOrEqual(fd, 0)
            do {
                _ = try await reactor.adopt(fd)
                XCTFail("epoll watched a regular file")
            } catch let error as SocketError {
                XCTAssertEqual(error.errno, EPERM)
            }
            XCTAssertEqual(fcntl(fd, F_GETFD), -1, "a refused fd was left open")
            // adoptSocket refuses a pipe, and closes it.
            var fds: [Int32] = [-1, -1]
            XCTAssertEqual(pipe(&fds), 0)
            close(fds[1])
            do {
                _ = try await reactor.adoptSocket(fds[0])
                XCTFail("adoptSocket took a pipe")
            } catch let error as SocketError {
                XCTAssertEqual(error.errno, ENOTSOCK)
            }
            XCTAssertEqual(fcntl(fds[0], F_GETFD), -1)
        }
    }
}
