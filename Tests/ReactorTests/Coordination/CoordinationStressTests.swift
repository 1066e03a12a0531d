import TestSupport
import XCTest

@testable import Reactor

/// Many tasks on the primitives at once: exact counts, on one reactor and across two.
final class CoordinationStressTests: XCTestCase {
    /// A counter that only the holder of a lock touches.
    final class Counter: @unchecked Sendable {
        var value = 0
    }

    /// Each pair reads the counter, yields while holding the lock now and then (so the other
    /// tasks queue up behind it), and writes it back plus one: a lost update shows.
    private static func addUnderLock(_ lock: Lock, _ counter: Counter, pairs: Int) async throws {
        for pair in 0..<pairs {
            try await lock.withLock {
                let seen = counter.value
                if pair % 64 == 0 { await Task.yield() }
                counter.value = seen + 1
            }
        }
    }

    func testSixtyFourTasksTenThousandLockPairsEachOnOneReactor() throws {
        let total = try runReactor(timeout: .seconds(120)) { reactor in
            let lock = Lock()
            let counter = Counter()
            let tasks = (0..<64).map { _ in reactor.spawn { try await Self.addUnderLock(lock, counter, pairs: 10_000) } }
            for task in tasks { try await task.value }
            XCTAssertFalse(lock.isLocked)
            return counter.value
        }
        XCTAssertEqual(total, 64 * 10_000)
    }

    func testHalfOfTheTasksOnASecondReactor() async throws {
        let watchdog = Watchdog(seconds: 300, name)
        defer { watchdog.cancel() }
        let home = try Reactor.start()
        let other = try Reactor.start()
        let lock = Lock(on: home)
        let counter = Counter()
        let tasks = (0..<64).map { index in
            (index % 2 == 0 ? home : other).spawn { try await Self.addUnderLock(lock, counter, pairs: 10_000) }
        }
        for task in tasks { try await task.value }
        XCTAssertEqual(counter.value, 64 * 10_000)
        // A release made on the other reactor lands in the home loop's next turn.
        try await home.spawn { try await waitUntil(home, "the last release lands") { !lock.isLocked } }.value
        await other.shutdown()
        await home.shutdown()
    }

    func testFourProducersAndFourConsumersThroughABoundedQueue() throws {
        let producers = 4
        let perProducer = 100_000
        try runReactor(timeout: .seconds(120)) { reactor in
            let queue = Queue<(producer: Int, sequence: Int)>(maxSize: 64)
            let done = Shared(0)
            let consumers = (0..<4).map { _ in
                reactor.spawn {
                    var seen: [[Int]] = Array(repeating: [], count: producers)
                    for try await item in queue {
                        seen[item.producer].append(item.sequence)
                        done.value += 1
                        try queue.taskDone()
                    }
                    return seen
                }
            }
            let producing = (0..<producers).map { producer in
                reactor.spawn {
                    for sequence in 0..<perProducer { try await queue.put((producer, sequence)) }
                }
            }
            for task in producing { try await task.value }
            try await queue.join()
            XCTAssertEqual(done.value, producers * perProducer, "join() returned before the last taskDone()")
            queue.shutdown()
            var merged: [[Int]] = Array(repeating: [], count: producers)
            for consumer in consumers {
                let seen = try await consumer.value
                for producer in 0..<producers {
                    // Each consumer sees one producer's items in the order they were put.
                    XCTAssertEqual(seen[producer], seen[producer].sorted(), "out of order")
                    merged[producer] += seen[producer]
                }
            }
            for producer in 0..<producers {
                XCTAssertEqual(merged[producer].sorted(), Array(0..<perProducer), "an item was lost or seen twice")
            }
        }
    }
}
