import Synchronization

/// asyncio's `Lock`: mutual exclusion between tasks, on one reactor (CPython's `locks.py`).
///
/// ```swift
/// let lock = Lock()                       // on the reactor's loop thread, or Lock(reactor:)
/// try await lock.withLock { balance += amount }
/// ```
///
/// Fair: tasks take the lock in the order they asked for it. `release()` hands the lock to the
/// longest-waiting task, so one that calls `acquire()` meanwhile waits its turn. A task
/// cancelled while it waits does not take the lock, and one cancelled after the lock was
/// handed to it, before it could run, hands it on: the lock is never stranded.
///
/// On its reactor's loop thread it takes no lock and allocates nothing unless it must wait;
/// from anywhere else it is still correct (the thread rule: the article "Coordination").
public final class Lock: Holdable, @unchecked Sendable {
    public let reactor: Reactor
    /// Free; held by a task; or handed by a release to a waiter that has not run yet (still
    /// locked, but nobody may release it until that waiter takes it).
    @usableFromInline
    enum State: UInt8 {
        case free, held, handedOver
    }

    @usableFromInline let waiters: WaitQueue
    @usableFromInline let stateValue = Atomic<UInt8>(State.free.rawValue)

    /// A lock on `reactor`, by default the one whose loop runs on this thread.
    public init(on reactor: Reactor? = nil) {
        self.reactor = Reactor.owner(reactor, of: "Lock()")
        waiters = WaitQueue(on: self.reactor)
        waiters.owner = self
    }

    /// True while a task holds the lock, or one it was handed to is about to.
    @inlinable public var isLocked: Bool { state != .free }

    @inlinable
    var state: State {
        get {
            switch stateValue.load(ordering: .relaxed) {
            case State.free.rawValue: .free
            case State.held.rawValue: .held
            default: .handedOver
            }
        }
        set { stateValue.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// Waits until the lock is free and the calling task's turn has come, then takes it. Throws
    /// `CancellationError` if the task is cancelled first (without the lock), and
    /// ``ReactorError`` (`.shutDown`) when the reactor shuts down.
    @inlinable
    public nonisolated(nonsending) func acquire(file: StaticString = #fileID, line: UInt = #line) async throws {
        if takeInPlace(#isolation) { return }
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { lock in try await lock.acquire() }
        }
        try await waitForHandOff(cancellable: true)
    }

    /// Takes the lock without waiting when the caller runs in place and it is free (free means
    /// nobody waits either: a release hands the lock to a waiter instead).
    @inlinable
    func takeInPlace(_ isolation: (any Actor)?) -> Bool {
        guard reactor.runsInPlace(isolation), state == .free else { return false }
        state = .held
        return true
    }

    /// Takes the lock back for a `Condition`, which must hold it again before it returns, even
    /// when its task was cancelled. On the loop thread.
    nonisolated(nonsending) func reacquire() async throws {
        if state == .free {
            state = .held
            return
        }
        try await waitForHandOff(cancellable: false)
    }

    @usableFromInline
    nonisolated(nonsending) func waitForHandOff(cancellable: Bool) async throws {
        // Woken, the lock is ours; a task cancelled meanwhile does not keep it.
        try await waiters.waitInTurn("Lock.acquire", cancellable: cancellable) {
            state = .held
            handOff()
        }
        state = .held
    }

    /// Releases the lock: the longest-waiting task gets it, or it becomes free. Throws
    /// ``ReactorError`` (`.invalidState`) when no task holds it (also while a release is
    /// handing it to a waiter), as asyncio raises `RuntimeError`. Any task may release it, as
    /// in asyncio, not only the one that took it.
    @inlinable
    public func release() throws {
        guard state == .held else { throw Self.notHeld("Lock.release") }
        reactor.runOnLoopNowOrNextTurn(self) { lock in lock.handOff() }
    }

    @usableFromInline
    static func notHeld(_ operation: String) -> ReactorError {
        .invalidState("\(operation): the lock is not held")
    }

    /// Runs `body` holding the lock (asyncio's `async with lock:`), and releases it however
    /// `body` ends: returning, throwing, or cancelled.
    @inlinable
    public nonisolated(nonsending) func withLock<T>(
        file: StaticString = #fileID, line: UInt = #line, _ body: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await holding(self, file: file, line: line, body)
    }

    /// Gives the lock to the first waiter, or frees it (loop thread).
    @usableFromInline
    func handOff() {
        guard state == .held else { return reactor.reportLateMisuse(Self.notHeld("Lock.release")) }
        state = waiters.wakeOne() ? .handedOver : .free
    }
}
