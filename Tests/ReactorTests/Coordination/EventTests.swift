import Dispatch
import Foundation
import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Event rules (test_locks.py EventTests).
final class EventTests: XCTestCase {
    func testSetWakesEveryWaiterAndAWaitOnASetEventReturnsAtOnce() throws {
        try runReactor { reactor in
            let event = Event()
            XCTAssertFalse(event.isSet)
            let woken = Shared(0)
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<3 {
                tasks.append(reactor.spawn {
                    try await event.wait()
                    woken.value += 1
                })
                try await waitUntil(reactor, "waiter \(index) parks") { event.waiters.count == index + 1 }
            }
            event.set()
            XCTAssertTrue(event.isSet)
            for task in tasks { try await task.value }
            XCTAssertEqual(woken.value, 3)
            try await event.wait()
            event.clear()
            XCTAssertFalse(event.isSet)
            let late = reactor.spawn { try await event.wait() }
            try await waitUntil(reactor, "a wait after clear() parks") { event.waiters.count == 1 }
            event.set()
            try await late.value
        }
    }

    func testWaitersWokenBySetReturnEvenIfClearCameBeforeTheyRan() throws {
        try runReactor { reactor in
            let event = Event()
            let waiter = reactor.spawn { try await event.wait() }
            try await waitUntil(reactor, "the waiter parks") { event.waiters.count == 1 }
            event.set()
            event.clear()
            try await waiter.value
            XCTAssertFalse(event.isSet)
        }
    }

    func testACancelledWaiterLeavesAndTheOthersStillWake() throws {
        try runReactor { reactor in
            let event = Event()
            let cancelled = reactor.spawn { try await event.wait() }
            let kept = reactor.spawn { try await event.wait() }
            try await waitUntil(reactor, "both park") { event.waiters.count == 2 }
            cancelled.cancel()
            await assertThrows(CancellationError.self, cancelled)
            XCTAssertEqual(event.waiters.count, 1)
            event.set()
            try await kept.value
        }
    }

    func testSetFromAThreadThatRunsNoReactorWakesTheWaiters() throws {
        try runReactor { reactor in
            let event = Event()
            let waiter = reactor.spawn { try await event.wait() }
            try await waitUntil(reactor, "the waiter parks") { event.waiters.count == 1 }
            let thread = Thread { event.set() }
            thread.start()
            try await waiter.value
            XCTAssertTrue(event.isSet)
        }
    }

    func testSetThenClearFromAnotherThreadWakesNoLaterWaiter() throws {
        try runReactor { reactor in
            let event = Event()
            let landed = Event()
            // Made while the loop is held up, so all three land in one later turn, in order.
            let made = DispatchSemaphore(value: 0)
            let thread = Thread {
                event.set()
                event.clear()
                landed.set()
                made.signal()
            }
            thread.start()
            XCTAssertEqual(made.wait(timeout: .now() + 20), .success)
            try await landed.wait()
            XCTAssertFalse(event.isSet)
            let late = reactor.spawn { try await event.wait() }
            try await waitUntil(reactor, "the late waiter parks") { event.waiters.count == 1 }
            for _ in 0..<100 { await Task.yield() }
            XCTAssertEqual(event.waiters.count, 1, "a set() that was cleared before the wait woke it")
            event.set()
            try await late.value
        }
    }
}
