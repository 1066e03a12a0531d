import CReactor
import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// The loop's backends: epoll, and io_uring, with the same behaviour. CI runs the whole suite
/// once more with `REACTOR_BACKEND=io_uring`; these tests run on each backend in every run.
final class BackendTests: XCTestCase {
    func testTheLoopWaitsOnTheBackendTheEnvironmentNames() throws {
        try runReactor { reactor in
            XCTAssertEqual(reactor.backend, Reactor.Backend.fromEnvironment, "the reactor fell back to another backend")
        }
    }

    func testEachBackendEchoesAndAClosedSocketsPeerSeesItsEndAtOnce() throws {
        for backend in Reactor.Backend.allCases {
            try runReactor(configuration: Reactor.Configuration(backend: backend)) { reactor in
                XCTAssertEqual(reactor.backend, backend)
                let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
                defer { listener.close() }
                let client = try await reactor.connect(to: try listener.localAddress())
                defer { client.close() }
                let (served, _) = try await reactor.sockAccept(listener)
                try await reactor.sockSendall(client, Array("ping".utf8))
                let ping = try await reactor.sockRecv(served, maxBytes: 16)
                XCTAssertEqual(ping, Array("ping".utf8), "\(backend)")
                try await reactor.sockSendall(served, Array("pong".utf8))
                let pong = try await reactor.sockRecv(client, maxBytes: 16)
                XCTAssertEqual(pong, Array("pong".utf8), "\(backend)")
                // The reader parks before the close: the close must reach the peer while the
                // loop runs on (a backend that holds the closed socket open never sends the FIN).
                let reading = Task(executorPreference: reactor) { try await reactor.sockRecv(client, maxBytes: 16) }
                try await waitUntil(reactor, "the client's reader parks") { reactor.isWaiting(client, .read) }
                try await Self.roundTripThroughTheKernel(reactor)
                served.close()
                let end = try await reading.value
                XCTAssertEqual(end, [], "\(backend): the peer's close is an end of file")
            }
        }
    }

    func testEachBackendStopsWatchingAnFdItsOwnerThenCloses() throws {
        // The last write below goes to a pipe with no reader: EPIPE, not a SIGPIPE.
        XCTAssertEqual(cr_ignore_sigpipe(), 0)
        for backend in Reactor.Backend.allCases {
            try runReactor(configuration: Reactor.Configuration(backend: backend)) { reactor in
                var fds: [Int32] = [0, 0]
                XCTAssertEqual(pipe(&fds), 0)
                let (readFD, writeFD) = (fds[0], fds[1])
                XCTAssertEqual(cr_set_nonblocking(writeFD), 0)
                defer { close(writeFD) }
                let watched = try await reactor.watch(readFD)
                let waiting = Task(executorPreference: reactor) { try await watched.waitUntilReadable() }
                try await waitUntil(reactor, "the watcher parks") { reactor.isWaiting(watched, .read) }
                XCTAssertEqual(write(writeFD, "x", 1), 1)
                try await waiting.value
                // Armed again, then no longer watched: the owner closes the fd, and nothing may
                // keep the pipe's read end open behind its back.
                let parked = Task(executorPreference: reactor) { try await watched.waitUntilWritable() }
                try await waitUntil(reactor, "the watcher parks again") { reactor.isWaiting(watched, .write) }
                try await Self.roundTripThroughTheKernel(reactor)
                watched.close()
                do {
                    try await parked.value
                    XCTFail("\(backend): a wait outlived the watch")
                } catch let error as SystemCallError {
                    XCTAssertEqual(error.errno, EBADF, "\(backend)")
                }
                XCTAssertEqual(close(readFD), 0)
                XCTAssertEqual(write(writeFD, "y", 1), -1, "\(backend): the pipe's read end is still open")
                XCTAssertEqual(errno, EPIPE, "\(backend)")
            }
        }
    }

    /// Returns once the loop has waited on the kernel for a byte through a pipe: a backend that
    /// queues its requests (io_uring) has handed every earlier one over by then.
    private static func roundTripThroughTheKernel(_ reactor: Reactor) async throws {
        let (readEnd, writeEnd) = try await reactor.makePipe()
        defer {
            readEnd.close()
            writeEnd.close()
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
        defer { buffer.deallocate() }
        XCTAssertNil(try readEnd.tryRead(into: buffer))
        _ = try [UInt8](repeating: 1, count: 1).withUnsafeBytes { try writeEnd.tryWrite($0) }
        try await readEnd.waitUntilReadable()
    }
}
