import Synchronization
import TestSupport
import XCTest

@testable import Reactor

/// The loop's ready queue: first in first out across its wrap and its growth, and what it
/// still holds is released with it.
final class ReadyQueueTests: XCTestCase {
    /// Each item a callback that records its number when run.
    private final class Log {
        var numbers: [Int] = []
    }

    private func item(_ number: Int, _ log: Log) -> ReadyWork {
        .callback { log.numbers.append(number) }
    }

    private func runAll(_ queue: inout ReadyQueue) {
        while let work = queue.popFirst() {
            guard case .callback(let callback) = work else { return XCTFail("not a callback") }
            callback()
        }
    }

    func testItemsComeOutInOrderAcrossTheWrapAndTheGrowth() {
        let log = Log()
        var queue = ReadyQueue()
        // Past the start, so that the items wrap before the queue grows.
        for number in 0..<50 { queue.append(item(number, log)) }
        for _ in 0..<30 {
            guard case .callback(let callback) = queue.popFirst() else { return XCTFail("empty too soon") }
            callback()
        }
        for number in 50..<1_000 { queue.append(item(number, log)) }
        XCTAssertEqual(queue.count, 970)
        runAll(&queue)
        XCTAssertTrue(queue.isEmpty)
        XCTAssertNil(queue.popFirst())
        XCTAssertEqual(log.numbers, Array(0..<1_000))
    }

    func testWhatTheQueueStillHoldsIsReleasedWithIt() {
        final class Captured {}
        weak var popped: Captured?
        weak var first: Captured?
        weak var wrapped: Captured?
        do {
            var queue = ReadyQueue()
            let log = Log()
            do {
                let taken = Captured()
                popped = taken
                queue.append(.callback { _ = taken })
            }
            // Taken out and dropped: the queue keeps no copy of it.
            _ = queue.popFirst()
            XCTAssertNil(popped)
            for number in 0..<60 { queue.append(item(number, log)) }
            queue.append(contentsOf: (60..<80).map { item($0, log) })
            for _ in 0..<40 { _ = queue.popFirst() }
            let early = Captured()
            first = early
            queue.append(.callback { _ = early })
            // Enough to wrap past the end of the storage (128 by now, its head at 41).
            for number in 0..<50 { queue.append(item(number, log)) }
            let late = Captured()
            wrapped = late
            queue.append(.callback { _ = late })
        }
        XCTAssertNil(first)
        XCTAssertNil(wrapped)
    }

    /// Callbacks queued on the loop faster than it runs them: the queue grows, wherever its
    /// head happens to be, and every one runs once, in order.
    func testTheLoopRunsCallbacksQueuedInABurstInOrder() throws {
        let (onLoop, order) = try runReactor { reactor in
            let onLoop = reactor.isOnLoopThread
            let ran = Mutex<[Int]>([])
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                for number in 0..<5_000 {
                    reactor.callSoonThreadsafe {
                        ran.withLock { $0.append(number) }
                        if number == 4_999 { done.resume() }
                    }
                }
            }
            return (onLoop, ran.withLock { $0 })
        }
        XCTAssertTrue(onLoop, "the callbacks were queued from the loop thread, into its ready queue")
        XCTAssertEqual(order, Array(0..<5_000))
    }
}
