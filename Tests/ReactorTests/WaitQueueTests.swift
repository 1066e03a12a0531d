import TestSupport
import XCTest

@testable import Reactor

/// The waiter primitive: FIFO wake-ups, O(1) removal of a cancelled waiter, and a wake-up
/// that meets a cancellation passed on rather than lost.
final class WaitQueueTests: XCTestCase {
    func testWakeOneWakesInArrivalOrderAndWakeAllWakesTheRest() throws {
        try runReactor { reactor in
            let queue = WaitQueue(on: reactor)
            let order = Shared<[Int]>([])
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<5 {
                tasks.append(Task(executorPreference: reactor) {
                    try await queue.wait()
                    order.value.append(index)
                })
                try await waitUntil(reactor, "waiter \(index) parks") { queue.count == index + 1 }
            }
            XCTAssertTrue(queue.wakeOne())
            XCTAssertTrue(queue.wakeOne())
            try await tasks[0].value
            try await tasks[1].value
            XCTAssertEqual(order.value, [0, 1])
            queue.wakeAll()
            for task in tasks { try await task.value }
            XCTAssertEqual(order.value, [0, 1, 2, 3, 4])
            XCTAssertFalse(queue.wakeOne(), "woke a waiter that was not there")
        }
    }

    func testACancelledWaiterLeavesAtOnceAndTheOthersKeepTheirPlaces() throws {
        try runReactor { reactor in
            let queue = WaitQueue(on: reactor)
            let woken = Shared<[Int]>([])
            var tasks: [Task<Void, any Error>] = []
            for index in 0..<3 {
                tasks.append(Task(executorPreference: reactor) {
                    try await queue.wait()
                    woken.value.append(index)
                })
                try await waitUntil(reactor, "waiter \(index) parks") { queue.count == index + 1 }
            }
            tasks[1].cancel()
            do {
                try await tasks[1].value
                XCTFail("a cancelled waiter returned normally")
            } catch is CancellationError {}
            XCTAssertEqual(queue.count, 2)
            queue.wakeOne()
            queue.wakeOne()
            try await tasks[0].value
            try await tasks[2].value
            XCTAssertEqual(woken.value, [0, 2])
        }
    }

    func testAWaiterWokenAndCancelledAtOnceHandsTheWakeUpToTheNext() throws {
        try runReactor { reactor in
            let queue = WaitQueue(on: reactor)
            let first = Task(executorPreference: reactor) { try await queue.wait() }
            try await waitUntil(reactor, "the first waiter parks") { queue.count == 1 }
            let second = Task(executorPreference: reactor) { try await queue.wait() }
            try await waitUntil(reactor, "the second waiter parks") { queue.count == 2 }
            // In one stretch of the loop: the first is woken, then cancelled before it runs.
            queue.wakeOne()
            first.cancel()
            do {
                try await first.value
                XCTFail("a woken-and-cancelled waiter returned normally")
            } catch is CancellationError {}
            // The wake-up was not lost: the second waiter got it.
            try await reactor.withTimeout(.seconds(10)) { try await second.value }
            XCTAssertEqual(queue.count, 0)
        }
    }

    func testAnAlreadyCancelledTaskDoesNotPark() throws {
        try runReactor { reactor in
            let queue = WaitQueue(on: reactor)
            let task = Task(executorPreference: reactor) {
                withUnsafeCurrentTask { $0?.cancel() }
                try await queue.wait()
            }
            do {
                try await task.value
                XCTFail("an already-cancelled task waited")
            } catch is CancellationError {}
            XCTAssertEqual(queue.count, 0)
        }
    }

    func testWaitersResumeWithAnErrorWhenTheReactorShutsDown() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let queues = [WaitQueue(on: reactor), WaitQueue(on: reactor)]
        let outcomes = Shared<[String]>([])
        let waiters = (0..<4).map { index in
            Task(executorPreference: reactor) {
                do {
                    try await queues[index % 2].wait()
                    outcomes.value.append("woken")
                } catch let error as ReactorError {
                    outcomes.value.append("\(error.code)")
                }
            }
        }
        try await Task(executorPreference: reactor) {
            try await waitUntil(reactor, "all four park") { queues[0].count == 2 && queues[1].count == 2 }
        }.value
        await reactor.shutdown()
        for waiter in waiters { try await waiter.value }
        XCTAssertEqual(outcomes.value, Array(repeating: "shutDown", count: 4))
    }

    func testTheListReusesAFreedEntryAndAnOldTicketForItRemovesNothing() throws {
        try runReactor { reactor in
            let list = Shared(WaiterList())
            let tickets = Shared<[UInt64: WaiterList.Ticket]>([:])
            var tasks: [UInt64: Task<WaitOutcome, any Error>] = [:]
            func park(_ id: UInt64) async throws {
                tasks[id] = reactor.spawn {
                    await withUnsafeContinuation { continuation in
                        var waiters = list.value
                        tickets.value[id] = waiters.append(Waiter(continuation: continuation, id: id))
                        list.value = waiters
                    }
                }
                try await waitUntil(reactor, "waiter \(id) parks") { tickets.value[id] != nil }
            }
            for id: UInt64 in 1...3 { try await park(id) }
            // Removed from the middle; the next waiter takes its entry.
            var waiters = list.value
            let middle = try XCTUnwrap(tickets.value[2])
            waiters.remove(middle)?.continuation.resume(returning: .cancelled)
            list.value = waiters
            try await park(4)
            XCTAssertEqual(tickets.value[4]?.index, middle.index, "the freed entry was not reused")
            // The old ticket names that entry but not its new waiter.
            waiters = list.value
            XCTAssertNil(waiters.remove(middle))
            XCTAssertEqual(waiters.count, 3)
            var order: [UInt64] = []
            while let waiter = waiters.popFirst() {
                order.append(waiter.id)
                waiter.continuation.resume(returning: .ready)
            }
            XCTAssertEqual(order, [1, 3, 4])
            XCTAssertTrue(waiters.isEmpty)
            for id: UInt64 in [1, 3, 4] {
                let outcome = try await tasks[id]!.value
                XCTAssertEqual(outcome, .ready)
            }
            let removed = try await tasks[2]!.value
            XCTAssertEqual(removed, .cancelled)
        }
    }
}
