/// Parking a task on the loop with a cancellation handler: the one way every wait of the
/// reactor suspends (handle directions, timers, `WaitQueue`, the blocking pool's callers).
///
/// Two implementations, one switch (the package trait `PortableCancellation`; the design
/// article, "Fast cancellation"):
///
/// - By default, the fast path: `withTaskCancellationHandler` runs its operation as a closure
///   with an `isolation` parameter, and `withUnsafeContinuation` hops to its `isolation` after
///   resuming; in a task with an executor preference each of those executor switches locks
///   the task's status. This calls the two runtime entry points `withTaskCancellationHandler`
///   wraps (through trampolines in CReactor.c: a Swift declaration may not name a runtime
///   symbol) and the continuation form that inherits its caller's executor, so a wait costs
///   one switch (the return to the caller's executor).
/// - With the trait, the public `withTaskCancellationHandler` and `withUnsafeContinuation`:
///   slower, and relying on nothing private. CI runs the whole suite both ways.
extension Reactor {
    /// Parks the current task in `park`, which must store the continuation or resume it,
    /// without a cancellation handler: for a task whose `CancellationScope` has one.
    @inline(__always)
    nonisolated(nonsending) static func parkInScope(_ park: (UnsafeContinuation<WaitOutcome, Never>) -> Void) async -> WaitOutcome {
        #if PortableCancellation
        await withUnsafeContinuation(park)
        #else
        await _unsafeInheritExecutor_withUnsafeContinuation(park)
        #endif
    }

    #if PortableCancellation
    /// Parks the current task in `park`, which must store the continuation or resume it, with
    /// `onCancel` installed as the task's cancellation handler until the task resumes.
    ///
    /// `onCancel` runs at once when the task is already cancelled (before `park`, which
    /// checks `Task.isCancelled` for that reason), else on the thread that cancels the task,
    /// at most once.
    nonisolated(nonsending) static func park(
        onCancel: @Sendable () -> Void, park: (UnsafeContinuation<WaitOutcome, Never>) -> Void
    ) async -> WaitOutcome {
        await withTaskCancellationHandler {
            await withUnsafeContinuation(park)
        } onCancel: {
            onCancel()
        }
    }
    #else
    /// Parks the current task in `park`, which must store the continuation or resume it, with
    /// `onCancel` installed as the task's cancellation handler until the task resumes.
    ///
    /// `onCancel` runs at once when the task is already cancelled (before `park`, which
    /// checks `Task.isCancelled` for that reason; the runtime then keeps no record), else on
    /// the thread that cancels the task, at most once.
    ///
    /// Not inlined, and not generic: the record comes from the task's stack allocator, so
    /// nothing the compiler allocates there may be made between adding and removing it, and
    /// `onCancel`'s context must live in this frame until the record is gone.
    @inline(never)
    nonisolated(nonsending) static func park(
        onCancel: @Sendable () -> Void, park: (UnsafeContinuation<WaitOutcome, Never>) -> Void
    ) async -> WaitOutcome {
        let record = addCancellationHandler(handler: onCancel)
        // The runtime gives no record only to a task that is already cancelled (it ran the
        // handler instead). A record missing otherwise means its entry points changed: stop
        // here rather than let a wait corrupt the task.
        if record == nil && !Task.isCancelled {
            fatalError("swift_task_addCancellationHandler returned no record for a running task: build with the PortableCancellation trait")
        }
        let outcome = await _unsafeInheritExecutor_withUnsafeContinuation(park)
        if let record { removeCancellationHandler(record: record) }
        return outcome
    }
    #endif
}

#if !PortableCancellation
@_silgen_name("cr_task_add_cancellation_handler")
func addCancellationHandler(handler: () -> Void) -> UnsafeRawPointer?

@_silgen_name("cr_task_remove_cancellation_handler")
func removeCancellationHandler(record: UnsafeRawPointer)
#endif
