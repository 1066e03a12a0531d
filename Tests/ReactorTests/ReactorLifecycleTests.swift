import Glibc
import TestSupport
import XCTest

@testable import Reactor

final class ReactorLifecycleTests: XCTestCase {
    func testRunReturnsAndRethrowsTheBodysResult() throws {
        XCTAssertEqual(try Reactor.run { _ in 42 }, 42)
        XCTAssertThrowsError(try Reactor.run { _ in throw TestFailure("from the body") }) { error in
            XCTAssertEqual((error as? TestFailure)?.description, "from the body")
        }
    }

    func testTasksRunOnTheLoopThreadAndKnowTheirReactor() throws {
        try runReactor { reactor in
            XCTAssertTrue(Reactor.current === reactor)
            XCTAssertTrue(reactor.isOnLoopThread)
            let child = await Task(executorPreference: reactor) { Reactor.current === reactor }.value
            XCTAssertTrue(child)
            let elsewhere = await Task.detached { Reactor.current == nil }.value
            XCTAssertTrue(elsewhere)
        }
    }

    func testAnActorCanUseTheReactorAsItsSerialExecutor() throws {
        actor Counter {
            let reactor: Reactor
            var count = 0
            init(reactor: Reactor) { self.reactor = reactor }
            nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }
            func increment() -> Bool {
                count += 1
                return reactor.isOnLoopThread
            }
        }
        try runReactor { reactor in
            let counter = Counter(reactor: reactor)
            let ranOnLoop = await Task.detached { await counter.increment() }.value
            XCTAssertTrue(ranOnLoop)
            let count = await counter.count
            XCTAssertEqual(count, 1)
        }
    }

    func testTwoReactorsOnTwoThreadsExchangeData() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let before = openFileDescriptorCount()
        let server = try Reactor.start()
        let client = try Reactor.start()
        let (listener, address) = try await loopbackListener(server)
        let echoing = Task(executorPreference: server) {
            let (socket, _) = try await server.sockAccept(listener)
            try await echo(server, socket)
        }
        let payload = randomBytes(256 * 1024, seed: 11)
        let echoed = try await Task(executorPreference: client) { () -> [UInt8] in
            XCTAssertTrue(Reactor.current === client)
            let socket = try await client.connect(to: address)
            defer { socket.close() }
            async let sent: Void = {
                try await client.sockSendall(socket, payload)
                try socket.shutdown(.write)
            }()
            let received = try await receive(client, socket, count: payload.count + 1)
            try await sent
            return received
        }.value
        XCTAssertTrue(echoed == payload)
        try await echoing.value
        listener.close()
        await server.shutdown()
        await client.shutdown()
        await client.shutdown()  // again: harmless
        XCTAssertEqual(openFileDescriptorCount(), before, "file descriptors leaked")
    }

    func testATaskOnTheGlobalExecutorCanUseAReactorsSocket() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let before = openFileDescriptorCount()
        let reactor = try Reactor.start()
        // Everything here runs on the global executor; each call hops to the reactor.
        let (listener, address) = try await loopbackListener(reactor)
        let client = try await reactor.connect(to: address)
        let (server, _) = try await reactor.sockAccept(listener)
        XCTAssertFalse(reactor.isOnLoopThread)
        let reader = Task.detached { try await reactor.sockRecv(server, maxBytes: 100) }
        // Let the reader park first, so that its wait resumes through the hop.
        while !(try await reactor.runOnLoop((reactor, server)) { $0.0.isWaiting($0.1, .read) }) { await Task.yield() }
        try await reactor.sockSendall(client, Array("across threads".utf8))
        let received = try await reader.value
        XCTAssertEqual(String(decoding: received, as: UTF8.self), "across threads")
        try await reactor.sleep(for: .milliseconds(1))
        for socket in [listener, client, server] { socket.close() }
        await reactor.shutdown()
        XCTAssertEqual(openFileDescriptorCount(), before, "file descriptors leaked")
    }

    /// An actor's method runs on the loop thread when its task prefers the reactor, but a wait
    /// inside it resumes on the actor's executor: here the actor is busy on a pool thread when
    /// the data comes, so a recv parked in place would resume there, off the loop. It must hop.
    func testARecvInsideAnActorResumesOnTheLoopWhileTheActorIsBusyElsewhere() throws {
        actor Mailbox {
            func receive(_ reactor: Reactor, _ socket: Socket) async throws -> [UInt8] {
                try await reactor.sockRecv(socket, maxBytes: 100)
            }
            /// Holds the actor on the calling (pool) thread until `gate` opens.
            func hold(entered: Shared<Bool>, gate: DispatchSemaphore) {
                entered.value = true
                gate.wait()
            }
        }
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let mailbox = Mailbox()
            let receiver = Task(executorPreference: reactor) { try await mailbox.receive(reactor, server) }
            try await waitUntil(reactor, "the recv is parked") { reactor.isWaiting(server, .read) }
            let entered = Shared(false)
            let gate = DispatchSemaphore(value: 0)
            let holder = Task.detached { await mailbox.hold(entered: entered, gate: gate) }
            try await waitUntil(reactor, "the actor is held on a pool thread") { entered.value }
            try await reactor.sockSendall(client, Array("to the actor".utf8))
            try await waitUntil(reactor, "the recv has woken") { !reactor.isWaiting(server, .read) }
            gate.signal()
            await holder.value
            let received = try await receiver.value
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "to the actor")
        }
    }

    func testShutdownClosesSocketsAndResumesTheirWaiters() throws {
        let outcome = Shared("still waiting")
        let before = openFileDescriptorCount()
        try Reactor.run { reactor in
            let (client, server) = try await connectedPair(reactor)
            _ = client
            Task(executorPreference: reactor) {
                do {
                    _ = try await reactor.sockRecv(server, maxBytes: 1)
                    outcome.value = "returned"
                } catch let error as SystemCallError {
                    outcome.value = "errno \(error.errno)"
                }
            }
            Task(executorPreference: reactor) { try await reactor.sleep(for: .seconds(60)) }
            try await waitUntil(reactor, "recv is parked") { reactor.isWaiting(server, .read) }
            // Returning leaves a parked reader, a sleeper and two open sockets behind.
        }
        XCTAssertEqual(outcome.value, "errno \(EBADF)")
        XCTAssertEqual(openFileDescriptorCount(), before, "file descriptors leaked")
    }

    func testExecuteRunsOnTheLoopAndIsRefusedAfterShutdown() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let ranOnLoop = await withCheckedContinuation { continuation in
            reactor.callSoonThreadsafe { continuation.resume(returning: reactor.isOnLoopThread) }
        }
        XCTAssertTrue(ranOnLoop)
        await reactor.shutdown()
        XCTAssertFalse(reactor.callSoonThreadsafe {})
    }

    func testCallsAfterShutdownFailWithAClearError() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        await reactor.shutdown()
        do {
            try await reactor.sleep(for: .milliseconds(1))
            XCTFail("sleep on a shut-down reactor returned")
        } catch let error as ReactorError where error.code == .shutDown {
        }
        do {
            _ = try await reactor.makeSocket(family: .ipv4)
            XCTFail("makeSocket on a shut-down reactor returned")
        } catch let error as ReactorError where error.code == .shutDown {
        }
    }

    func testASlowJobIsLoggedInDebugModeNamingTheTaskAndWhatItThenWaitsOn() throws {
        let logs = LogCapture()
        let configuration = Reactor.Configuration(logger: logs.logger, debugMode: true, slowJobThreshold: .milliseconds(20))
        try runReactor(configuration: configuration) { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let slow = reactor.spawn {
                _ = usleep(50_000)  // holds the loop
                _ = try await reactor.sockRecv(server, maxBytes: 1)
            }
            try await waitUntil(reactor, "the slow task parks") { logs.contains(.warning, "held the reactor's loop") }
            let port = try client.localAddress().port!
            XCTAssertTrue(
                logs.contains(.warning, "a task, which then waited: ") && logs.contains(.warning, " waiting: read fd \(server.fileDescriptor) local ")
                    && logs.contains(.warning, " peer 127.0.0.1:\(port)"),
                "\(logs.messages.withLock { $0 })")
            try await reactor.sockSendall(client, [1])
            try await slow.value
            // A callback is named as one.
            _ = reactor.callSoonThreadsafe { _ = usleep(50_000) }
            try await waitUntil(reactor, "the callback is reported") { logs.contains(.warning, "ms: a callback") }
        }
    }
}
