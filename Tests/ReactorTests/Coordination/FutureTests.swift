import Foundation
import TestSupport
import XCTest

@testable import Reactor

/// asyncio's Future rules (test_futures.py): one result, any number of awaiters, done
/// callbacks, cancellation of the future and of an awaiter.
final class FutureTests: XCTestCase {
    func testEveryAwaiterGetsTheResultAndASecondSetIsAnError() throws {
        try runReactor { reactor in
            let future = Future<Int>()
            assertThrowsReactorError(.invalidState) { try future.result() }
            let awaiters = (0..<3).map { _ in reactor.spawn { try await future.value() } }
            try await waitUntil(reactor, "the awaiters park") { future.waiters.count == 3 }
            try future.setResult(42)
            XCTAssertTrue(future.isDone)
            for awaiter in awaiters {
                let value = try await awaiter.value
                XCTAssertEqual(value, 42)
            }
            XCTAssertEqual(try future.result(), 42)
            let again = try await future.value()
            XCTAssertEqual(again, 42)
            assertThrowsReactorError(.invalidState) { try future.setResult(43) }
            assertThrowsReactorError(.invalidState) { try future.setError(TestFailure("late")) }
            XCTAssertFalse(future.cancel())
        }
    }

    func testAnErrorReachesEveryAwaiter() throws {
        try runReactor { reactor in
            let future = Future<Int>()
            let awaiter = reactor.spawn { try await future.value() }
            try await waitUntil(reactor, "the awaiter parks") { future.waiters.count == 1 }
            try future.setError(TestFailure("boom"))
            await assertThrows(TestFailure.self, awaiter)
            XCTAssertThrowsError(try future.result()) { XCTAssertTrue($0 is TestFailure) }
        }
    }

    func testCancellingTheFutureWakesItsAwaitersWithCancellation() throws {
        try runReactor { reactor in
            let future = Future<Int>()
            let awaiter = reactor.spawn { try await future.value() }
            try await waitUntil(reactor, "the awaiter parks") { future.waiters.count == 1 }
            XCTAssertTrue(future.cancel())
            XCTAssertTrue(future.isCancelled)
            await assertThrows(CancellationError.self, awaiter)
            assertThrowsReactorError(.invalidState) { try future.setResult(1) }
        }
    }

    func testACancelledAwaiterLeavesTheFutureAsItWas() throws {
        try runReactor { reactor in
            let future = Future<Int>()
            let cancelled = reactor.spawn { try await future.value() }
            let kept = reactor.spawn { try await future.value() }
            try await waitUntil(reactor, "both park") { future.waiters.count == 2 }
            cancelled.cancel()
            await assertThrows(CancellationError.self, cancelled)
            XCTAssertFalse(future.isDone)
            XCTAssertFalse(future.isCancelled)
            try future.setResult(5)
            let value = try await kept.value
            XCTAssertEqual(value, 5)
        }
    }

    func testDoneCallbacksRunOnTheLoopInALaterTurnAndCanBeRemoved() throws {
        try runReactor { reactor in
            let future = Future<String>()
            let calls = Shared<[String]>([])
            let allRan = Event()
            future.addDoneCallback { future in
                XCTAssertTrue(reactor.isOnLoopThread)
                calls.value.append("first: \((try? future.result()) ?? "?")")
            }
            let removed = future.addDoneCallback { _ in calls.value.append("removed") }
            future.removeDoneCallback(removed)
            future.addDoneCallback { _ in calls.value.append("second") }
            try future.setResult("done")
            XCTAssertEqual(calls.value, [], "a callback ran inside setResult")
            // Added once done: scheduled at once.
            future.addDoneCallback { _ in
                calls.value.append("late")
                allRan.set()
            }
            try await allRan.wait()
            XCTAssertEqual(calls.value, ["first: done", "second", "late"])
        }
    }

    func testDoneCallbacksRunAlsoWhenTheFutureIsCancelledOrFails() throws {
        try runReactor { reactor in
            let cancelled = Future<Int>()
            let failed = Future<Int>()
            let seen = Shared<[String]>([])
            let bothRan = Event()
            @Sendable func record(_ entry: String) {
                seen.value.append(entry)
                if seen.value.count == 2 { bothRan.set() }
            }
            cancelled.addDoneCallback { future in record("cancelled: \(future.isCancelled)") }
            failed.addDoneCallback { future in
                do {
                    _ = try future.result()
                    record("failed: no error")
                } catch {
                    record("failed: \(error)")
                }
            }
            XCTAssertTrue(cancelled.cancel())
            XCTAssertFalse(cancelled.cancel(), "a second cancel() reported success")
            try failed.setError(TestFailure("broken"))
            try await bothRan.wait()
            XCTAssertEqual(seen.value, ["cancelled: true", "failed: broken"])
        }
    }

    func testAResultSetOnAnotherThreadWakesTheAwaiterAndOnlyOneSetWins() throws {
        try runReactor { reactor in
            let future = Future<Int>()
            let awaiter = reactor.spawn { try await future.value() }
            try await waitUntil(reactor, "the awaiter parks") { future.waiters.count == 1 }
            let wins = LockedValue(0)
            let threads = (0..<4).map { index in
                Thread {
                    if (try? future.setResult(index)) != nil {
                        wins.withLock { $0 += 1 }
                        // Done at once on the thread that set it.
                        if !future.isDone || (try? future.result()) != index { wins.withLock { $0 += 100 } }
                    }
                }
            }
            for thread in threads { thread.start() }
            let value = try await awaiter.value
            XCTAssertTrue((0..<4).contains(value))
            try await waitUntil(reactor, "every thread tried") { threads.allSatisfy(\.isFinished) }
            XCTAssertEqual(wins.withLock { $0 }, 1)
            XCTAssertEqual(try future.result(), value)
        }
    }

    func testAResultSetFromAnotherThreadWhileTheReactorShutsDownIsSafe() async throws {
        let watchdog = Watchdog(seconds: 120, name)
        defer { watchdog.cancel() }
        for _ in 0..<100 {
            let reactor = try Reactor.start()
            let future = Future<Int>(on: reactor)
            let awaiter = reactor.spawn { try await future.value() }
            let thread = Thread { try! future.setResult(1) }
            thread.start()
            await reactor.shutdown()
            // Either it got the result or the reactor's shutdown came first.
            do {
                let value = try await awaiter.value
                XCTAssertEqual(value, 1)
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .shutDown)
            }
            // Set on the thread at once, whatever the loop was doing.
            let deadline = ContinuousClock.now + .seconds(20)
            while !thread.isFinished && ContinuousClock.now < deadline { await Task.yield() }
            XCTAssertTrue(thread.isFinished)
            XCTAssertTrue(future.isDone)
            XCTAssertEqual(try future.result(), 1)
        }
    }
}
