import TestSupport
import XCTest

@testable import Reactor

final class TimerTests: XCTestCase {
    func testCallbacksFireInDeadlineOrderAndCancelledOnesDoNot() throws {
        let order = try runReactor { reactor in
            let (fired, continuation) = AsyncStream<String>.makeStream()
            reactor.callLater(.milliseconds(30)) { continuation.yield("30ms"); continuation.finish() }
            reactor.callLater(.milliseconds(10)) { continuation.yield("10ms first") }
            let cancelled = reactor.callLater(.milliseconds(15)) { continuation.yield("cancelled") }
            reactor.callLater(.milliseconds(20)) { continuation.yield("20ms") }
            reactor.callLater(.milliseconds(10)) { continuation.yield("10ms second") }
            reactor.callLater(.zero) { continuation.yield("now") }
            XCTAssertTrue(reactor.cancelTimer(cancelled))
            XCTAssertFalse(reactor.cancelTimer(cancelled), "a timer was cancelled twice")
            var order: [String] = []
            for await label in fired { order.append(label) }
            return order
        }
        XCTAssertEqual(order, ["now", "10ms first", "10ms second", "20ms", "30ms"])
    }

    func testSleepNeverWakesBeforeItsDeadline() throws {
        let elapsed = try runReactor { reactor in
            let start = ContinuousClock.now
            try await reactor.sleep(for: .milliseconds(50))
            return ContinuousClock.now - start
        }
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(50))
    }

    func testCancelledSleepResumesPromptly() throws {
        try runReactor { reactor in
            let timersBefore = try await timersOfRunReactor(reactor)
            let sleeper = Task(executorPreference: reactor) { try await reactor.sleep(for: .seconds(30)) }
            try await waitUntil(reactor, "the sleeper's timer is scheduled") { reactor.timers.count > timersBefore }
            // Thirty seconds is past runReactor's timeout: only the cancellation can end it.
            sleeper.cancel()
            await XCTAssertThrowsCancellation(try await sleeper.value)
            XCTAssertEqual(reactor.timers.count, timersBefore, "the cancelled sleep left its timer behind")
        }
    }

    func testWithTimeoutCancelsARecvThatNeverCompletes() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let timersBefore = try await timersOfRunReactor(reactor)
            let start = ContinuousClock.now
            do {
                _ = try await reactor.withTimeout(.milliseconds(50)) {
                    try await reactor.sockRecv(server, maxBytes: 10)
                }
                XCTFail("recv returned without data")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .timedOut)
                XCTAssertTrue(error.message.contains("0.05 seconds"), error.message)
            }
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(50))
            XCTAssertFalse(reactor.isWaiting(server, .read), "the timed-out recv left its waiter behind")
            // A result that arrives in time is returned, and its timer does not linger.
            try await reactor.sockSendall(client, [9])
            let received = try await reactor.withTimeout(.seconds(5)) { try await reactor.sockRecv(server, maxBytes: 10) }
            XCTAssertEqual(received, [9])
            XCTAssertEqual(reactor.timers.count, timersBefore, "withTimeout left its timer behind")
        }
    }

    func testAnIdleReactorsLoopThreadIsFoundAsleep() throws {
        let asleep = try runReactor { reactor in
            try await LoopSleepProbe(reactor).asleepShare { try await reactor.sleep(for: .milliseconds(300)) }
        }
        XCTAssertGreaterThan(asleep, 0.9, "the idle loop was found running")
    }

    func testTimerHeapMatchesASortedModelUnderRandomScheduleAndCancel() {
        var heap = TimerHeap()
        var model: [(deadline: Int64, id: Int)] = []  // what should be pending, in firing order
        var handles: [Int: TimerHandle] = [:]
        var generator = SeededGenerator(seed: 7)
        var fired: [Int] = []
        var nextID = 0
        for _ in 0..<5000 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<5:
                let deadline = Int64.random(in: 0..<1000, using: &generator)
                let id = nextID
                nextID += 1
                handles[id] = heap.schedule(at: deadline, .callback { fired.append(id) })
                let position = model.firstIndex { $0.deadline > deadline } ?? model.count
                model.insert((deadline, id), at: position)
            case 5..<7:
                guard let victim = model.randomElement(using: &generator) else { continue }
                XCTAssertNotNil(heap.cancel(handles[victim.id]!))
                XCTAssertNil(heap.cancel(handles[victim.id]!), "cancelled twice")
                model.removeAll { $0.id == victim.id }
            default:
                let now = Int64.random(in: 0..<1000, using: &generator)
                let expected = model.prefix { $0.deadline <= now }.map(\.id)
                model.removeFirst(expected.count)
                fired.removeAll()
                while case .callback(let callback) = heap.popExpired(now: now) { callback() }
                XCTAssertEqual(fired, expected)
            }
            XCTAssertEqual(heap.nextDeadline, model.first?.deadline)
        }
    }
}

/// runReactor's own timeout is one timer, scheduled by a child task: waits for it.
private func timersOfRunReactor(_ reactor: Reactor) async throws -> Int {
    try await waitUntil(reactor, "runReactor's timeout is scheduled") { reactor.timers.count == 1 }
    return 1
}
