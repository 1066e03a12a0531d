import Synchronization

/// asyncio's `Barrier` (Python 3.11): `parties` tasks wait for each other, then all go on.
///
/// `wait()` returns each task's arrival index, 0 to `parties - 1`. Once the last one arrives
/// the barrier drains: tasks that arrive meanwhile wait until every party has left, then
/// fill the next round. `reset()` sends the tasks waiting back with ``BrokenBarrierError``
/// and starts over; `abort()` breaks the barrier until the next `reset()`. Called off the
/// loop thread, both take effect in the loop's next turn.
public final class Barrier: @unchecked Sendable {
    private enum State: UInt8 {
        case filling, draining, resetting, broken
    }

    public let reactor: Reactor
    /// How many tasks must arrive before they all go on.
    public let parties: Int
    let waiters: WaitQueue
    private let stateValue = Atomic<UInt8>(State.filling.rawValue)
    /// Tasks inside `wait()`: arrived and not yet left.
    private let inside = Atomic<Int>(0)

    /// A barrier for `parties` tasks on `reactor`, by default the one whose loop runs on this
    /// thread. Throws ``ReactorError`` (`.invalidArgument`) unless `parties` is at least 1.
    public init(parties: Int, on reactor: Reactor? = nil) throws {
        guard parties >= 1 else { throw ReactorError.invalidArgument("Barrier(parties: \(parties)): parties must be 1 or more") }
        self.reactor = Reactor.owner(reactor, of: "Barrier()")
        self.parties = parties
        waiters = WaitQueue(on: self.reactor)
        waiters.owner = self
    }

    private var state: State {
        get { State(rawValue: stateValue.load(ordering: .relaxed))! }
        set { stateValue.store(newValue.rawValue, ordering: .relaxed) }
    }

    private var count: Int {
        get { inside.load(ordering: .relaxed) }
        set { inside.store(newValue, ordering: .relaxed) }
    }

    /// How many tasks wait for the barrier to fill (asyncio's `n_waiting`).
    public var waitingCount: Int { state == .filling ? count : 0 }

    /// True once `abort()` was called.
    public var isBroken: Bool { state == .broken }

    /// Waits until `parties` tasks have called `wait()`, then returns this task's arrival
    /// index. Throws ``BrokenBarrierError`` when the barrier is broken or reset while it waits,
    /// `CancellationError` when its task is cancelled (it leaves the barrier), and
    /// ``ReactorError`` (`.shutDown`) when the reactor shuts down.
    @discardableResult
    public nonisolated(nonsending) func wait(file: StaticString = #fileID, line: UInt = #line) async throws -> Int {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { barrier in try await barrier.wait() }
        }
        while state == .draining || state == .resetting { try await park() }
        if state == .broken { throw BrokenBarrierError("Barrier.wait: the barrier is broken") }
        let index = count
        count += 1
        defer {
            count -= 1
            leave()
        }
        if index + 1 == parties {
            state = .draining
            waiters.wakeAll()
        } else {
            while state == .filling { try await park() }
            if state == .broken || state == .resetting {
                throw BrokenBarrierError("Barrier.wait: the barrier was aborted or reset while the task waited")
            }
        }
        return index
    }

    /// Sends the tasks waiting back with ``BrokenBarrierError`` and returns the barrier to its
    /// empty state, also a broken one.
    public func reset() {
        reactor.runOnLoopNowOrNextTurn(self) { barrier in
            barrier.state = barrier.count > 0 ? .resetting : .filling
            barrier.waiters.wakeAll()
        }
    }

    /// Breaks the barrier: the tasks waiting, and every later `wait()`, throw
    /// ``BrokenBarrierError`` (until `reset()`).
    public func abort() {
        reactor.runOnLoopNowOrNextTurn(self) { barrier in
            barrier.state = .broken
            barrier.waiters.wakeAll()
        }
    }

    /// After a task left: the last one out of a drained or reset barrier opens the next round.
    private func leave() {
        guard count == 0 else { return }
        if state == .resetting || state == .draining { state = .filling }
        waiters.wakeAll()
    }

    private nonisolated(nonsending) func park() async throws {
        try await waiters.waitInTurn("Barrier.wait")
    }
}

/// asyncio's `BrokenBarrierError`: a ``Barrier`` was aborted, or reset while a task waited.
public struct BrokenBarrierError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
