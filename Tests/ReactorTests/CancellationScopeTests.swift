import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// A task in a `CancellationScope` (on the portable cancellation path, there is none) waits on its handles without a handler per wait; cancelled,
/// it resumes as promptly as any other, from wherever the cancellation comes, and only its
/// current wait.
final class CancellationScopeTests: XCTestCase {
    func testAWaitInAScopeIsCancelledAndTheSocketStillWorks() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let reader = Task(executorPreference: reactor) {
                try await inScope(reactor) { _ = try await reactor.sockRecv(server, maxBytes: 10) }
            }
            try await cancelWhenParked(reactor, reader, "recv is parked") { reactor.isWaiting(server, .read) }
            XCTAssertFalse(reactor.isWaiting(server, .read), "the cancelled waiter was not removed")
            XCTAssertEqual(reactor.cancellationScopes.count, 0, "the scope outlived its task")
            try await reactor.sockSendall(client, Array("after".utf8))
            let received = try await receive(reactor, server, count: 5)
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "after")
        }
    }

    /// A wait in a scope parks through the parking lot: its waiter names the scope, not a
    /// continuation. Woken by data, it comes back on the loop, in the scope, and waits again.
    func testAWaitInAScopeParksThroughTheParkingLotAndIsWokenByData() throws {
        try XCTSkipUnless(Reactor.parksThroughTheRuntime, "the portable cancellation path has no scopes")
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let received = ReceiveCount()
            let reader = Task(executorPreference: reactor) {
                try await inScope(reactor) {
                    for _ in 0..<2 {
                        _ = try await reactor.sockRecv(server, maxBytes: 10)
                        XCTAssertTrue(reactor.isOnLoopThread)
                        received.count += 1
                    }
                }
            }
            for round in 1...2 {
                try await waitUntil(reactor, "recv is parked") { reactor.isWaiting(server, .read) }
                XCTAssertNotNil(reactor.sources.source(fd: server.fd, generation: server.generation)?.pointee.reader?.scope)
                try await reactor.sockSendall(client, Array("data".utf8))
                try await waitUntil(reactor, "recv took the data") { received.count == round }
            }
            try await reader.value
            XCTAssertEqual(reactor.cancellationScopes.count, 0)
        }
    }

    /// A task parked in a scope when its reactor shuts down ends with an error; its socket is
    /// closed under the wait, and nothing is left behind.
    func testAWaitInAScopeParkedAtShutdownEnds() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let (client, server) = try await Task(executorPreference: reactor) { try await connectedPair(reactor) }.value
        let reader = Task(executorPreference: reactor) {
            try await inScope(reactor) { _ = try await reactor.sockRecv(server, maxBytes: 10) }
        }
        try await Task(executorPreference: reactor) {
            try await waitUntil(reactor, "recv is parked") { reactor.isWaiting(server, .read) }
        }.value
        await reactor.shutdown()
        do {
            try await reader.value
            XCTFail("a receive parked in a scope at shutdown returned")
        } catch {
            // The shutdown closes the socket under the wait.
        }
        client.close()
    }

    func testCancellationFromAnotherThreadReachesAWaitInAScope() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let reader = Task(executorPreference: reactor) {
                try await inScope(reactor) { _ = try await reactor.sockRecv(server, maxBytes: 10) }
            }
            try await waitUntil(reactor, "recv is parked") { reactor.isWaiting(server, .read) }
            Task.detached { reader.cancel() }  // runs on the global executor
            await XCTAssertThrowsCancellation(try await reader.value)
            XCTAssertFalse(reactor.isWaiting(server, .read))
        }
    }

    func testATaskCancelledBetweenItsWaitsDoesNotParkAgain() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let reader = Task(executorPreference: reactor) {
                try await inScope(reactor) {
                    withUnsafeCurrentTask { $0?.cancel() }
                    _ = try await reactor.sockRecv(server, maxBytes: 10)
                }
            }
            await XCTAssertThrowsCancellation(try await reader.value)
            XCTAssertFalse(reactor.isWaiting(server, .read))
        }
    }

    /// Ping-pong in a scope, then one cancellation: only the wait parked at that moment ends.
    func testCancellingAfterManyWaitsInAScopeResumesOnlyTheCurrentOne() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let echoer = Task(executorPreference: reactor) {
                try await inScope(reactor) {
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
                    defer { buffer.deallocate() }
                    while true {
                        guard try await reactor.sockRecv(server, into: buffer) == 1 else { fatalError("EOF") }
                        try await reactor.sockSendall(server, UnsafeRawBufferPointer(buffer))
                    }
                }
            }
            for round in 0..<200 {
                try await reactor.sockSendall(client, [UInt8(truncatingIfNeeded: round)])
                let echoed = try await receive(reactor, client, count: 1)
                XCTAssertEqual(echoed, [UInt8(truncatingIfNeeded: round)])
            }
            try await cancelWhenParked(reactor, echoer, "the last recv is parked") { reactor.isWaiting(server, .read) }
            XCTAssertEqual(reactor.cancellationScopes.count, 0)
        }
    }

    /// The scope covers its own task's waits on handles: a queue's wait, and a child task's
    /// wait on a socket, keep their handlers and are cancelled through them.
    func testOtherWaitsInAScopeKeepTheirOwnHandlers() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let queue = Queue<Int>(on: reactor)
            let getter = Task(executorPreference: reactor) {
                try await inScope(reactor) { _ = try await queue.get() }
            }
            try await cancelWhenParked(reactor, getter, "get is parked") { queue.getters.count == 1 }
            let parent = Task(executorPreference: reactor) {
                try await inScope(reactor) {
                    async let child = reactor.sockRecv(server, maxBytes: 10)
                    _ = try await child
                }
            }
            try await cancelWhenParked(reactor, parent, "the child's recv is parked") { reactor.isWaiting(server, .read) }
            XCTAssertFalse(reactor.isWaiting(server, .read))
            XCTAssertEqual(reactor.cancellationScopes.count, 0)
        }
    }
}

/// How many receives a reader made (touched on the loop thread only).
private final class ReceiveCount: @unchecked Sendable {
    var count = 0
}

/// Runs `body` in a cancellation scope of the running task, on `reactor`'s loop.
private func inScope(_ reactor: Reactor, _ body: () async throws -> Void) async throws {
    let scope = reactor.enterCancellationScope()
    defer { reactor.exitCancellationScope(scope) }
    try await body()
}
