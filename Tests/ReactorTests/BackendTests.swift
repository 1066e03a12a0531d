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

    func testIoUringReceivesIntoItsOwnBuffersAndAReadTakesWhatWaitsThere() throws {
        for backend in Reactor.Backend.allCases {
            try runReactor(configuration: Reactor.Configuration(backend: backend)) { reactor in
                let completionMode = backend == .ioUring && Self.kernelHasMultishotReceives
                XCTAssertEqual(reactor.completionReceives != nil, completionMode, "\(backend): receives in completion mode")
                let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
                defer { listener.close() }
                let client = try await reactor.connect(to: try listener.localAddress())
                defer { client.close() }
                let (served, _) = try await reactor.sockAccept(listener)
                defer { served.close() }
                // The first read that returns bytes starts the socket's receive (with io_uring).
                try await reactor.sockSendall(client, [0])
                let started = try await reactor.sockRecv(served, maxBytes: 1)
                XCTAssertEqual(started, [0])
                let reading = Task(executorPreference: reactor) { try await reactor.sockRecv(served, maxBytes: 100) }
                try await waitUntil(reactor, "the reader parks") { reactor.isWaiting(served, .read) }
                let sent = (0..<200).map { UInt8($0) }
                try await reactor.sockSendall(client, sent)
                let first = try await reading.value
                XCTAssertEqual(first, Array(sent[..<100]), "\(backend)")
                // The other half is in the reactor's buffer with io_uring, in the socket's without.
                var queuedInTheKernel: Int32 = -1
                XCTAssertEqual(ioctl(served.fileDescriptor, UInt(FIONREAD), &queuedInTheKernel), 0)
                XCTAssertEqual(queuedInTheKernel, completionMode ? 0 : 100, "\(backend)")
                let second = try await reactor.sockRecv(served, maxBytes: 1000)
                XCTAssertEqual(second, Array(sent[100...]), "\(backend)")
                client.close()
                let end = try await reactor.sockRecv(served, maxBytes: 1000)
                XCTAssertEqual(end, [], "\(backend): the peer's close is an end of file")
                XCTAssertEqual(reactor.completionReceives?.takeUnretainedValue().held ?? 0, 0, "\(backend): a buffer was kept")
            }
        }
    }

    /// Linux 6.3 or later: the io_uring backend receives in completion mode.
    private static var kernelHasMultishotReceives: Bool {
        var name = utsname()
        guard uname(&name) == 0 else { return false }
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return numbers.count == 2 && (numbers[0], numbers[1]) >= (6, 3)
    }

    /// A read on a listener fails (ENOTCONN) and leaves it as it was: it still accepts. With
    /// io_uring, the read does not start a receive, which would end the listener's poll.
    func testEachBackendStillAcceptsAfterAReadOnTheListener() throws {
        for backend in Reactor.Backend.allCases {
            try runReactor(configuration: Reactor.Configuration(backend: backend)) { reactor in
                let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
                defer { listener.close() }
                do {
                    _ = try await reactor.sockRecv(listener, maxBytes: 16)
                    XCTFail("\(backend): a listener was read")
                } catch let error as SystemCallError {
                    XCTAssertEqual(error.errno, ENOTCONN, "\(backend)")
                }
                for _ in 0..<2 {
                    let accepting = Task(executorPreference: reactor) { try await reactor.sockAccept(listener) }
                    try await waitUntil(reactor, "the acceptor parks") { reactor.isWaiting(listener, .read) }
                    let client = try await reactor.connect(to: try listener.localAddress())
                    defer { client.close() }
                    let (served, _) = try await accepting.value
                    served.close()
                }
            }
        }
    }

    /// A socket whose fd its owner closed behind the reactor's back, after it read: once the
    /// fd's number is registered again, its receive is cancelled (the kernel held the socket
    /// open for it, so its peer now sees the end) and its buffers are given back.
    func testEachBackendLetsGoOfASocketClosedBehindItsBackWhenItsNumberComesBack() throws {
        for backend in Reactor.Backend.allCases {
            try runReactor(configuration: Reactor.Configuration(backend: backend)) { reactor in
                let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
                defer { listener.close() }
                let client = try await reactor.connect(to: try listener.localAddress())
                defer { client.close() }
                let (served, _) = try await reactor.sockAccept(listener)
                try await reactor.sockSendall(client, [0])
                let first = try await reactor.sockRecv(served, maxBytes: 1)
                XCTAssertEqual(first, [0])
                try await reactor.sockSendall(client, [UInt8](repeating: 1, count: 1000))
                let receives = reactor.completionReceives?.takeUnretainedValue()
                if let receives {
                    try await waitUntil(reactor, "the bytes reach the reactor's buffers") { receives.held > 0 }
                }
                let other = cr_eventfd()
                XCTAssertGreaterThanOrEqual(other, 0)
                let number = served.fileDescriptor
                XCTAssertEqual(Glibc.close(number), 0)
                // Another fd takes the number, and is registered.
                XCTAssertEqual(dup2(other, number), number)
                XCTAssertEqual(Glibc.close(other), 0)
                let registered = try await reactor.runOnLoop(number) { try reactor.register($0, isSocket: false) }
                defer { registered.close() }
                XCTAssertEqual(receives?.held ?? 0, 0, "\(backend): the closed socket kept its buffers")
                // The peer sees the end: a FIN, or a reset where unread bytes were left in the
                // socket (epoll's case here).
                do {
                    let end = try await reactor.sockRecv(client, maxBytes: 16)
                    XCTAssertEqual(end, [], "\(backend)")
                } catch let error as SystemCallError {
                    XCTAssertEqual(error.errno, ECONNRESET, "\(backend)")
                }
                withExtendedLifetime(served) {}
            }
        }
    }

    /// More connections than the buffers can hold, none read until every buffer is taken:
    /// connections stop receiving at their share, those left without a buffer read with recv,
    /// and every byte arrives, in order; closing connections with bytes unread gives every
    /// buffer back.
    func testIoUringConnectionsThatOutgrowTheBuffersLoseNothing() throws {
        for backend in Reactor.Backend.allCases {
            try runReactor(configuration: Reactor.Configuration(backend: backend)) { reactor in
                let connections = 24
                let size = 320 * 1024
                let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
                defer { listener.close() }
                var pairs: [(client: Socket, served: Socket)] = []
                for _ in 0..<connections {
                    let client = try await reactor.connect(to: try listener.localAddress())
                    let (served, _) = try await reactor.sockAccept(listener)
                    // A first byte, read: the socket receives from here on.
                    try await reactor.sockSendall(client, [0])
                    let first = try await reactor.sockRecv(served, maxBytes: 1)
                    XCTAssertEqual(first, [0])
                    pairs.append((client, served))
                }
                defer {
                    for pair in pairs {
                        pair.client.close()
                        pair.served.close()
                    }
                }
                let payloads = (0..<connections).map { index in (0..<size).map { UInt8(truncatingIfNeeded: $0 * 7 + index) } }
                let senders = pairs.indices.map { index in
                    let (client, payload) = (pairs[index].client, payloads[index])
                    return Task(executorPreference: reactor) { try await reactor.sockSendall(client, payload) }
                }
                if let receives = reactor.completionReceives?.takeUnretainedValue() {
                    try await waitUntil(reactor, "every buffer is taken") { receives.held == URingReceives.bufferCount }
                }
                // The first two are closed unread; the rest are read to their end.
                pairs[0].served.close()
                pairs[1].served.close()
                for index in 2..<connections {
                    var received: [UInt8] = []
                    while received.count < size {
                        let bytes = try await reactor.sockRecv(pairs[index].served, maxBytes: 64 * 1024)
                        XCTAssertFalse(bytes.isEmpty, "\(backend): connection \(index) ended early")
                        if bytes.isEmpty { break }
                        received += bytes
                    }
                    XCTAssertTrue(received == payloads[index], "\(backend): connection \(index) lost or reordered bytes")
                }
                for index in 2..<connections { try await senders[index].value }
                for sender in senders[..<2] { _ = try? await sender.value }
                for pair in pairs { pair.served.close() }
                if let receives = reactor.completionReceives?.takeUnretainedValue() {
                    XCTAssertEqual(receives.held, 0, "a closed connection kept its buffers")
                }
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
