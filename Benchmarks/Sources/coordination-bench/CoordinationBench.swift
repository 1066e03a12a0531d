import AsyncAlgorithms
import BenchTiming
import Foundation
import Reactor

/// One workload of the coordination primitives for a while, and its rate on stdout as
/// `<operations> <seconds>`: reactor-bench `coordination` runs each pinned to one CPU, in turns.
///
/// `coordination-bench WORKLOAD SECONDS`. The ping-pongs pass an item from one task to another and
/// back through two one-slot channels, so every item is one hand-off between tasks.
@main
struct CoordinationBench {
    static func main() throws {
        try workloadMain(Workload.self) { workload, rounds, reactor in try await workload.run(rounds: rounds, on: reactor) }
    }
}

enum Workload: String, CaseIterable {
    case queue = "queue-ping-pong"
    case asyncStream = "asyncstream-ping-pong"
    case asyncStreamOnReactor = "asyncstream-ping-pong-on-reactor"
    case asyncChannel = "asyncchannel-ping-pong"
    case asyncChannelOnReactor = "asyncchannel-ping-pong-on-reactor"
    case lockHandOff = "lock-hand-off"
    case lockCounter = "lock-counter"
    case actorCounter = "actor-counter"

    /// Runs `rounds` rounds and returns the operations they did: items passed, hand-offs or
    /// increments.
    func run(rounds: Int, on reactor: Reactor) async throws -> Int {
        switch self {
        case .queue: try await Self.queuePingPong(rounds, reactor)
        case .asyncStream: try await Self.asyncStreamPingPong(rounds, nil)
        case .asyncStreamOnReactor: try await Self.asyncStreamPingPong(rounds, reactor)
        case .asyncChannel: try await Self.asyncChannelPingPong(rounds, nil)
        case .asyncChannelOnReactor: try await Self.asyncChannelPingPong(rounds, reactor)
        case .lockHandOff: try await Self.lockHandOff(rounds, reactor)
        case .lockCounter: try await Self.lockCounter(rounds, reactor)
        case .actorCounter: await Self.actorCounter(rounds)
        }
    }

    private static func queuePingPong(_ rounds: Int, _ reactor: Reactor) async throws -> Int {
        let ping = Queue<Int>(maxSize: 1, on: reactor)
        let pong = Queue<Int>(maxSize: 1, on: reactor)
        let echo = Task(executorPreference: reactor) {
            for _ in 0..<rounds { try await pong.put(try await ping.get()) }
        }
        for round in 0..<rounds {
            try await ping.put(round)
            _ = try await pong.get()
        }
        try await echo.value
        return 2 * rounds
    }

    /// Swift's AsyncStream, bounded to one item; its tasks on the global executor, or on the
    /// reactor (`reactor`), so the queue's own cost shows apart from the executor's.
    private static func asyncStreamPingPong(_ rounds: Int, _ reactor: Reactor?) async throws -> Int {
        let (ping, pingIn) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(1))
        let (pong, pongIn) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingOldest(1))
        let echo = Task(executorPreference: reactor) {
            for await item in ping { pongIn.yield(item) }
            pongIn.finish()
        }
        try await Task(executorPreference: reactor) {
            var replies = pong.makeAsyncIterator()
            for round in 0..<rounds {
                pingIn.yield(round)
                guard await replies.next() != nil else { throw BenchmarkFailure("the pong stream ended") }
            }
            pingIn.finish()
        }.value
        await echo.value
        return 2 * rounds
    }

    private static func asyncChannelPingPong(_ rounds: Int, _ reactor: Reactor?) async throws -> Int {
        let ping = AsyncChannel<Int>()
        let pong = AsyncChannel<Int>()
        let echo = Task(executorPreference: reactor) {
            for await item in ping { await pong.send(item) }
            pong.finish()
        }
        try await Task(executorPreference: reactor) {
            var replies = pong.makeAsyncIterator()
            for round in 0..<rounds {
                await ping.send(round)
                guard await replies.next() != nil else { throw BenchmarkFailure("the pong channel ended") }
            }
            ping.finish()
        }.value
        await echo.value
        return 2 * rounds
    }

    /// Two tasks take turns at one lock: each yields while it holds the lock, so the other is
    /// waiting by the time it releases, and every release hands the lock over.
    private static func lockHandOff(_ rounds: Int, _ reactor: Reactor) async throws -> Int {
        let lock = Lock(on: reactor)
        let tasks = (0..<2).map { _ in
            Task(executorPreference: reactor) { try await takeTurns(at: lock, rounds) }
        }
        for task in tasks { try await task.value }
        return 2 * rounds
    }

    final class SharedCounter: @unchecked Sendable {
        var value = 0
    }

    /// A counter shared by two tasks on the reactor, each increment under the lock.
    private static func lockCounter(_ rounds: Int, _ reactor: Reactor) async throws -> Int {
        let lock = Lock(on: reactor)
        let counter = SharedCounter()
        let tasks = (0..<2).map { _ in
            Task(executorPreference: reactor) { try await increment(counter, under: lock, rounds) }
        }
        for task in tasks { try await task.value }
        guard counter.value == 2 * rounds else { throw BenchmarkFailure("the counter is \(counter.value), not \(2 * rounds)") }
        return 2 * rounds
    }

    actor Counter {
        var value = 0
        func increment() { value += 1 }
    }

    /// The Swift alternative for a shared counter: an actor, called by two tasks on the global
    /// executor.
    private static func actorCounter(_ rounds: Int) async -> Int {
        let counter = Counter()
        let tasks = (0..<2).map { _ in
            Task.detached {
                for _ in 0..<rounds { await counter.increment() }
            }
        }
        for task in tasks { await task.value }
        return 2 * rounds
    }
}

/// A task's loop as a `nonisolated(nonsending)` function, as the README advises for a
/// per-message path: in the task's own closure, which is `nonisolated`, the compiler switches
/// executors after each `withLock`. A free function, not a static one: the optimizer's copy of
/// a static method without its unused metatype forgets that it starts on its caller's executor,
/// and keeps the switch.
private nonisolated(nonsending) func increment(_ counter: Workload.SharedCounter, under lock: Lock, _ rounds: Int) async throws {
    for _ in 0..<rounds { try await lock.withLock { counter.value += 1 } }
}

/// `lockHandOff`'s loop, a `nonisolated(nonsending)` function for the same reason.
private nonisolated(nonsending) func takeTurns(at lock: Lock, _ rounds: Int) async throws {
    for _ in 0..<rounds {
        try await lock.acquire()
        await Task.yield()
        try lock.release()
    }
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
