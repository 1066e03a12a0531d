import Dispatch
import Foundation
import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// The blocking pool: jobs in parallel off the loop, which keeps serving meanwhile; a queued
/// job cancelled is removed; a full queue refuses.
final class BlockingPoolTests: XCTestCase {
    func testAThousandJobsRunFourAtATimeAndResumeTheirCallersOnTheLoop() throws {
        let pool = BlockingPool(threadCount: 4)
        let running = LockedValue((now: 0, most: 0))
        // Each job holds its thread until four were seen running at once: a pool that ran
        // fewer at a time would never get there (the job gives up after 20 s).
        let fourSeen = NSCondition()
        try runReactor(configuration: Reactor.Configuration(blockingPool: pool)) { reactor in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<1000 {
                    group.addTask(executorPreference: reactor) {
                        try await reactor.runBlocking {
                            let most = running.withLock { $0.now += 1; $0.most = max($0.most, $0.now); return $0.most }
                            fourSeen.lock()
                            if most == 4 { fourSeen.broadcast() }
                            let deadline = Date().addingTimeInterval(20)
                            while running.withLock({ $0.most }) < 4 && fourSeen.wait(until: deadline) {}
                            fourSeen.unlock()
                            running.withLock { $0.now -= 1 }
                        }
                        XCTAssertTrue(reactor.isOnLoopThread, "runBlocking resumed its caller off the loop")
                    }
                }
                try await group.waitForAll()
            }
            XCTAssertEqual(running.withLock { $0.most }, 4, "the jobs did not run four at a time")
        }
    }

    func testTheLoopServesWhileEveryPoolThreadIsBlocked() throws {
        let pool = BlockingPool(threadCount: 2)
        let gate = DispatchSemaphore(value: 0)
        try runReactor(configuration: Reactor.Configuration(blockingPool: pool)) { reactor in
            let blocked = (0..<2).map { _ in
                Task(executorPreference: reactor) {
                    try await reactor.runBlocking { gate.wait() }
                }
            }
            let (client, server) = try await connectedPair(reactor)
            defer { client.close() }
            let echoing = Task(executorPreference: reactor) { try await echo(reactor, server) }
            // If an echo waited behind a job, this would never finish (the jobs wait for it).
            for round in 0..<100 {
                let message = randomBytes(64, seed: UInt64(round))
                try await reactor.sockSendall(client, message)
                let echoed = try await receive(reactor, client, count: 64)
                XCTAssertEqual(echoed, message)
            }
            for _ in blocked { gate.signal() }
            for task in blocked { try await task.value }
            try client.shutdown(.write)
            try await echoing.value
        }
    }

    func testAQueuedJobCancelledIsRemovedUnrunAndAFullQueueRefuses() throws {
        let pool = BlockingPool(threadCount: 1, queueLimit: 2)
        let gate = DispatchSemaphore(value: 0)
        let ran = Shared(false)
        let entered = Shared(false)
        try runReactor(configuration: Reactor.Configuration(blockingPool: pool)) { reactor in
            let blocker = Task(executorPreference: reactor) {
                try await reactor.runBlocking {
                    entered.value = true
                    gate.wait()
                }
            }
            try await waitUntil(reactor, "the blocker runs") { entered.value }
            let queued = Task(executorPreference: reactor) { try await reactor.runBlocking { ran.value = true } }
            try await waitUntil(reactor, "the job is queued") { pool.queuedCount == 1 }
            let second = Task(executorPreference: reactor) { try await reactor.runBlocking {} }
            try await waitUntil(reactor, "the second job is queued") { pool.queuedCount == 2 }
            do {
                try await reactor.runBlocking {}
                XCTFail("a full queue took a job")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .poolFull)
            }
            queued.cancel()
            do {
                try await queued.value
                XCTFail("a cancelled queued job returned normally")
            } catch is CancellationError {}
            XCTAssertEqual(pool.queuedCount, 1)
            gate.signal()
            try await blocker.value
            try await second.value
            XCTAssertFalse(ran.value, "a cancelled job ran")
            // A task cancelled before it asks never queues its job.
            let early = Task(executorPreference: reactor) {
                withUnsafeCurrentTask { $0?.cancel() }
                try await reactor.runBlocking { ran.value = true }
            }
            do {
                try await early.value
                XCTFail("an already-cancelled task ran a blocking job")
            } catch is CancellationError {}
            XCTAssertFalse(ran.value, "an already-cancelled task's job ran")
        }
    }

    func testAJobsResultAndErrorReachItsCallerOnTheLoopThread() throws {
        struct JobFailed: Error, Equatable { let code: Int }
        try runReactor { reactor in
            let caller = pthread_self()
            let (value, thread) = try await reactor.runBlocking { (42, pthread_self()) }
            XCTAssertEqual(value, 42)
            XCTAssertEqual(pthread_equal(thread, caller), 0, "the job ran on the loop thread")
            XCTAssertTrue(reactor.isOnLoopThread)
            do {
                _ = try await reactor.runBlocking { () throws -> Int in throw JobFailed(code: 7) }
                XCTFail("the job's error was lost")
            } catch let error as JobFailed {
                XCTAssertEqual(error, JobFailed(code: 7))
            }
            XCTAssertTrue(reactor.isOnLoopThread)
        }
    }
}
