import CTestSupport
import Foundation
import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// Signals as a sequence over a signalfd. Only SIGUSR1 and SIGUSR2 are sent, to this process,
/// and only while a sequence takes them (their default action would end the test run).
final class SignalTests: XCTestCase {
    override func tearDown() {
        // Whatever a test did, the next one starts from the defaults.
        signal(SIGUSR1, SIG_DFL)
        signal(SIGUSR2, SIG_DFL)
    }

    func testASignalSentToTheProcessArrivesInTheSequence() throws {
        try runReactor { reactor in
            let signals = try reactor.signals(SIGUSR1, SIGUSR2)
            XCTAssertEqual(signals.signals, [SIGUSR1, SIGUSR2])
            XCTAssertEqual(ct_signal_disposition(SIGUSR1), 2, "a handler is installed")
            XCTAssertEqual(ct_thread_blocks_signal(SIGUSR1), 1, "the loop thread blocks it")
            kill(getpid(), SIGUSR2)
            let first = try await reactor.withTimeout(.seconds(10)) { await nextSignal(signals) }
            XCTAssertEqual(first, SIGUSR2)
            kill(getpid(), SIGUSR1)
            let second = try await reactor.withTimeout(.seconds(10)) { await nextSignal(signals) }
            XCTAssertEqual(second, SIGUSR1)
            signals.finish()
            let end = await nextSignal(signals)
            XCTAssertNil(end, "a finished sequence ends")
            XCTAssertEqual(ct_signal_disposition(SIGUSR1), 0, "the default action is back")
            XCTAssertEqual(ct_signal_disposition(SIGUSR2), 0)
            XCTAssertEqual(ct_thread_blocks_signal(SIGUSR1), 0, "the loop thread's mask is as it was")
        }
    }

    func testASignalThatLandsOnAnotherThreadIsSentOnToTheLoop() throws {
        // A thread that runs already, and does not block the signal: it receives it, directed
        // at it alone, and the handler there sends it on to the loop thread.
        let go = DispatchSemaphore(value: 0)
        let sent = DispatchSemaphore(value: 0)
        let blockedThere = LockedValue<Int32>(-1)
        let thread = Thread {
            go.wait()
            blockedThere.withLock { $0 = ct_thread_blocks_signal(SIGUSR1) }
            pthread_kill(pthread_self(), SIGUSR1)
            sent.signal()
        }
        thread.start()
        try runReactor { reactor in
            let signals = try reactor.signals(SIGUSR1)
            go.signal()
            let arrived = try await reactor.withTimeout(.seconds(10)) { await nextSignal(signals) }
            XCTAssertEqual(arrived, SIGUSR1)
        }
        XCTAssertEqual(sent.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(blockedThere.withLock { $0 }, 0, "the other thread did not block the signal")
    }

    func testEveryReactorThatAsksForASignalReceivesEachDelivery() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let first = try Reactor.start()
        let second = try Reactor.start()
        // From this task, on no reactor: each call waits for its reactor's loop.
        let firstSignals = try first.signals(SIGUSR1)
        let secondSignals = try second.signals(SIGUSR1)
        let firstArrived = Task(executorPreference: first) {
            var arrivals = firstSignals.makeAsyncIterator()
            return await arrivals.next()
        }
        let secondArrived = Task(executorPreference: second) {
            var arrivals = secondSignals.makeAsyncIterator()
            return [await arrivals.next(), await arrivals.next()]
        }
        kill(getpid(), SIGUSR1)
        let arrived = try await first.withTimeout(.seconds(10)) { await firstArrived.value }
        XCTAssertEqual(arrived, SIGUSR1)
        // The first reactor stops listening: the second still takes every SIGUSR1, and the
        // handler now sends them on to its loop thread.
        firstSignals.finish()
        let firstBlocks = try first.runOnLoopAndWait("test") { ct_thread_blocks_signal(SIGUSR1) }
        XCTAssertEqual(firstBlocks, 0, "the first loop thread's mask is as it was")
        XCTAssertEqual(ct_signal_disposition(SIGUSR1), 2, "the second reactor still wants it")
        kill(getpid(), SIGUSR1)
        let both = try await second.withTimeout(.seconds(10)) { await secondArrived.value }
        XCTAssertEqual(both, [SIGUSR1, SIGUSR1])
        secondSignals.finish()
        _ = try second.runOnLoopAndWait("test") {}  // after the finish, which ran in that turn
        XCTAssertEqual(ct_signal_disposition(SIGUSR1), 0, "the default action is back")
        await first.shutdown()
        await second.shutdown()
    }

    func testCancellingTheIteratingTaskEndsTheSequence() throws {
        try runReactor { reactor in
            let signals = try reactor.signals(SIGUSR2)
            let iteration = Task(executorPreference: reactor) {
                var count = 0
                for await _ in signals { count += 1 }
                return count
            }
            iteration.cancel()
            let count = try await reactor.withTimeout(.seconds(10)) { await iteration.value }
            XCTAssertEqual(count, 0)
            XCTAssertEqual(ct_signal_disposition(SIGUSR2), 0, "the default action is back")
        }
    }

    func testDroppingTheSequenceGivesTheSignalBack() throws {
        try runReactor { reactor in
            do {
                let signals = try reactor.signals(SIGUSR1)
                XCTAssertEqual(signals.signals, [SIGUSR1])
                XCTAssertEqual(ct_signal_disposition(SIGUSR1), 2)
            }
            XCTAssertEqual(ct_signal_disposition(SIGUSR1), 0)
            XCTAssertEqual(ct_thread_blocks_signal(SIGUSR1), 0)
        }
    }

    func testTheActionThatWasThereBeforeIsRestored() throws {
        signal(SIGUSR1, SIG_IGN)
        try runReactor { reactor in
            let signals = try reactor.signals(SIGUSR1)
            XCTAssertEqual(ct_signal_disposition(SIGUSR1), 2)
            signals.finish()
            XCTAssertEqual(ct_signal_disposition(SIGUSR1), 1, "ignored again, as before")
        }
    }

    func testShutdownEndsTheSequenceAndGivesTheSignalBack() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let signals = try reactor.signals(SIGUSR2)
        let iteration = Task(executorPreference: reactor) { () -> Int32? in
            var arrivals = signals.makeAsyncIterator()
            return await arrivals.next()
        }
        await reactor.shutdown()
        let arrived = await iteration.value
        XCTAssertNil(arrived)
        XCTAssertEqual(ct_signal_disposition(SIGUSR2), 0)
        XCTAssertEqual(openSignalfdCount(), 0, "the signalfd was closed")
    }

    func testWhatCannotBeReceivedIsRefused() throws {
        try runReactor { reactor in
            for signal: Int32 in [0, -1, 65, SIGKILL, SIGSTOP, SIGSEGV, 32] {
                XCTAssertThrowsError(try reactor.signals(signal)) { error in
                    XCTAssertEqual((error as? ReactorError)?.code, .invalidArgument, "signal \(signal)")
                }
            }
        }
    }
}

/// The next signal of `signals` (every iterator of a sequence takes from the same arrivals).
private func nextSignal(_ signals: SignalSequence) async -> Int32? {
    var arrivals = signals.makeAsyncIterator()
    return await arrivals.next()
}

private func openSignalfdCount() -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return entries.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == "anon_inode:[signalfd]" }.count
}
