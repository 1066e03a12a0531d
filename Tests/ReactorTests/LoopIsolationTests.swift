import Glibc
import Synchronization
import TestSupport
import XCTest

@testable import Reactor

/// An actor whose executor is `reactor.asUnownedSerialExecutor()` is isolated to the loop: its
/// jobs run as the serial executor's, its calls to the reactor run in place, and every wait
/// of its tasks resumes on the loop, without an executor preference, the global executor or a
/// hop, also when it is cancelled, yields the loop, or outlives the loop.
final class LoopIsolationTests: XCTestCase {
    func testAnActorIsolatedToTheLoopWaitsAndResumesOnIt() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let peer = Peer(reactor)
            // Half the rounds park with a handler per wait, half in a cancellation scope.
            let echoing = Task { try await peer.echo(server, rounds: 200) }
            var before = reactor.statistics()
            for round in 0..<200 {
                let message = Array("round \(round)".utf8)
                try await reactor.sockSendall(client, message)
                let echoed = try await receive(reactor, client, count: message.count)
                XCTAssertEqual(echoed, message)
                // From here on the actor's task runs only on the loop (it came from the
                // global executor, where `Task {}` starts it).
                if round == 0 { before = reactor.statistics() }
            }
            // Before the task ends: its closure ends on the global executor.
            let after = reactor.statistics()
            let resumedIsolated = try await echoing.value
            XCTAssertEqual(resumedIsolated, 200, "a wait resumed other than isolated to the loop")
            XCTAssertEqual(after.hops, before.hops, "an operation of the actor hopped")
            // The portable path's continuation resumes on the generic executor, the global
            // pool for a task without a preference, which hands the task back to the loop.
            if Reactor.parksThroughTheRuntime {
                XCTAssertEqual(after.workFromOtherThreads, before.workFromOtherThreads, "the actor's task came back through another thread")
            }
        }
    }

    func testAnIsolatedTaskIsCancelledInEachKindOfWait() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let peer = Peer(reactor)
            let event = Event(on: reactor)
            // The test's own timeout is parked too.
            let parkedBefore = reactor.parkedTasks().count
            let waits: [(String, @Sendable () async throws -> Bool)] = [
                ("a receive", { try await peer.receive(server) }),
                ("a receive in a scope", { try await peer.receiveInScope(server) }),
                ("an event", { try await peer.wait(event) }),
                ("a sleep", { try await peer.sleep() }),
            ]
            for (what, wait) in waits {
                let task = Task { try await wait() }
                try await cancelWhenParked(reactor, task, "\(what) is parked") { reactor.parkedTasks().count > parkedBefore }
                XCTAssertEqual(reactor.parkedTasks().count, parkedBefore, "\(what): the cancelled wait stayed parked")
            }
            // The socket still works for the actor.
            try await reactor.sockSendall(client, [7])
            let resumedIsolated = try await peer.receive(server)
            XCTAssertTrue(resumedIsolated)
        }
    }

    func testAnIsolatedTaskThatSpendsItsBudgetYieldsTheLoopAndComesBackIsolated() throws {
        try runReactor { reactor in
            let peer = Peer(reactor)
            let before = reactor.statistics()
            let (otherWorkRan, isolated) = await peer.spendBudget()
            XCTAssertTrue(otherWorkRan, "the task did not yield the loop when its budget was spent")
            XCTAssertTrue(isolated, "the yield resumed other than isolated to the loop")
            XCTAssertEqual(reactor.statistics().workFromOtherThreads, before.workFromOtherThreads, "the yield went through another thread")
        }
    }

    func testAnIsolatedTaskParkedAtShutdownEnds() async throws {
        for inScope in [false, true] { try await anIsolatedTaskParkedAtShutdownEnds(inScope: inScope) }
    }

    /// In a scope, the task parks through the parking lot, and the shutdown hands its job to
    /// the thread that runs the actor's late jobs.
    private func anIsolatedTaskParkedAtShutdownEnds(inScope: Bool) async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        let (client, server) = try await Task(executorPreference: reactor) { try await connectedPair(reactor) }.value
        let peer = Peer(reactor)
        let parked = Task { try await inScope ? peer.receiveInScope(server) : peer.receive(server) }
        try await Task(executorPreference: reactor) {
            try await waitUntil(reactor, "the receive is parked") { reactor.isWaiting(server, .read) }
        }.value
        await reactor.shutdown()
        do {
            _ = try await parked.value
            XCTFail("a receive parked at shutdown returned (in a scope: \(inScope))")
        } catch {
            // The shutdown closes the socket under the wait.
        }
        // Called after the shutdown, the actor still runs, and the reactor refuses it.
        do {
            _ = try await peer.receive(client)
            XCTFail("a receive after the shutdown returned")
        } catch let error as ReactorError {
            XCTAssertEqual(error.code, .shutDown)
        }
    }

    func testAWaitInTheActorBeginsBeforeTheActorRunsAnythingElse() throws {
        try runReactor(timeout: .seconds(10)) { reactor in
            let peer = Peer(reactor)
            for prefersTheReactor in [false, true] {
                let event = Event(on: reactor)
                // Both tasks enter the actor in this order. A wait that runs in place must be
                // parked before the second task sets the event: if the actor ran the set
                // between the wait's check of the flag and its parking, the wait would never
                // end. (A wait that hops finds the flag set, as any actor's call would.)
                let waiting =
                    prefersTheReactor
                    ? Task(executorPreference: reactor) { try await peer.wait(event) } : await peer.startWaiting(for: event)
                let setting = Task(executorPreference: reactor) { await peer.set(event) }
                await setting.value
                let resumedIsolated = try await waiting.value
                XCTAssertTrue(resumedIsolated, "prefers the reactor: \(prefersTheReactor)")
            }
        }
    }

    func testAnActorThatOnlyRunsOnTheLoopThreadStillHops() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let elsewhere = Elsewhere()
            let before = reactor.statistics()
            try await reactor.sockSendall(client, [1, 2, 3])
            let received = try await elsewhere.receive(reactor, server)
            XCTAssertEqual(received, [1, 2, 3])
            XCTAssertGreaterThan(reactor.statistics().hops, before.hops, "a default actor's call ran in place")
        }
    }
}

