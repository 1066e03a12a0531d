import CReactor
import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// Handles over fds that are not sockets: pipes, eventfd, and what epoll refuses.
final class IOHandleTests: XCTestCase {
    func testAWriteToAPipeWhoseReaderIsGoneFailsWithEPIPE() throws {
        try runReactor { reactor in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            readEnd.close()
            let bytes: [UInt8] = [1, 2, 3]
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try writeEnd.tryWrite($0) }) { error in
                XCTAssertEqual((error as? SystemCallError)?.errno, EPIPE)
                XCTAssertEqual((error as? SystemCallError)?.operation, "write")
            }
            writeEnd.close()
        }
    }

    func testMayBeReadySaysWhetherATryWouldMakeItsSyscall() throws {
        try runReactor { reactor in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            defer {
                readEnd.close()
                writeEnd.close()
            }
            XCTAssertTrue(readEnd.mayBeReady(.read), "a new registration is ready until told otherwise")
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
            defer { buffer.deallocate() }
            XCTAssertNil(try readEnd.tryRead(into: buffer))
            XCTAssertFalse(readEnd.mayBeReady(.read), "EAGAIN: nothing until the next edge")
            _ = try [UInt8](repeating: 7, count: 4).withUnsafeBytes { try writeEnd.tryWrite($0) }
            try await readEnd.waitUntilReadable()
            XCTAssertTrue(readEnd.mayBeReady(.read), "the edge")
            XCTAssertEqual(try readEnd.tryRead(into: buffer), 4)
            XCTAssertFalse(readEnd.mayBeReady(.read), "a short read drained the pipe")
            readEnd.close()
            XCTAssertFalse(readEnd.mayBeReady(.read), "closed")
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
            } catch let error as SystemCallError {
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
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, ENOTSOCK)
            }
            XCTAssertEqual(fcntl(fds[0], F_GETFD), -1)
        }
    }

    func testAWatchedFdThatItsOwnerReadsWaitsForNewDataAndStaysOpenWhenUnwatched() throws {
        // asyncio's add_reader: the fd is the owner's (here, a blocking pipe the test reads and
        // writes itself). Each wait must return only while there is something to read, however
        // much the owner took meanwhile: not at once forever after the first edge, and not
        // never for bytes the owner left behind.
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { Glibc.close(readEnd); Glibc.close(writeEnd) }
        @Sendable func ownerWrites(_ bytes: [UInt8]) { XCTAssertEqual(Glibc.write(writeEnd, bytes, bytes.count), bytes.count) }
        @Sendable func ownerReads(_ count: Int) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: count)
            XCTAssertEqual(Glibc.read(readEnd, &buffer, count), count)
            return buffer
        }
        try runReactor { reactor in
            let watched = try await reactor.watch(readEnd)
            ownerWrites([1])
            try await watched.waitUntilReadable()
            XCTAssertEqual(ownerReads(1), [1])
            // Drained by its owner: the next wait parks until new data.
            let waiting = Task(executorPreference: reactor) { try await watched.waitUntilReadable() }
            try await waitUntil(reactor, "the wait parks") { reactor.isWaiting(watched, .read) }
            ownerWrites([2, 3])
            try await waiting.value
            // The owner takes one of two bytes: the one left makes the next wait return.
            XCTAssertEqual(ownerReads(1), [2])
            try await watched.waitUntilReadable()
            XCTAssertEqual(ownerReads(1), [3])
            // The same fd cannot be registered twice.
            do {
                _ = try await reactor.watch(readEnd)
                XCTFail("an fd was watched twice")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EEXIST)
            }
            // Unwatched, the fd is still the owner's, open, and still works.
            watched.close()
            XCTAssertFalse(watched.isOpen)
            ownerWrites([4])
            XCTAssertEqual(ownerReads(1), [4])
            // Watching it again works after the first watch ended.
            let again = try await reactor.watch(readEnd)
            ownerWrites([5])
            try await again.waitUntilReadable()
            XCTAssertEqual(ownerReads(1), [5])
        }
        // The reactor's shutdown stopped the second watch without closing the fd either.
        XCTAssertNotEqual(fcntl(readEnd, F_GETFD), -1, "the reactor closed a watched fd")
        XCTAssertNotEqual(fcntl(writeEnd, F_GETFD), -1)
    }

    func testAWatchedFdWaitsForWritabilityAndReadabilityAtOnce() throws {
        // An eventfd: writable while its counter is below the maximum, readable once above 0.
        let fd = cr_eventfd()
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { Glibc.close(fd) }
        try runReactor { reactor in
            let watched = try await reactor.watch(fd)
            defer { watched.close() }
            let reading = Task(executorPreference: reactor) { try await watched.waitUntilReadable() }
            try await waitUntil(reactor, "the read wait parks") { reactor.isWaiting(watched, .read) }
            // A write wait beside it returns at once, and the read wait stays armed.
            try await watched.waitUntilWritable()
            XCTAssertTrue(reactor.isWaiting(watched, .read))
            var one: UInt64 = 1
            XCTAssertEqual(Glibc.write(fd, &one, 8), 8)
            try await reading.value
        }
    }

    func testWhenReadyIsTheTryThenWaitLoopALayerOfItsOwnCanUse() throws {
        // A layer outside the reactor moves 4 MiB through a pipe with whenReady and the try
        // calls alone: the writer meets a full pipe and waits, the reader an empty one.
        let payload = randomBytes(4 << 20, seed: 404)
        let received = try runReactor { reactor -> [UInt8] in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            defer { readEnd.close() }
            let writing = Task(executorPreference: reactor) { () -> Int in
                defer { writeEnd.close() }
                var sent = 0
                var waits = 0
                while sent < payload.count {
                    sent += try await writeEnd.whenReady(.write) {
                        let count = try payload.withUnsafeBytes { try writeEnd.tryWrite(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
                        if count == nil { waits += 1 }
                        return count
                    }
                }
                return waits
            }
            var received: [UInt8] = []
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                let count = try await readEnd.whenReady(.read) { try readEnd.tryRead(into: buffer) }
                if count == 0 { break }
                received += buffer.prefix(count)
            }
            let writerWaits = try await writing.value
            XCTAssertGreaterThan(writerWaits, 0, "the writer never met a full pipe")
            return received
        }
        XCTAssertTrue(received == payload, "the bytes through whenReady differ")
    }

    func testWhenReadyWaitsForANewEdgeAfterAnAttemptThatSaysNotReadyOfItsOwnAccord() throws {
        // An attempt that answers nil while the fd is readable (a layer that wants a whole
        // frame, or the other direction) must not be run again and again: it waits for a new
        // edge.
        try runReactor { reactor in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            defer { readEnd.close(); writeEnd.close() }
            _ = try [UInt8]([1]).withUnsafeBytes { try writeEnd.tryWrite($0) }
            let attempts = Shared(0)
            let reading = Task(executorPreference: reactor) { () -> Int in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
                defer { buffer.deallocate() }
                return try await readEnd.whenReady(.read) {
                    attempts.value += 1
                    if attempts.value == 1 { return nil }  // not enough yet, of its own accord
                    return try readEnd.tryRead(into: buffer)
                }
            }
            try await waitUntil(reactor, "the reader waits for a new edge") { reactor.isWaiting(readEnd, .read) }
            XCTAssertEqual(attempts.value, 1)
            _ = try [UInt8]([2]).withUnsafeBytes { try writeEnd.tryWrite($0) }
            let count = try await reading.value
            XCTAssertEqual(count, 2)
            XCTAssertEqual(attempts.value, 2)
        }
    }

    func testWatchingANegativeFdIsEBADF() throws {
        try runReactor { reactor in
            do {
                _ = try await reactor.watch(-1)
                XCTFail("fd -1 was watched")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EBADF)
            }
        }
    }
}

