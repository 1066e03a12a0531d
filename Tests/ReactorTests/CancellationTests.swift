import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// A task cancelled while it waits resumes with CancellationError, its waiter is removed, and
/// the socket keeps working. Promptly: nothing else could end these waits (no data comes), and
/// runReactor's timeout would fail a test whose cancellation did not.
final class CancellationTests: XCTestCase {
    func testCancelledRecvResumesPromptlyAndTheSocketStillWorks() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let reader = Task(executorPreference: reactor) { try await reactor.sockRecv(server, maxBytes: 10) }
            try await cancelWhenParked(reactor, reader, "recv is parked") { reactor.isWaiting(server, .read) }
            XCTAssertFalse(reactor.isWaiting(server, .read), "the cancelled waiter was not removed")
            try await reactor.sockSendall(client, Array("after".utf8))
            let received = try await receive(reactor, server, count: 5)
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "after")
        }
    }

    func testCancellationFromAnotherThreadResumesTheWaiter() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let reader = Task(executorPreference: reactor) { try await reactor.sockRecv(server, maxBytes: 10) }
            try await waitUntil(reactor, "recv is parked") { reactor.isWaiting(server, .read) }
            Task.detached { reader.cancel() }  // runs on the global executor
            await XCTAssertThrowsCancellation(try await reader.value)
            XCTAssertFalse(reactor.isWaiting(server, .read))
        }
    }

    func testCancelledAcceptResumesPromptlyAndTheListenerStillWorks() throws {
        try runReactor { reactor in
            let (listener, address) = try await loopbackListener(reactor)
            defer { listener.close() }
            let acceptor = Task(executorPreference: reactor) { try await reactor.sockAccept(listener) }
            try await cancelWhenParked(reactor, acceptor, "accept is parked") { reactor.isWaiting(listener, .read) }
            let client = try await reactor.connect(to: address)
            defer { client.close() }
            let (accepted, peer) = try await reactor.sockAccept(listener)
            defer { accepted.close() }
            XCTAssertEqual(peer, try client.localAddress())
        }
    }

    func testCancelledSendallResumesPromptlyAndTheSocketStillWorks() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            try client.setOption(.sendBufferSize, 4096)
            try server.setOption(.receiveBufferSize, 4096)
            // The peer does not read, so 8 MiB cannot all be sent.
            let sender = Task(executorPreference: reactor) {
                try await reactor.sockSendall(client, [UInt8](repeating: 0, count: 8 << 20))
            }
            try await cancelWhenParked(reactor, sender, "sendall is parked") { reactor.isWaiting(client, .write) }
            XCTAssertFalse(reactor.isWaiting(client, .write))
            // The socket still works: the peer drains the zeros, then sees the marker.
            let marker = Array("END!".utf8)
            let drained = Task(executorPreference: reactor) { () -> Int in
                var total = 0
                var tail: [UInt8] = []
                while tail != marker {
                    let chunk = try await reactor.sockRecv(server, maxBytes: 65536)
                    if chunk.isEmpty { throw TestFailure("EOF before the marker") }
                    total += chunk.count
                    tail = Array((tail + chunk).suffix(4))
                }
                return total
            }
            try await reactor.sockSendall(client, marker)
            let total = try await drained.value
            XCTAssertGreaterThan(total, marker.count, "nothing of the cancelled send reached the peer")
            XCTAssertLessThan(total, 8 << 20)
        }
    }

    func testCancelledConnectResumesPromptlyAndCanBeCompletedLater() throws {
        try runReactor { reactor in
            // Backlog 0 holds one connection; with it unaccepted, the next SYN is dropped and
            // that connect stays in progress.
            let (listener, address) = try await loopbackListener(reactor, backlog: 0)
            defer { listener.close() }
            let queued = try await reactor.connect(to: address)
            defer { queued.close() }
            let socket = try await reactor.makeSocket(family: .ipv4)
            defer { socket.close() }
            let connector = Task(executorPreference: reactor) { try await reactor.sockConnect(socket, to: address) }
            try await cancelWhenParked(reactor, connector, "connect is parked") { reactor.isWaiting(socket, .write) }
            // Free the queue; connecting again waits for the attempt under way (its SYN is
            // retransmitted after about a second) and succeeds.
            let (first, _) = try await reactor.sockAccept(listener)
            defer { first.close() }
            try await reactor.sockConnect(socket, to: address)
            let (second, peer) = try await reactor.sockAccept(listener)
            defer { second.close() }
            XCTAssertEqual(peer, try socket.localAddress())
        }
    }

    func testClosingASocketResumesItsWaiterWithAnError() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close() }
            let reader = Task(executorPreference: reactor) { try await reactor.sockRecv(server, maxBytes: 10) }
            try await waitUntil(reactor, "recv is parked") { reactor.isWaiting(server, .read) }
            server.close()
            do {
                _ = try await reader.value
                XCTFail("recv returned after its socket was closed")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EBADF)
                XCTAssertEqual(error.operation, "recv")
                XCTAssertTrue(error.description.contains("fd \(server.fileDescriptor) is closed"), error.description)
            }
        }
    }

    /// Each wait installs the task's cancellation handler and removes it on resuming: a task
    /// that has waited many times is cancelled once, in its current wait, and a handler left
    /// from an earlier wait (whose context is gone) would crash or resume the wrong waiter.
    func testCancellingAfterManyCompletedWaitsResumesOnlyTheCurrentOne() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let rounds = 200
            // Ping-pong: the reader echoes each byte, so each of its receives waits for the next.
            let reader = Task(executorPreference: reactor) { () -> Never in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
                defer { buffer.deallocate() }
                while true {
                    guard try await reactor.sockRecv(server, into: buffer) == 1 else { fatalError("EOF") }
                    try await reactor.sockSendall(server, UnsafeRawBufferPointer(buffer))
                }
            }
            for round in 0..<rounds {
                try await reactor.sockSendall(client, [UInt8(truncatingIfNeeded: round)])
                let echoed = try await receive(reactor, client, count: 1)
                XCTAssertEqual(echoed, [UInt8(truncatingIfNeeded: round)])
            }
            try await cancelWhenParked(reactor, reader, "the last recv is parked") { reactor.isWaiting(server, .read) }
            XCTAssertFalse(reactor.isWaiting(server, .read), "the cancelled waiter was not removed")
        }
    }

    func testAnAlreadyCancelledTaskDoesNotPark() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let reader = Task(executorPreference: reactor) { () -> [UInt8] in
                withUnsafeCurrentTask { $0?.cancel() }
                return try await reactor.sockRecv(server, maxBytes: 10)
            }
            await XCTAssertThrowsCancellation(try await reader.value)
            XCTAssertFalse(reactor.isWaiting(server, .read))
        }
    }
}

func XCTAssertThrowsCancellation<T>(
    _ expression: @autoclosure () async throws -> T, file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        _ = try await expression()
        XCTFail("expected CancellationError, got a value", file: file, line: line)
    } catch is CancellationError {
    } catch {
        XCTFail("expected CancellationError, got \(error)", file: file, line: line)
    }
}

/// Cancels `task` once `parked` holds, and checks that it resumed with CancellationError.
func cancelWhenParked<T>(
    _ reactor: Reactor, _ task: Task<T, any Error>, _ what: String, parked: () -> Bool
) async throws {
    try await waitUntil(reactor, what, parked)
    task.cancel()
    do {
        _ = try await task.value
        XCTFail("\(what): the task finished instead of being cancelled")
    } catch is CancellationError {
    } catch {
        XCTFail("\(what): expected CancellationError, got \(error)")
    }
}
