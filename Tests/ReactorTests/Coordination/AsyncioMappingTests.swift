import TestSupport
import XCTest

@testable import Reactor

/// The examples of the article "Coordination between tasks", section "Running tasks
/// together": asyncio's gather, wait, as_completed, TaskGroup and timeout in Swift.
final class AsyncioMappingTests: XCTestCase {
    struct ConfigurationError: Error {}

    /// A stand-in for an operation that waits on the reactor: "slow" never finishes unless
    /// cancelled, a name in `gates` waits for its event, and each records that it ran on the
    /// loop thread.
    final class Fetcher: Sendable {
        let reactor: Reactor
        let gates: [String: Event]
        let offLoop = Shared(0)

        init(_ reactor: Reactor, gates: [String: Event] = [:]) {
            self.reactor = reactor
            self.gates = gates
        }

        func fetch(_ name: String) async throws -> String {
            if !reactor.isOnLoopThread { offLoop.value += 1 }
            if name == "slow" { try await reactor.sleep(for: .seconds(3600)) }
            if let gate = gates[name] { try await gate.wait() }
            await Task.yield()
            return "page \(name)"
        }
    }

    func testGatherOfTwoWithAsyncLet() throws {
        try runReactor { reactor in
            let fetcher = Fetcher(reactor)
            @Sendable func fetch(_ name: String) async throws -> String { try await fetcher.fetch(name) }

            async let user = fetch("user")
            async let orders = fetch("orders")
            let (first, second) = try await (user, orders)

            XCTAssertEqual([first, second], ["page user", "page orders"])
            XCTAssertEqual(fetcher.offLoop.value, 0, "a child of async let ran off the loop")
        }
    }

    func testGatherOfAListKeepsItsOrder() throws {
        try runReactor { reactor in
            let names = ["a", "b", "c", "d"]
            // Finish in reverse order.
            let gates = Dictionary(uniqueKeysWithValues: names.map { ($0, Event()) })
            let fetcher = Fetcher(reactor, gates: gates)
            @Sendable func fetch(_ name: String) async throws -> String { try await fetcher.fetch(name) }
            let opener = reactor.spawn {
                for name in names.reversed() {
                    gates[name]!.set()
                    await Task.yield()
                }
            }

            let pages = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (index, name) in names.enumerated() {
                    group.addTask { (index, try await fetch(name)) }
                }
                var pages = [String](repeating: "", count: names.count)
                for try await (index, page) in group { pages[index] = page }
                return pages
            }

            try await opener.value
            XCTAssertEqual(pages, ["page a", "page b", "page c", "page d"])
            XCTAssertEqual(fetcher.offLoop.value, 0, "a child task ran off the loop")
        }
    }

    func testWaitForTheFirstCompletedAndCancelTheRest() throws {
        try runReactor { reactor in
            let mirrors = ["slow", "fast", "slow"]
            let fetcher = Fetcher(reactor)
            @Sendable func fetch(_ name: String) async throws -> String { try await fetcher.fetch(name) }

            let fastest = try await withThrowingTaskGroup(of: String.self) { group in
                for mirror in mirrors { group.addTask { try await fetch(mirror) } }
                defer { group.cancelAll() }
                return try await group.next()!
            }

            XCTAssertEqual(fastest, "page fast")
        }
    }

    func testAsCompletedGivesResultsInTheOrderTheyFinish() throws {
        try runReactor { reactor in
            let names = ["first", "second", "third"]
            let gates = Dictionary(uniqueKeysWithValues: names.map { ($0, Event()) })
            let fetcher = Fetcher(reactor, gates: gates)
            @Sendable func fetch(_ name: String) async throws -> String { try await fetcher.fetch(name) }
            var printed: [String] = []
            func print(_ page: String) {
                printed.append(page)
                // Let the next one finish only now: the order is the one the gates set.
                if let next = ["page third": "second", "page second": "first"][page] { gates[next]!.set() }
            }
            gates["third"]!.set()

            try await withThrowingTaskGroup(of: String.self) { group in
                for name in names { group.addTask { try await fetch(name) } }
                for try await page in group { print(page) }
            }

            XCTAssertEqual(printed, ["page third", "page second", "page first"])
        }
    }

    func testATaskGroupCancelsTheOthersWhenOneFails() throws {
        try runReactor { reactor in
            let serveCancelled = Shared(false)
            @Sendable func serve() async throws {
                do {
                    try await reactor.sleep(for: .seconds(3600))
                } catch is CancellationError {
                    serveCancelled.value = true
                    throw CancellationError()
                }
            }

            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await serve() }
                    group.addTask { throw ConfigurationError() }
                    for try await _ in group {}  // not waitForAll(), which waits for every child
                }
                XCTFail("the group did not throw")
            } catch is ConfigurationError {
                // serve() was cancelled
                XCTAssertTrue(serveCancelled.value)
            }
        }
    }

    func testTimeoutCancelsTheOperation() throws {
        try runReactor { reactor in
            let fetcher = Fetcher(reactor)
            @Sendable func fetch(_ name: String) async throws -> String { try await fetcher.fetch(name) }

            do {
                let page = try await reactor.withTimeout(.milliseconds(50)) { try await fetch("slow") }
                XCTFail("a slow fetch returned \(page)")
            } catch let error as ReactorError where error.code == .timedOut {
                // fetch was cancelled after the timeout
            }
        }
    }

    /// The README's example, as it is there.
    func testTheReadmeExample() throws {
        let finished = Shared(0)
        try Reactor.run { reactor in
            let jobs = Queue<Int>(maxSize: 64)                 // asyncio.Queue(maxsize=64), on this reactor
            let limit = try Semaphore(value: 4)                 // at most four jobs at once
            let workers = (0..<8).map { _ in
                Task(executorPreference: reactor) {
                    for try await job in jobs {                 // ends once the queue is shut down and empty
                        try await limit.withPermit { try await reactor.sleep(for: .milliseconds(job)) }
                        finished.value += 1
                        try jobs.taskDone()
                    }
                }
            }
            for job in 1...100 { try await jobs.put(job) }      // waits while the queue is full
            try await jobs.join()                               // every job marked done
            XCTAssertEqual(finished.value, 100)
            jobs.shutdown()
            for worker in workers { try await worker.value }
        }
        XCTAssertEqual(finished.value, 100)
    }
}
