import CReactor

/// Timers on the loop's own heap: `sleep(for:)` (asyncio.sleep), `callLater` (loop.call_later)
/// and `withTimeout` (asyncio.wait_for). The loop runs due timers every turn.
extension Reactor {
    /// Suspends the calling task for at least `duration` (asyncio.sleep).
    /// Throws `CancellationError` promptly if the task is cancelled, or the reactor shuts down.
    public nonisolated(nonsending) func sleep(for duration: Duration, file: StaticString = #fileID, line: UInt = #line) async throws {
        try await runOnLoop((self, duration), file: file, line: line) { arguments in
            try await arguments.0.sleepOnLoop(for: arguments.1)
        }
    }

    private nonisolated(nonsending) func sleepOnLoop(for duration: Duration) async throws {
        let deadline = deadline(after: duration)
        let handle = timers.reserve()
        let outcome = await Self.park {
            self.runOnLoopNowOrNextTurn((self, handle)) { reactor, handle in
                if case .resume(let continuation) = reactor.timers.cancel(handle) {
                    continuation.resume(returning: .cancelled)
                }
            }
        } park: { (continuation: UnsafeContinuation<WaitOutcome, Never>) in
            if Task.isCancelled || !timers.schedule(handle, at: deadline, .resume(continuation)) {
                _ = timers.cancel(handle)
                continuation.resume(returning: .cancelled)
            }
        }
        if outcome != .ready || !isOnLoopThread { try unfinishedSleep(outcome, handle) }
    }

    /// What a sleep that was refused, cancelled or resumed off the loop thread throws. Out of
    /// line: the errors it builds would take room in the sleeping task's frame.
    @inline(never)
    private func unfinishedSleep(_ outcome: WaitOutcome, _ handle: TimerHandle) throws {
        if outcome == .offLoop {
            _ = timers.cancel(handle)
            throw ReactorError.offLoop("sleep")
        }
        if !isOnLoopThread { try resumedOffLoop("a sleep") }
        if outcome != .ready { throw CancellationError() }
    }

    /// Now plus `duration` on the monotonic clock, saturating.
    func deadline(after duration: Duration) -> Int64 {
        let (sum, overflow) = cr_monotonic_ns().addingReportingOverflow(max(0, duration.nanoseconds))
        return overflow ? .max : sum
    }

    /// Calls `callback` on the loop thread after `delay` (loop.call_later). Must be called on
    /// the loop thread, as asyncio's call_later is; from elsewhere use `callSoonThreadsafe` first.
    @discardableResult
    public func callLater(_ delay: Duration, _ callback: @escaping () -> Void) -> TimerHandle {
        assertOnLoop("callLater")
        return timers.schedule(at: deadline(after: delay), .callback(callback))
    }

    /// Cancels a timer from `callLater`. Returns false if it already fired or was cancelled.
    @discardableResult
    public func cancelTimer(_ handle: TimerHandle) -> Bool {
        assertOnLoop("cancelTimer")
        return timers.cancel(handle) != nil
    }

    /// Runs `operation` and returns its result, or cancels it and throws `ReactorError`
    /// (`.timedOut`) once
    /// `timeout` has passed (asyncio.wait_for). The operation runs as a child task on this
    /// reactor; like wait_for, this returns only after a cancelled operation has finished.
    public func withTimeout<T: Sendable>(
        _ timeout: Duration, operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(executorPreference: self) { try await operation() }
            group.addTask(executorPreference: self) {
                try await self.sleep(for: timeout)
                throw ReactorError.timedOut(after: timeout)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
