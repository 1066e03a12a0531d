/// Parking with a cancellation handler, for the waits of every message: sockets and timers.
///
/// `withTaskCancellationHandler` takes an `isolation` parameter and runs its operation as a
/// closure, and `withUnsafeContinuation` hops to its `isolation` after resuming: in a task with
/// an executor preference each of those executor switches locks the task's status. Counted
/// with uprobes on the reactor-sock echo server, they were 4 `swift_task_switch` per message;
/// this makes it 1 (the return to the caller's executor after the wait). In reactor-bench the
/// server's CPU per message went from 1.12-1.16x the C floor's (two runs) to a median of 1.09x
/// (five runs, 1.06-1.17x).
///
/// So this calls the two runtime entry points `withTaskCancellationHandler` wraps (through
/// trampolines in CReactor.c: a Swift declaration may not name a runtime symbol), and the
/// continuation form that inherits its caller's executor.
@_silgen_name("cr_task_add_cancellation_handler")
private func addCancellationHandler(handler: () -> Void) -> UnsafeRawPointer?

@_silgen_name("cr_task_remove_cancellation_handler")
private func removeCancellationHandler(record: UnsafeRawPointer)

extension Reactor {
    /// Parks the current task in `park`, which must store the continuation or resume it, with
    /// `onCancel` installed as the task's cancellation handler until the task resumes.
    ///
    /// As with `withTaskCancellationHandler`, `onCancel` runs at once when the task is already
    /// cancelled (before `park`, which checks `Task.isCancelled` for that reason; the runtime
    /// then keeps no record), else on the thread that cancels the task, at most once.
    ///
    /// Not inlined, and not generic: the record comes from the task's stack allocator, so
    /// nothing the compiler allocates there may be made between adding and removing it, and
    /// `onCancel`'s context must live in this frame until the record is gone.
    @inline(never)
    nonisolated(nonsending) func parkCancellably(
        onCancel: @Sendable () -> Void, park: (UnsafeContinuation<WaitOutcome, Never>) -> Void
    ) async -> WaitOutcome {
        let record = addCancellationHandler(handler: onCancel)
        let outcome = await _unsafeInheritExecutor_withUnsafeContinuation(park)
        if let record { removeCancellationHandler(record: record) }
        return outcome
    }
}