/// An actor isolated to a reactor's loop, as a user writes one.
private actor Peer {
    let reactor: Reactor

    nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }

    init(_ reactor: Reactor) { self.reactor = reactor }

    /// Whether this runs as the loop's serial executor's job, on the loop thread.
    private var runsIsolated: Bool { reactor.isOnLoopThread && reactor.runningIsolated }

    /// Echoes `rounds` messages, the second half in a cancellation scope; how many of the
    /// receives resumed isolated to the loop.
    func echo(_ socket: Socket, rounds: Int) async throws -> Int {
        var isolated = 0
        for round in 0..<rounds {
            let scope = round >= rounds / 2 ? reactor.enterCancellationScope() : nil
            defer { reactor.exitCancellationScope(scope) }
            let bytes = try await reactor.sockRecv(socket, maxBytes: 64)
            if runsIsolated { isolated += 1 }
            try await reactor.sockSendall(socket, bytes)
        }
        return isolated
    }

    func receive(_ socket: Socket) async throws -> Bool {
        _ = try await reactor.sockRecv(socket, maxBytes: 64)
        return runsIsolated
    }

    func receiveInScope(_ socket: Socket) async throws -> Bool {
        let scope = reactor.enterCancellationScope()
        defer { reactor.exitCancellationScope(scope) }
        return try await receive(socket)
    }

    func wait(_ event: Event) async throws -> Bool {
        try await event.wait()
        return runsIsolated
    }

    /// A task of the actor's own (no executor preference) that waits for `event`, its first
    /// job queued on the actor before this returns.
    func startWaiting(for event: Event) -> Task<Bool, any Error> {
        Task { try await self.wait(event) }
    }

    func set(_ event: Event) { event.set() }

    func sleep() async throws -> Bool {
        try await reactor.sleep(for: .seconds(60))
        return runsIsolated
    }

    /// Spends one more operation than a job's budget: whether work queued meanwhile ran
    /// before the task came back, and whether it came back isolated.
    func spendBudget() async -> (Bool, Bool) {
        let ran = Atomic(false)
        _ = reactor.callSoonThreadsafe { ran.store(true, ordering: .relaxed) }
        for _ in 0...Reactor.operationBudget { await reactor.consumeBudget() }
        return (ran.load(ordering: .relaxed), runsIsolated)
    }
}

/// A default actor: called from a task that prefers the reactor, its code may run on the loop
/// thread, but it is not isolated to the loop.
private actor Elsewhere {
    func receive(_ reactor: Reactor, _ socket: Socket) async throws -> [UInt8] {
        try await reactor.sockRecv(socket, maxBytes: 3)
    }
}
