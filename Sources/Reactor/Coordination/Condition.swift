/// asyncio's `Condition`: tasks wait, holding a ``Lock``, until another task notifies them.
///
/// ```swift
/// try await condition.withLock {
///     try await condition.wait(for: { !items.isEmpty })
///     use(items.removeFirst())
/// }
/// ```
///
/// `wait()` releases the lock, waits for a notification and takes the lock back before it
/// returns, also when it throws because its task was cancelled (as asyncio's does). A waiter
/// that was notified and cancelled before it could run passes the notification on.
public final class Condition: @unchecked Sendable {
    public let reactor: Reactor
    /// The lock the condition waits with: its own, or the one it was given (to share it).
    public let lock: Lock
    let waiters: WaitQueue

    /// A condition over `lock` (by default a new one) on `lock`'s reactor, else on `reactor`,
    /// else on the one whose loop runs on this thread.
    public init(lock: Lock? = nil, on reactor: Reactor? = nil) {
        let lock = lock ?? Lock(on: Reactor.owner(reactor, of: "Condition()"))
        precondition(reactor == nil || reactor === lock.reactor, "Condition(lock:on:): the lock belongs to another reactor")
        self.reactor = lock.reactor
        self.lock = lock
        waiters = WaitQueue(on: lock.reactor)
        waiters.owner = self
    }

    /// True while a task holds the lock.
    public var isLocked: Bool { lock.isLocked }

    /// Takes the lock (``Lock/acquire(file:line:)``).
    public nonisolated(nonsending) func acquire(file: StaticString = #fileID, line: UInt = #line) async throws {
        try await lock.acquire(file: file, line: line)
    }

    /// Releases the lock (``Lock/release()``).
    public func release() throws {
        try lock.release()
    }

    /// Runs `body` holding the lock (``Lock/withLock(file:line:_:)``).
    public nonisolated(nonsending) func withLock<T>(
        file: StaticString = #fileID, line: UInt = #line, _ body: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await lock.withLock(file: file, line: line, body)
    }

    /// Releases the lock, waits until notified, and takes the lock back. Throws
    /// ``ReactorError`` (`.invalidState`) when the lock is not held, and `CancellationError`
    /// when the task is cancelled, with the lock held again; at shutdown
    /// (``ReactorError``, `.shutDown`) the lock is not taken back.
    public nonisolated(nonsending) func wait(file: StaticString = #fileID, line: UInt = #line) async throws {
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { condition in try await condition.wait() }
        }
        guard lock.state == .held else { throw Lock.notHeld("Condition.wait") }
        // Asked before the lock is handed off: a refused park would leave it given away.
        let isolation = #isolation
        guard Reactor.runningTaskComesBackToTheLoop(inActor: isolation != nil) else { throw ReactorError.offLoop("Condition.wait") }
        lock.handOff()
        let outcome = await waiters.park()
        assert(outcome != .offLoop, "the check above refuses what the park would")
        if outcome == .closed { throw ReactorError.shutDown("Condition.wait") }
        try await lock.reacquire()
        if outcome == .cancelled { throw CancellationError() }
        // Notified, but cancelled before it could return (or while it took the lock back):
        // the notification goes to the next waiter.
        if Task.isCancelled {
            waiters.wakeOne()
            throw CancellationError()
        }
    }

    /// Waits (``wait(file:line:)``) until `predicate` holds; it is called with the lock held,
    /// first before any wait.
    public nonisolated(nonsending) func wait(
        for predicate: () -> Bool, file: StaticString = #fileID, line: UInt = #line
    ) async throws {
        while !predicate() { try await wait(file: file, line: line) }
    }

    /// Wakes up to `count` waiting tasks (asyncio's `notify(n)`). Throws ``ReactorError``:
    /// `.invalidArgument` for a negative count, `.invalidState` when the lock is not held.
    public func notify(_ count: Int = 1) throws {
        guard count >= 0 else { throw ReactorError.invalidArgument("Condition.notify(\(count)): the count must be 0 or more") }
        guard lock.state == .held else { throw Lock.notHeld("Condition.notify") }
        reactor.runOnLoopNowOrNextTurn((self, count)) { condition, count in
            var woken = 0
            while woken < count, condition.waiters.wakeOne() { woken += 1 }
        }
    }

    /// Wakes every waiting task. Throws ``ReactorError`` (`.invalidState`) when the lock is not
    /// held.
    public func notifyAll() throws {
        guard lock.state == .held else { throw Lock.notHeld("Condition.notifyAll") }
        reactor.runOnLoopNowOrNextTurn(self) { condition in condition.waiters.wakeAll() }
    }
}
