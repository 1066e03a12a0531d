import Synchronization

/// asyncio's `Semaphore`: a count of permits that tasks take and give back, on one reactor.
///
/// ```swift
/// let connections = try Semaphore(value: 100)     // at most 100 at once
/// try await connections.withPermit { try await fetch(url) }
/// ```
///
/// Fair, and without asyncio's old starvation (bpo-45997): `release()` hands its permit to the
/// longest-waiting task, so a task that calls `acquire()` meanwhile cannot take it first. A
/// task cancelled after the permit was handed to it, before it could run, hands it on.
///
/// On its reactor's loop thread it takes no lock and allocates nothing unless it must wait;
/// from anywhere else it is still correct (the thread rule: the article "Coordination").
public class Semaphore: Holdable, @unchecked Sendable {
    public let reactor: Reactor
    @usableFromInline let waiters: WaitQueue
    /// Free permits. While tasks wait there are none: a release hands its permit over.
    @usableFromInline let permits: Atomic<Int>
    /// The most permits `release()` may make free (`BoundedSemaphore`), or nil.
    @usableFromInline let bound: Int?

    /// A semaphore with `value` permits on `reactor`, by default the one whose loop runs on
    /// this thread. Throws ``ReactorError`` (`.invalidArgument`) for a negative value.
    public convenience init(value: Int = 1, on reactor: Reactor? = nil) throws {
        try self.init(value: value, bound: nil, on: reactor, name: "Semaphore")
    }

    init(value: Int, bound: Int?, on reactor: Reactor?, name: String) throws {
        guard value >= 0 else { throw ReactorError.invalidArgument("\(name)(value: \(value)): the value must be 0 or more") }
        self.reactor = Reactor.owner(reactor, of: "\(name)()")
        waiters = WaitQueue(on: self.reactor)
        permits = Atomic(value)
        self.bound = bound
        waiters.owner = self
    }

    /// How many permits are free.
    @inlinable public final var value: Int { permits.load(ordering: .relaxed) }

    /// True when `acquire()` would wait.
    @inlinable public final var isLocked: Bool { value == 0 }

    /// Takes a permit, waiting for one (in turn) when none is free. Throws `CancellationError`
    /// if the task is cancelled first (without a permit), and ``ReactorError`` (`.shutDown`)
    /// when the reactor shuts down.
    @inlinable
    public final nonisolated(nonsending) func acquire(file: StaticString = #fileID, line: UInt = #line) async throws {
        if takeInPlace(#isolation) { return }
        guard reactor.runsInPlace(#isolation) else {
            return try await reactor.runOnLoop(self, file: file, line: line) { semaphore in try await semaphore.acquire() }
        }
        try await waitForHandOff()
    }

    /// Takes a permit without waiting when the caller runs in place and one is free (while
    /// tasks wait, none is: a release hands its permit over).
    @inlinable
    final func takeInPlace(_ isolation: (any Actor)?) -> Bool {
        let free = value
        guard free > 0, reactor.runsInPlace(isolation) else { return false }
        permits.store(free - 1, ordering: .relaxed)
        return true
    }

    /// Parks until a release hands this task its permit (loop thread).
    @usableFromInline
    final nonisolated(nonsending) func waitForHandOff() async throws {
        try await waiters.waitInTurn("Semaphore.acquire") { handOff() }
    }

    /// Gives a permit back: to the longest-waiting task, or to the count. A
    /// `BoundedSemaphore` throws ``ReactorError`` (`.invalidState`) when that would make more
    /// permits free than it started with.
    @inlinable
    public final func release() throws {
        if let bound, value >= bound { throw overRelease }
        reactor.runOnLoopNowOrNextTurn(self) { semaphore in semaphore.handOff() }
    }

    /// Runs `body` holding a permit (asyncio's `async with semaphore:`), and gives it back
    /// however `body` ends: returning, throwing, or cancelled.
    @inlinable
    public final nonisolated(nonsending) func withPermit<T>(
        file: StaticString = #fileID, line: UInt = #line, _ body: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await holding(self, file: file, line: line, body)
    }

    @usableFromInline
    final func handOff() {
        if waiters.wakeOne() { return }
        let free = value
        if let bound, free >= bound { return reactor.reportLateMisuse(overRelease) }
        permits.store(free + 1, ordering: .relaxed)
    }

    @usableFromInline
    final var overRelease: ReactorError {
        .invalidState("BoundedSemaphore.release: released more times than acquired (its value is \(bound ?? 0))")
    }
}
