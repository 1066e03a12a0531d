import Glibc
import Synchronization
import TestSupport
import XCTest

@testable import Reactor

/// A task started with `Task.immediate` on the loop thread runs inside its starter's job until
/// it first parks: its waits are its own (not its starter's cancellation scope), and one that
/// could not come back to the loop is refused with a clear error rather than resumed elsewhere.
final class ImmediateTaskTests: XCTestCase {
    /// The starter's scope covers the starter's waits only: cancelling the starter leaves the
    /// wait of the task it started alone.
    func testCancellingTheStarterLeavesTheWaitOfTheTaskItStartedAlone() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let started = Mutex<Task<Int, any Error>?>(nil)
            let starter = Task(executorPreference: reactor) {
                let scope = reactor.enterCancellationScope()
                defer { reactor.exitCancellationScope(scope) }
                let task = Task.immediate(executorPreference: reactor) { try await reactor.sockRecv(server, maxBytes: 10).count }
                started.withLock { $0 = task }
                withUnsafeCurrentTask { $0?.cancel() }
            }
            _ = await starter.result
            XCTAssertTrue(reactor.isWaiting(server, .read), "the started task's recv was cancelled with its starter")
            try await reactor.sockSendall(client, Array("hello".utf8))
            let received = try await started.withLock { $0 }!.value
            XCTAssertEqual(received, 5)
            XCTAssertEqual(reactor.cancellationScopes.count, 0)
        }
    }

    /// Cancelled, the started task leaves its wait, though it parked while its starter's job
    /// (and scope) ran; the starter's own wait stays.
    func testATaskStartedInsideAScopedTaskIsCancelledThroughItsOwnHandler() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let (otherClient, otherServer) = try await connectedPair(reactor)
            defer { otherClient.close(); otherServer.close() }
            let started = Mutex<Task<Int, any Error>?>(nil)
            let starter = Task(executorPreference: reactor) {
                let scope = reactor.enterCancellationScope()
                defer { reactor.exitCancellationScope(scope) }
                let task = Task.immediate(executorPreference: reactor) { try await reactor.sockRecv(otherServer, maxBytes: 10).count }
                started.withLock { $0 = task }
                return try await reactor.sockRecv(server, maxBytes: 10).count
            }
            try await waitUntil(reactor, "both recvs are parked") {
                reactor.isWaiting(server, .read) && reactor.isWaiting(otherServer, .read)
            }
            let task = started.withLock { $0 }!
            task.cancel()
            await XCTAssertThrowsCancellation(try await task.value)
            XCTAssertFalse(reactor.isWaiting(otherServer, .read))
            XCTAssertTrue(reactor.isWaiting(server, .read), "the starter's wait went with it")
            try await reactor.sockSendall(client, Array("abc".utf8))
            let received = try await starter.value
            XCTAssertEqual(received, 3)
        }
    }

    /// Without the reactor as its preference, the runtime would resume the task on the global
    /// executor after its wait, off the loop: each kind of wait refuses it, parks nothing, and
    /// what it waited on works on.
    func testATaskStartedWithoutThePreferenceIsRefusedItsWaitsWithAClearError() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let event = Event(on: reactor)
            let timers = reactor.timers.count
            let started = Mutex<[Task<Void, any Error>]>([])
            let starter = Task(executorPreference: reactor) {
                let tasks = [
                    Task.immediate { _ = try await reactor.sockRecv(server, maxBytes: 10) },
                    Task.immediate { try await event.wait() },
                    Task.immediate { try await reactor.sleep(for: .seconds(30)) },
                ]
                started.withLock { $0 = tasks }
            }
            _ = await starter.result
            for task in started.withLock({ $0 }) {
                do {
                    try await task.value
                    XCTFail("the wait was not refused")
                } catch let error as ReactorError {
                    XCTAssertEqual(error.code, .notOnReactor)
                    XCTAssertTrue(error.message.contains("executorPreference: reactor"), error.message)
                }
            }
            XCTAssertFalse(reactor.isWaiting(server, .read))
            XCTAssertEqual(reactor.timers.count, timers, "the refused sleep left its timer")
            try await reactor.sockSendall(client, Array("abc".utf8))
            let received = try await receive(reactor, server, count: 3)
            XCTAssertEqual(received, Array("abc".utf8))
            event.set()
            try await event.wait()
        }
    }
}
