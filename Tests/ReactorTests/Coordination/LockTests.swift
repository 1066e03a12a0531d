import Dispatch
import Foundation
import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Lock rules (CPython's test_locks.py LockTests): mutual exclusion, FIFO hand-off,
/// cancellation that neither takes nor strands the lock, and misuse as a clear error.
final class LockTests: XCTestCase {
    func testAcquireAndReleaseAndReleasingAFreeLockIsAnError() throws {
        try runReactor { reactor in
            let lock = Lock()
            XCTAssertTrue(lock.reactor === reactor)
            XCTAssertFalse(lock.isLocked)
            try await lock.acquire()
            XCTAssertTrue(lock.isLocked)
            try lock.release()
            XCTAssertFalse(lock.isLocked)
            assertThrowsReactorError(.invalidState) { try lock.release() }
        }
    }

    func testWaitersTakeTheLockInTheOrderTheyAskedAndANewcomerWaitsItsTurn() throws {
        try runReactor { reactor in
            let lock = Lock()
            let order = Shared<[Int]>([])
            try await lock.acquire()
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<5 {
                tasks.append(reactor.spawn {
                    try await lock.acquire()
                    order.value.append(index)
                    try lock.release()
                })
                try await waitUntil(reactor, "task \(index) waits") { lock.waiters.count == index + 1 }
            }
            try lock.release()
            // Handed to the first waiter: still locked for anyone who asks now.
            XCTAssertTrue(lock.isLocked)
            try await lock.acquire()
            XCTAssertEqual(order.value, [0, 1, 2, 3, 4])
            try lock.release()
            for task in tasks { try await task.value }
            XCTAssertFalse(lock.isLocked)
        }
    }

    /// A held lock, a first waiter that would keep it, and a second that takes and releases it.
    private static func heldLockWithTwoWaiters(
        _ reactor: Reactor
    ) async throws -> (Lock, Task<Void, any Error>, Task<Void, any Error>) {
        let lock = Lock()
        try await lock.acquire()
        let first = reactor.spawn { try await lock.acquire() }
        try await waitUntil(reactor, "the first waits") { lock.waiters.count == 1 }
        let second = reactor.spawn {
            try await lock.acquire()
            try lock.release()
        }
        try await waitUntil(reactor, "the second waits") { lock.waiters.count == 2 }
        return (lock, first, second)
    }

    func testACancelledWaiterLeavesWithoutTheLock() throws {
        try runReactor { reactor in
            let (lock, first, second) = try await Self.heldLockWithTwoWaiters(reactor)
            first.cancel()
            await assertThrows(CancellationError.self, first)
            XCTAssertEqual(lock.waiters.count, 1)
            try lock.release()
            try await second.value
            XCTAssertFalse(lock.isLocked)
        }
    }

    func testAWaiterCancelledAsTheLockIsHandedToItPassesItOn() throws {
        try runReactor { reactor in
            let (lock, first, second) = try await Self.heldLockWithTwoWaiters(reactor)
            // In one stretch of the loop: the lock goes to the first, which is then cancelled
            // before it runs.
            try lock.release()
            first.cancel()
            await assertThrows(CancellationError.self, first)
            try await second.value
            XCTAssertFalse(lock.isLocked, "the lock was stranded")
        }
    }

    func testWithLockReleasesWhenTheBodyThrowsOrIsCancelled() throws {
        try runReactor { reactor in
            let lock = Lock()
            do {
                try await lock.withLock { throw TestFailure("inside") }
                XCTFail("withLock swallowed the error")
            } catch is TestFailure {}
            XCTAssertFalse(lock.isLocked)

            let entered = Event()
            let never = Event()
            let task = reactor.spawn {
                try await lock.withLock {
                    entered.set()
                    try await never.wait()
                }
            }
            try await entered.wait()
            XCTAssertTrue(lock.isLocked)
            task.cancel()
            await assertThrows(CancellationError.self, task)
            XCTAssertFalse(lock.isLocked)
            let answer = try await lock.withLock { 42 }
            XCTAssertEqual(answer, 42)
        }
    }

    func testWithLockCancelledWhileItWaitsNeitherRunsItsBodyNorReleases() throws {
        try runReactor { reactor in
            let lock = Lock()
            try await lock.acquire()
            let ran = Shared(false)
            let waiter = reactor.spawn { try await lock.withLock { ran.value = true } }
            try await waitUntil(reactor, "the waiter waits") { lock.waiters.count == 1 }
            waiter.cancel()
            await assertThrows(CancellationError.self, waiter)
            XCTAssertFalse(ran.value, "the body ran without the lock")
            XCTAssertTrue(lock.isLocked, "the cancelled waiter released a lock it never held")
            XCTAssertEqual(lock.waiters.count, 0)
            try lock.release()
            XCTAssertFalse(lock.isLocked)
        }
    }

    func testAnAlreadyCancelledTaskDoesNotWaitForTheLock() throws {
        try runReactor { reactor in
            let lock = Lock()
            try await lock.acquire()
            let task = reactor.spawn {
                withUnsafeCurrentTask { $0?.cancel() }
                try await lock.acquire()
            }
            await assertThrows(CancellationError.self, task)
            XCTAssertEqual(lock.waiters.count, 0)
            try lock.release()
        }
    }

    func testAWaiterResumesWithAnErrorWhenTheReactorShutsDown() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let lock = Lock(on: reactor)
        let outcome = Shared<String>("still waiting")
        try await lock.acquire()
        let waiter = reactor.spawn {
            do {
                try await lock.acquire()
                outcome.value = "took the lock"
            } catch let error as ReactorError {
                outcome.value = "\(error.code)"
            }
        }
        try await reactor.spawn { try await waitUntil(reactor, "the waiter waits") { lock.waiters.count == 1 } }.value
        await reactor.shutdown()
        _ = try await waiter.value
        XCTAssertEqual(outcome.value, "shutDown")
    }

    func testAReleaseOffTheLoopLandsInTheNextTurnAndALateMisuseIsLogged() throws {
        let logs = LogCapture()
        try runReactor(configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let lock = Lock()
            try await lock.acquire()
            // Both releases pass the check at the call (the lock is still held), and the loop
            // finds the second a misuse.
            let released = callTwiceFromAPlainThread { try lock.release() }
            XCTAssertTrue(lock.isLocked, "a release made off the loop ran before the loop's next turn")
            try await waitUntil(reactor, "the misuse is logged") { logs.contains(.error, "Lock.release: the lock is not held") }
            XCTAssertEqual(released, [true, true])
            XCTAssertFalse(lock.isLocked)
            try await lock.acquire()
            try lock.release()
        }
    }

    func testASecondReleaseWhileTheLockIsHandedOverIsAnError() throws {
        try runReactor { reactor in
            let lock = Lock()
            try await lock.acquire()
            let waiter = reactor.spawn {
                try await lock.acquire()
                try lock.release()
            }
            try await waitUntil(reactor, "the waiter waits") { lock.waiters.count == 1 }
            try lock.release()
            // Handed to the waiter, which has not run: nobody may release it now.
            XCTAssertTrue(lock.isLocked)
            assertThrowsReactorError(.invalidState) { try lock.release() }
            try await waiter.value
            XCTAssertFalse(lock.isLocked)
        }
    }
}
