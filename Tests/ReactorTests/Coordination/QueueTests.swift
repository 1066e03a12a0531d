import Foundation
import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Queue rules (CPython's test_queues.py): order, bounds, waiting put and get,
/// cancellation, task_done / join, shutdown (3.13), and the AsyncSequence view.
final class QueueTests: XCTestCase {
    func testTheThreeKindsTakeItemsInTheirOrder() throws {
        try runReactor { reactor in
            let fifo = Queue<Int>()
            let lifo = LifoQueue<Int>()
            let priority = PriorityQueue<Int>()
            for item in [3, 1, 4, 1, 5, 9, 2, 6] {
                try fifo.putNowait(item)
                try lifo.putNowait(item)
                try priority.putNowait(item)
            }
            XCTAssertEqual(try (0..<8).map { _ in try fifo.getNowait() }, [3, 1, 4, 1, 5, 9, 2, 6])
            XCTAssertEqual(try (0..<8).map { _ in try lifo.getNowait() }, [6, 2, 9, 5, 1, 4, 1, 3])
            XCTAssertEqual(try (0..<8).map { _ in try priority.getNowait() }, [1, 1, 2, 3, 4, 5, 6, 9])
            let byKey = PriorityQueue<(priority: Int, name: String)>(by: { $0.priority < $1.priority })
            try byKey.putNowait((2, "later"))
            try byKey.putNowait((1, "first"))
            try byKey.putNowait((3, "last"))
            XCTAssertEqual(try (0..<3).map { _ in try byKey.getNowait().name }, ["first", "later", "last"])
        }
    }

    func testPriorityOrderHoldsForManyItems() throws {
        try runReactor { reactor in
            let queue = PriorityQueue<UInt64>()
            var generator = SeededGenerator(seed: 9)
            let items = (0..<2000).map { _ in generator.next() % 500 }
            for item in items { try queue.putNowait(item) }
            var taken: [UInt64] = []
            while !queue.isEmpty { taken.append(try queue.getNowait()) }
            XCTAssertEqual(taken, items.sorted())
        }
    }

    func testBoundsFullAndEmptyAndZeroMeansUnbounded() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 2)
            XCTAssertThrowsError(try queue.getNowait()) { XCTAssertTrue($0 is QueueEmpty) }
            try queue.putNowait(1)
            try queue.putNowait(2)
            XCTAssertTrue(queue.isFull)
            XCTAssertEqual(queue.count, 2)
            XCTAssertThrowsError(try queue.putNowait(3)) { XCTAssertTrue($0 is QueueFull) }
            let unbounded = Queue<Int>(maxSize: 0)
            for item in 0..<10_000 { try await unbounded.put(item) }
            XCTAssertFalse(unbounded.isFull)
            XCTAssertEqual(unbounded.count, 10_000)
        }
    }

    func testPutWaitsWhileFullAndGetWaitsWhileEmpty() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 1)
            try await queue.put(1)
            let putter = reactor.spawn { try await queue.put(2) }
            try await waitUntil(reactor, "the putter waits") { queue.putters.count == 1 }
            let firstItem = try await queue.get()
            XCTAssertEqual(firstItem, 1)
            try await putter.value
            let secondItem = try await queue.get()
            XCTAssertEqual(secondItem, 2)
            let getter = reactor.spawn { try await queue.get() }
            try await waitUntil(reactor, "the getter waits") { queue.getters.count == 1 }
            try await queue.put(3)
            let thirdItem = try await getter.value
            XCTAssertEqual(thirdItem, 3)
        }
    }

    func testAGetCancelledAsAnItemArrivesLeavesTheItemForTheNextGetter() throws {
        try runReactor { reactor in
            let queue = Queue<Int>()
            let first = reactor.spawn { try await queue.get() }
            try await waitUntil(reactor, "the first getter waits") { queue.getters.count == 1 }
            let second = reactor.spawn { try await queue.get() }
            try await waitUntil(reactor, "the second getter waits") { queue.getters.count == 2 }
            // In one stretch: the item wakes the first getter, which is cancelled before it runs.
            try queue.putNowait(7)
            first.cancel()
            await assertThrows(CancellationError.self, first)
            let item = try await second.value
            XCTAssertEqual(item, 7)
            XCTAssertTrue(queue.isEmpty)
        }
    }

    func testAPutCancelledAsRoomAppearsLeavesTheRoomForTheNextPutter() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 1)
            try queue.putNowait(0)
            let first = reactor.spawn { try await queue.put(1) }
            try await waitUntil(reactor, "the first putter waits") { queue.putters.count == 1 }
            let second = reactor.spawn { try await queue.put(2) }
            try await waitUntil(reactor, "the second putter waits") { queue.putters.count == 2 }
            XCTAssertEqual(try queue.getNowait(), 0)
            first.cancel()
            await assertThrows(CancellationError.self, first)
            try await second.value
            XCTAssertEqual(try queue.getNowait(), 2)
        }
    }

    func testJoinReturnsAfterTheLastTaskDoneAndTooManyIsAnError() throws {
        try runReactor { reactor in
            let queue = Queue<Int>()
            try await queue.join()  // nothing pending
            for item in 0..<3 { try queue.putNowait(item) }
            let joiner = reactor.spawn { try await queue.join() }
            try await waitUntil(reactor, "the joiner waits") { queue.joiners.count == 1 }
            for _ in 0..<3 { _ = try queue.getNowait() }
            try queue.taskDone()
            try queue.taskDone()
            XCTAssertEqual(queue.joiners.count, 1, "join returned before the last taskDone")
            try queue.taskDone()
            try await joiner.value
            assertThrowsReactorError(.invalidState) { try queue.taskDone() }
        }
    }

    func testTaskDoneOffTheLoopLandsInTheNextTurnAndALateOneTooManyIsLogged() throws {
        let logs = LogCapture()
        try runReactor(configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let queue = Queue<Int>()
            try queue.putNowait(1)
            _ = try queue.getNowait()
            let joiner = reactor.spawn { try await queue.join() }
            try await waitUntil(reactor, "the joiner waits") { queue.joiners.count == 1 }
            // Both pass the check at the call (one task is unfinished), and the loop finds the
            // second one too many.
            let accepted = callTwiceFromAPlainThread { try queue.taskDone() }
            XCTAssertEqual(queue.unfinishedTasks, 1, "a taskDone made off the loop ran before the loop's next turn")
            try await waitUntil(reactor, "the one too many is logged") { logs.contains(.error, Queue<Int>.tooManyTaskDones) }
            XCTAssertEqual(accepted, [true, true])
            XCTAssertEqual(queue.unfinishedTasks, 0, "the count went below zero")
            try await joiner.value
        }
    }

    func testShutdownWakesTheWaitersAndGetDrainsWhatIsLeft() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 1)
            let empty = Queue<Int>()
            let getter = reactor.spawn { try await empty.get() }
            try queue.putNowait(1)
            let putter = reactor.spawn { try await queue.put(2) }
            try await waitUntil(reactor, "both wait") { empty.getters.count == 1 && queue.putters.count == 1 }
            empty.shutdown()
            queue.shutdown()
            await assertThrows(QueueShutDown.self, getter)
            await assertThrows(QueueShutDown.self, putter)
            XCTAssertThrowsError(try queue.putNowait(3)) { XCTAssertTrue($0 is QueueShutDown) }
            let left = try await queue.get()
            XCTAssertEqual(left, 1)
            do {
                _ = try await queue.get()
                XCTFail("get() on a shut-down, empty queue returned")
            } catch is QueueShutDown {}
            XCTAssertThrowsError(try queue.getNowait()) { XCTAssertTrue($0 is QueueShutDown) }
        }
    }

    func testAnImmediateShutdownDropsTheItemsAndReleasesJoin() throws {
        try runReactor { reactor in
            let queue = Queue<Int>()
            for item in 0..<5 { try queue.putNowait(item) }
            _ = try queue.getNowait()
            let joiner = reactor.spawn { try await queue.join() }
            try await waitUntil(reactor, "the joiner waits") { queue.joiners.count == 1 }
            queue.shutdown(immediate: true)
            XCTAssertTrue(queue.isEmpty)
            // One item was taken and not marked done: join still waits for it.
            XCTAssertEqual(queue.unfinishedTasks, 1)
            try queue.taskDone()
            try await joiner.value
        }
    }

    func testAnImmediateShutdownReleasesJoinAtOnceWhenOnlyDroppedItemsWereUnfinished() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 2)
            let empty = Queue<Int>()
            try queue.putNowait(1)
            try queue.putNowait(2)
            let putter = reactor.spawn { try await queue.put(3) }
            let joiner = reactor.spawn { try await queue.join() }
            let getter = reactor.spawn { try await empty.get() }
            try await waitUntil(reactor, "the putter, the joiner and the getter wait") {
                queue.putters.count == 1 && queue.joiners.count == 1 && empty.getters.count == 1
            }
            queue.shutdown(immediate: true)
            empty.shutdown(immediate: true)
            // No taskDone(): the two dropped items were all that join waited for.
            try await waitUntil(reactor, "join is released") { queue.joiners.count == 0 }
            try await joiner.value
            XCTAssertEqual(queue.unfinishedTasks, 0)
            await assertThrows(QueueShutDown.self, putter)
            await assertThrows(QueueShutDown.self, getter)
            // Not full now, and still refused, as put and as putNowait.
            XCTAssertFalse(queue.isFull)
            do {
                try await queue.put(4)
                XCTFail("put() on a shut-down queue returned")
            } catch is QueueShutDown {}
            XCTAssertThrowsError(try queue.putNowait(4)) { XCTAssertTrue($0 is QueueShutDown) }
            XCTAssertTrue(queue.isEmpty)
        }
    }

    func testIteratingEndsWhenTheQueueIsShutDownAndEmpty() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 4)
            let consumer = reactor.spawn {
                var seen: [Int] = []
                for try await item in queue {
                    seen.append(item)
                    try queue.taskDone()
                }
                return seen
            }
            for item in 0..<10 { try await queue.put(item) }
            try await queue.join()
            queue.shutdown()
            let seen = try await consumer.value
            XCTAssertEqual(seen, Array(0..<10))
        }
    }

    func testAnotherReactorFeedsTheQueue() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let consumerReactor = try Reactor.start()
        let producerReactor = try Reactor.start()
        let queue = Queue<Int>(maxSize: 8, on: consumerReactor)
        let consumer = consumerReactor.spawn {
            var seen: [Int] = []
            for try await item in queue { seen.append(item) }
            return seen
        }
        try await producerReactor.spawn {
            for item in 0..<1000 { try await queue.put(item) }
            // Refused here: this loop must not block on the other.
            assertThrowsReactorError(.wrongReactor) { try queue.putNowait(-1) }
            queue.shutdown()
        }.value
        let seen = try await consumer.value
        XCTAssertEqual(seen, Array(0..<1000))
        await producerReactor.shutdown()
        await consumerReactor.shutdown()
    }

    func testTheNowaitFormsFromAThreadThatRunsNoReactorWaitForTheLoop() throws {
        try runReactor { reactor in
            let queue = Queue<Int>(maxSize: 1)
            let results = Shared<[String]>([])
            let done = Event()
            let thread = Thread {
                func attempt(_ body: () throws -> Int) -> String {
                    do { return "\(try body())" } catch { return "\(type(of: error))" }
                }
                results.value.append(attempt { try queue.putNowait(1); return 1 })
                results.value.append(attempt { try queue.putNowait(2); return 2 })
                results.value.append(attempt { try queue.getNowait() })
                results.value.append(attempt { try queue.getNowait() })
                done.set()
            }
            thread.start()
            try await done.wait()
            XCTAssertEqual(results.value, ["1", "QueueFull", "1", "QueueEmpty"])
        }
    }
}
