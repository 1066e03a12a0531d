import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Condition rules (test_locks.py ConditionTests): wait releases and retakes the
/// lock, also when cancelled; notify(n) wakes n in order; misuse is a clear error.
final class ConditionTests: XCTestCase {
    func testNotifyWakesWaitersInOrderAndEachHoldsTheLockWhenItReturns() throws {
        try runReactor { reactor in
            let condition = Condition()
            let order = Shared<[Int]>([])
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<4 {
                tasks.append(reactor.spawn {
                    try await condition.withLock {
                        try await condition.wait()
                        XCTAssertTrue(condition.isLocked)
                        order.value.append(index)
                    }
                })
                try await waitUntil(reactor, "waiter \(index) waits") { condition.waiters.count == index + 1 }
            }
            XCTAssertFalse(condition.isLocked, "wait() kept the lock")
            try await condition.withLock { try condition.notify() }
            try await tasks[0].value
            XCTAssertEqual(order.value, [0])
            try await condition.withLock { try condition.notify(2) }
            try await tasks[1].value
            try await tasks[2].value
            XCTAssertEqual(order.value, [0, 1, 2])
            try await condition.withLock { try condition.notifyAll() }
            try await tasks[3].value
            XCTAssertEqual(order.value, [0, 1, 2, 3])
            XCTAssertFalse(condition.isLocked)
        }
    }

    func testWaitForChecksThePredicateWithTheLockHeld() throws {
        try runReactor { reactor in
            let condition = Condition()
            let items = Shared<[Int]>([])
            let consumer = reactor.spawn {
                try await condition.withLock {
                    try await condition.wait(for: { !items.value.isEmpty })
                    return items.value.removeFirst()
                }
            }
            try await waitUntil(reactor, "the consumer waits") { condition.waiters.count == 1 }
            // A notification with the predicate still false: it waits again.
            try await condition.withLock { try condition.notify() }
            try await waitUntil(reactor, "the consumer waits again") { condition.waiters.count == 1 }
            try await condition.withLock {
                items.value.append(7)
                try condition.notify()
            }
            let item = try await consumer.value
            XCTAssertEqual(item, 7)
        }
    }

    func testACancelledWaitTakesTheLockBackBeforeItThrows() throws {
        try runReactor { reactor in
            let condition = Condition()
            let heldWhenThrown = Shared<Bool?>(nil)
            let waiter = reactor.spawn {
                try await condition.acquire()
                do {
                    try await condition.wait()
                } catch is CancellationError {
                    heldWhenThrown.value = condition.isLocked
                    try condition.release()
                    throw CancellationError()
                }
            }
            try await waitUntil(reactor, "the waiter waits") { condition.waiters.count == 1 }
            // Cancelled while another task holds the lock: it must wait for it.
            try await condition.acquire()
            waiter.cancel()
            try await waitUntil(reactor, "the cancelled waiter waits for the lock") { condition.lock.waiters.count == 1 }
            XCTAssertNil(heldWhenThrown.value)
            try condition.release()
            await assertThrows(CancellationError.self, waiter)
            XCTAssertEqual(heldWhenThrown.value, true)
            XCTAssertFalse(condition.isLocked)
        }
    }

    /// A condition with two tasks waiting in it, the first of them notified, and its lock held.
    private static func twoWaitersOneNotified(
        _ reactor: Reactor
    ) async throws -> (Condition, Task<Void, any Error>, Task<Void, any Error>) {
        let condition = Condition()
        let first = reactor.spawn { try await condition.withLock { try await condition.wait() } }
        try await waitUntil(reactor, "the first waits") { condition.waiters.count == 1 }
        let second = reactor.spawn { try await condition.withLock { try await condition.wait() } }
        try await waitUntil(reactor, "the second waits") { condition.waiters.count == 2 }
        try await condition.acquire()
        try condition.notify()
        return (condition, first, second)
    }

    func testAWaiterNotifiedAndCancelledBeforeItRanPassesTheNotificationOn() throws {
        try runReactor { reactor in
            let (condition, first, second) = try await Self.twoWaitersOneNotified(reactor)
            first.cancel()
            try condition.release()
            await assertThrows(CancellationError.self, first)
            try await second.value
            XCTAssertFalse(condition.isLocked)
        }
    }

    func testMisuseIsAClearError() throws {
        try runReactor { reactor in
            let condition = Condition()
            assertThrowsReactorError(.invalidState) { try condition.notify() }
            assertThrowsReactorError(.invalidState) { try condition.notifyAll() }
            do {
                try await condition.wait()
                XCTFail("wait() without the lock returned")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .invalidState)
            }
            try await condition.withLock {
                assertThrowsReactorError(.invalidArgument) { try condition.notify(-1) }
            }
        }
    }

    func testTwoConditionsCanShareOneLock() throws {
        try runReactor { reactor in
            let lock = Lock()
            let notEmpty = Condition(lock: lock)
            let notFull = Condition(lock: lock)
            XCTAssertTrue(notEmpty.lock === notFull.lock)
            let waiter = reactor.spawn { try await notEmpty.withLock { try await notEmpty.wait() } }
            try await waitUntil(reactor, "the waiter waits") { notEmpty.waiters.count == 1 }
            try await lock.withLock {
                try notFull.notifyAll()
                XCTAssertEqual(notEmpty.waiters.count, 1, "notifying one condition woke the other's waiter")
                try notEmpty.notify()
            }
            try await waiter.value
        }
    }

    func testACancelWhileTakingTheLockBackIsThrownAndPassesTheNotificationOn() throws {
        try runReactor { reactor in
            let (condition, first, second) = try await Self.twoWaitersOneNotified(reactor)
            // The first is notified and waits to take the lock back; it is cancelled there.
            try await waitUntil(reactor, "the first waits for the lock") { condition.lock.waiters.count == 1 }
            first.cancel()
            try condition.release()
            await assertThrows(CancellationError.self, first)
            try await second.value
            XCTAssertFalse(condition.isLocked)
        }
    }
}
