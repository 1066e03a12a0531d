import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// The crossing rule: what runs in place, what hops, what is refused.
final class CrossingTests: XCTestCase {
    func testAnOperationOnAnotherReactorsSocketIsAClearError() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let first = try Reactor.start()
        let second = try Reactor.start()
        let (listener, _) = try await loopbackListener(first)
        do {
            _ = try await second.sockAccept(listener)
            XCTFail("a reactor accepted on another reactor's socket")
        } catch let error as ReactorError {
            XCTAssertEqual(error.code, .wrongReactor)
            XCTAssertTrue(error.message.contains("sockAccept"), error.message)
        }
        listener.close()
        await first.shutdown()
        await second.shutdown()
    }

    func testAHopIsReportedOncePerCallSiteInDebugMode() throws {
        let logs = LogCapture()
        let configuration = Reactor.Configuration(logger: logs.logger, debugMode: true)
        try runReactor(configuration: configuration) { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            // One call site three times, then another.
            let firstLine = #line + 2
            try await Task.detached {
                for _ in 0..<3 { try await reactor.sockSendall(client, [1, 2, 3]) }
            }.value
            let secondLine = #line + 1
            try await Task.detached { try await reactor.sockSendall(client, [4, 5, 6]) }.value
            let received = try await receive(reactor, server, count: 12)
            XCTAssertEqual(received, [1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5, 6])
            // A setup call is reported at its caller's line too.
            let listenLine = #line + 1
            let listener = try await Task.detached { try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0)) }.value
            listener.close()
            let reports = logs.count { $0.contains("hopped") }
            XCTAssertEqual(reports, 3, "not one report per call site")
            XCTAssertTrue(logs.contains(.warning, "sockSendall"))
            XCTAssertTrue(logs.contains(.warning, "listen"))
            for line in [firstLine, secondLine, listenLine] {
                XCTAssertTrue(logs.contains(.warning, "ReactorTests/CrossingTests.swift:\(line)"), "no report for line \(line)")
            }
        }
    }

    func testSynchronousSocketCallsOffTheLoopRunOnItAndSeeAClose() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let (listener, address) = try await loopbackListener(reactor)
        XCTAssertFalse(reactor.isOnLoopThread)
        XCTAssertEqual(try listener.localAddress(), address)
        XCTAssertEqual(try listener.option(.reuseAddress), 1)
        XCTAssertTrue(listener.isOpen)
        listener.close()
        XCTAssertFalse(listener.isOpen)
        XCTAssertThrowsError(try listener.localAddress()) { error in
            XCTAssertEqual((error as? SystemCallError)?.errno, EBADF)
        }
        await reactor.shutdown()
        XCTAssertThrowsError(try listener.localAddress()) { error in
            XCTAssertEqual((error as? ReactorError)?.code, .shutDown)
        }
    }

    func testAShutdownThatCannotQuiesceSaysSo() async throws {
        let logs = LogCapture()
        let reactor = try Reactor.start(configuration: Reactor.Configuration(logger: logs.logger, debugMode: false))
        let stop = Shared(false)
        let started = Shared(false)
        // A task that never waits on anything the shutdown can close: it only yields.
        let spinner = Task(executorPreference: reactor) {
            started.value = true
            while !stop.value { await Task.yield() }
        }
        while !started.value { await Task.yield() }
        await reactor.shutdown()
        XCTAssertTrue(logs.contains(.error, "could not quiesce"))
        stop.value = true
        await spinner.value
    }
}

extension LogCapture {
    /// How many captured messages satisfy `predicate`.
    func count(_ predicate: (String) -> Bool) -> Int {
        messages.withLock { $0.filter { predicate($0.1) }.count }
    }
}
