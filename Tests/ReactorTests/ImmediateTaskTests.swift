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
    /// executor after its wait, off the loop: each kind of wait refuses it before it parks,
    /// in or out of its starter's cancellation scope, and what it waited on works on.
    func testATaskStartedWithoutThePreferenceIsRefusedItsWaitsWithAClearError() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let (otherClient, otherServer) = try await connectedPair(reactor)
            defer { otherClient.close(); otherServer.close() }
            let event = Event(on: reactor)
            let condition = Condition(on: reactor)
            // A freed timer slot is the next one reserved: the refused sleep must free its own.
            let freeSlot = reactor.timers.reserve()
            _ = reactor.timers.cancel(freeSlot)
            let started = Mutex<[Task<Void, any Error>]>([])
            let starter = Task(executorPreference: reactor) {
                let tasks = [
                    Task.immediate { _ = try await reactor.sockRecv(server, maxBytes: 10) },
                    Task.immediate { try await event.wait() },
                    Task.immediate { try await reactor.sleep(for: .seconds(30)) },
                    Task.immediate { try await condition.withLock { try await condition.wait() } },
                ]
                let scope = reactor.enterCancellationScope()
                defer { reactor.exitCancellationScope(scope) }
                let inScope = Task.immediate { _ = try await reactor.sockRecv(otherServer, maxBytes: 10) }
                started.withLock { $0 = tasks + [inScope] }
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
            XCTAssertFalse(reactor.isWaiting(otherServer, .read))
            XCTAssertEqual(reactor.timers.reserve().slot, freeSlot.slot, "the refused sleep kept its timer slot")
            XCTAssertFalse(condition.isLocked, "the refused condition wait kept its lock")
            try await reactor.sockSendall(client, Array("abc".utf8))
            let received = try await receive(reactor, server, count: 3)
            XCTAssertEqual(received, Array("abc".utf8))
            event.set()
            try await event.wait()
        }
    }

    /// In an actor isolated to the loop, a task it starts immediately inherits the actor, and
    /// its wait resumes on the loop's serial executor, not through another thread (on the
    /// fast path; the portable one comes back through the global pool).
    func testATaskStartedImmediatelyInALoopActorResumesOnTheLoop() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let owner = LoopOwner(reactor)
            let started = await owner.startReceiving(server)
            try await waitUntil(reactor, "the recv is parked") { reactor.isWaiting(server, .read) }
            let before = reactor.statistics()
            try await reactor.sockSendall(client, Array("abc".utf8))
            let received = try await started.value
            XCTAssertEqual(received, 3)
            // The portable path's continuation resumes on the generic executor, the global
            // pool for a task without a preference, which hands the task back to the loop.
            if Reactor.parksThroughTheRuntime {
                XCTAssertEqual(reactor.statistics().workFromOtherThreads, before.workFromOtherThreads, "the wait came back through another thread")
            }
        }
    }
}

private actor LoopOwner {
    let reactor: Reactor
    nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }

    init(_ reactor: Reactor) { self.reactor = reactor }

    func startReceiving(_ socket: Socket) -> Task<Int, any Error> {
        Task.immediate {
            let count = try await reactor.sockRecv(socket, maxBytes: 10).count
            self.assertIsolated()
            return count
        }
    }
}
