import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Semaphore and BoundedSemaphore rules (test_locks.py SemaphoreTests), including
/// the starvation fix of bpo-45997.
final class SemaphoreTests: XCTestCase {
    func testPermitsAreCountedAndANegativeValueIsAnError() throws {
        try runReactor { reactor in
            assertThrowsReactorError(.invalidArgument) { try Semaphore(value: -1) }
            assertThrowsReactorError(.invalidArgument) { try BoundedSemaphore(value: -1) }
            let semaphore = try Semaphore(value: 2)
            try await semaphore.acquire()
            XCTAssertFalse(semaphore.isLocked)
            try await semaphore.acquire()
            XCTAssertTrue(semaphore.isLocked)
            XCTAssertEqual(semaphore.value, 0)
            try semaphore.release()
            try semaphore.release()
            // An unbounded semaphore may be released above its start, as in asyncio.
            try semaphore.release()
            XCTAssertEqual(semaphore.value, 3)
        }
    }

    func testAReleaseHandsThePermitToTheFirstWaiterNotToANewcomer() throws {
        try runReactor { reactor in
            let semaphore = try Semaphore(value: 1)
            let order = Shared<[Int]>([])
            try await semaphore.acquire()
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<3 {
                tasks.append(reactor.spawn {
                    try await semaphore.withPermit { order.value.append(index) }
                })
                try await waitUntil(reactor, "waiter \(index) waits") { semaphore.waiters.count == index + 1 }
            }
            try semaphore.release()
            // bpo-45997: the permit went to waiter 0; a task asking now waits behind the others.
            XCTAssertTrue(semaphore.isLocked)
            let newcomer = reactor.spawn { try await semaphore.withPermit { order.value.append(99) } }
            for task in tasks { try await task.value }
            try await newcomer.value
            XCTAssertEqual(order.value, [0, 1, 2, 99])
            XCTAssertEqual(semaphore.value, 1)
        }
    }

    func testAWaiterCancelledAsThePermitIsHandedToItPassesItOn() throws {
        try runReactor { reactor in
            let semaphore = try Semaphore(value: 0)
            let first = reactor.spawn { try await semaphore.acquire() }
            try await waitUntil(reactor, "the first waits") { semaphore.waiters.count == 1 }
            let second = reactor.spawn { try await semaphore.acquire() }
            try await waitUntil(reactor, "the second waits") { semaphore.waiters.count == 2 }
            try semaphore.release()
            first.cancel()
            await assertThrows(CancellationError.self, first)
            try await second.value
            XCTAssertEqual(semaphore.value, 0, "a permit was lost or made up")
            try semaphore.release()
            XCTAssertEqual(semaphore.value, 1)
        }
    }

    func testWithPermitGivesThePermitBackWhenTheBodyThrowsIsCancelledOrWaitedForIt() throws {
        try runReactor { reactor in
            let semaphore = try Semaphore(value: 1)
            do {
                try await semaphore.withPermit { throw TestFailure("inside") }
                XCTFail("withPermit swallowed the error")
            } catch is TestFailure {}
            XCTAssertEqual(semaphore.value, 1)

            let entered = Event()
            let never = Event()
            let holder = reactor.spawn {
                try await semaphore.withPermit {
                    entered.set()
                    try await never.wait()
                }
            }
            try await entered.wait()
            // This one waits for the permit, then throws holding it.
            let waiter = reactor.spawn { try await semaphore.withPermit { throw TestFailure("after the wait") } }
            try await waitUntil(reactor, "the second task waits") { semaphore.waiters.count == 1 }
            holder.cancel()
            await assertThrows(CancellationError.self, holder)
            await assertThrows(TestFailure.self, waiter)
            XCTAssertEqual(semaphore.value, 1, "a permit was lost or made up")

            // From a task that is not on the reactor the scoped form hops, and still gives back.
            let answer = try await Task.detached { try await semaphore.withPermit { 42 } }.value
            XCTAssertEqual(answer, 42)
            XCTAssertEqual(semaphore.value, 1)
        }
    }

    func testABoundedSemaphoreRefusesAReleaseAboveItsStart() throws {
        try runReactor { reactor in
            let semaphore = try BoundedSemaphore(value: 2)
            assertThrowsReactorError(.invalidState) { try semaphore.release() }
            try await semaphore.acquire()
            try semaphore.release()
            assertThrowsReactorError(.invalidState) { try semaphore.release() }
            XCTAssertEqual(semaphore.value, 2)
            do {
                try await semaphore.withPermit { throw TestFailure("inside") }
            } catch is TestFailure {}
            XCTAssertEqual(semaphore.value, 2)
        }
    }
}
