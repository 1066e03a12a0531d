import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Barrier rules (test_locks.py BarrierTests).
final class BarrierTests: XCTestCase {
    func testPartiesWaitForEachOtherAndGetEachArrivalIndexOnce() throws {
        try runReactor { reactor in
            assertThrowsReactorError(.invalidArgument) { try Barrier(parties: 0) }
            let barrier = try Barrier(parties: 3)
            var tasks: [Task<Int, any Error>] = []
            for index in 0..<2 {
                tasks.append(reactor.spawn { try await barrier.wait() })
                try await waitUntil(reactor, "task \(index) waits") { barrier.waitingCount == index + 1 }
            }
            let last = try await barrier.wait()
            var indices = [last]
            for task in tasks { indices.append(try await task.value) }
            XCTAssertEqual(indices.sorted(), [0, 1, 2])
            XCTAssertEqual(last, 2)
            XCTAssertEqual(barrier.waitingCount, 0)
        }
    }

    func testTasksThatArriveWhileItDrainsWaitForTheNextRound() throws {
        try runReactor { reactor in
            let barrier = try Barrier(parties: 2)
            let first = reactor.spawn { try await barrier.wait() }
            try await waitUntil(reactor, "the first party waits") { barrier.waitingCount == 1 }
            let go = Event()
            let late = reactor.spawn {
                try await go.wait()
                return try await barrier.wait()
            }
            try await waitUntil(reactor, "the late task waits to start") { go.waiters.count == 1 }
            // The late task is woken before the last arrival wakes the first party, so it
            // arrives while the barrier drains: it must wait for the next round, not join this one.
            go.set()
            let last = try await barrier.wait()
            XCTAssertEqual(last, 1)
            XCTAssertEqual(barrier.waitingCount, 0, "a draining barrier counts nobody as waiting")
            let firstIndex = try await first.value
            XCTAssertEqual(firstIndex, 0)
            try await waitUntil(reactor, "the late task waits in the next round") { barrier.waitingCount == 1 }
            let closing = try await barrier.wait()
            XCTAssertEqual(closing, 1)
            let lateIndex = try await late.value
            XCTAssertEqual(lateIndex, 0)
        }
    }

    func testAbortBreaksItForTheWaitersAndLaterCallsUntilReset() throws {
        try runReactor { reactor in
            let barrier = try Barrier(parties: 3)
            let waiter = reactor.spawn { try await barrier.wait() }
            try await waitUntil(reactor, "the waiter waits") { barrier.waitingCount == 1 }
            barrier.abort()
            XCTAssertTrue(barrier.isBroken)
            await assertThrows(BrokenBarrierError.self, waiter)
            await assertThrows(BrokenBarrierError.self, reactor.spawn { try await barrier.wait() })
            barrier.reset()
            XCTAssertFalse(barrier.isBroken)
            let again = (0..<3).map { _ in reactor.spawn { try await barrier.wait() } }
            for task in again { _ = try await task.value }
        }
    }

    func testResetSendsTheWaitersBackAndTheBarrierFillsAgain() throws {
        try runReactor { reactor in
            let barrier = try Barrier(parties: 3)
            let first = reactor.spawn { try await barrier.wait() }
            let second = reactor.spawn { try await barrier.wait() }
            try await waitUntil(reactor, "two wait") { barrier.waitingCount == 2 }
            barrier.reset()
            await assertThrows(BrokenBarrierError.self, first)
            await assertThrows(BrokenBarrierError.self, second)
            XCTAssertFalse(barrier.isBroken)
            let round = (0..<3).map { _ in reactor.spawn { try await barrier.wait() } }
            var indices: [Int] = []
            for task in round { indices.append(try await task.value) }
            XCTAssertEqual(indices.sorted(), [0, 1, 2])
        }
    }

    func testACancelledWaiterLeavesTheBarrier() throws {
        try runReactor { reactor in
            let barrier = try Barrier(parties: 2)
            let cancelled = reactor.spawn { try await barrier.wait() }
            try await waitUntil(reactor, "the waiter waits") { barrier.waitingCount == 1 }
            cancelled.cancel()
            await assertThrows(CancellationError.self, cancelled)
            XCTAssertEqual(barrier.waitingCount, 0)
            let other = reactor.spawn { try await barrier.wait() }
            let indexSum = try await barrier.wait() + (try await other.value)
            XCTAssertEqual(indexSum, 1)
        }
    }
}
