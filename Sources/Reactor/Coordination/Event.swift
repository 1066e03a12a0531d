import Synchronization

/// asyncio's `Event`: a flag that tasks wait for, on one reactor.
///
/// `set()` wakes every waiting task, and `wait()` returns at once while the flag is set. A
/// task that was waiting when the flag was set returns even if `clear()` came before it ran,
/// as in asyncio.
///
/// ```swift
/// let stopping = Event()
/// Task(executorPreference: reactor) { try await stopping.wait(); server.close() }
/// stopping.set()
/// ```
public final class Event: @unchecked Sendable {
    public let reactor: Reactor
    let waiters: WaitQueue
    private let flag = Atomic<Bool>(false)

    /// An event on `reactor`, by default the one whose loop runs on this thread.
    public init(on reactor: Reactor? = nil) {
        self.reactor = Reactor.owner(reactor, of: "Event()")
        waiters = WaitQueue(on: self.reactor)
        waiters.owner = self
    }

    /// True once `set()` was called, until `clear()`.
    public var isSet: Bool { flag.load(ordering: .relaxed) }

    /// Sets the flag and wakes every task that waits for it. From another thread both happen
    /// in the loop's next turn, in order with that thread's other calls.
    public func set() {
        reactor.runOnLoopNowOrNextTurn(self) { event in
            event.flag.store(true, ordering: .relaxed)
            event.waiters.wakeAll()
        }
    }

    /// Clears the flag: later waits wait again. From another thread, in the loop's next turn.
    public func clear() {
        reactor.runOnLoopNowOrNextTurn(self) { event in event.flag.store(false, ordering: .relaxed) }
    }

    /// Returns once the flag is set: at once if it is. Throws `CancellationError` if the task
    /// is cancelled first, and ``ReactorError`` (`.shutDown`) when the reactor shuts down.
    public nonisolated(nonsending) func wait(file: StaticString = #fileID, line: UInt = #line) async throws {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { event in try await event.wait() }
        }
        if isSet { return }
        try await waiters.waitInTurn("Event.wait")
    }
}
