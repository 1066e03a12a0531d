import CReactor

/// Parking a task on the loop with a cancellation handler: the way every wait of the reactor
/// suspends (handle directions, timers, `WaitQueue`, the blocking pool's callers), but a wait
/// on a handle in the task's `CancellationScope`, which parks through the `ParkingLot`.
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
    /// Whether waits park through the runtime's private entry points (else the trait
    /// `PortableCancellation` is on).
    @usableFromInline
    package static var parksThroughTheRuntime: Bool {
        #if PortableCancellation
        false
        #else
        true
        #endif
    }

    /// Whether a task running isolated to the loop parks without leaving the actor, so that
    /// its calls may run in place: a check and the wait that follows it must not let the
    /// actor run other jobs in between. Always on the fast path, which parks in the caller's
    /// executor. The portable path parks through functions isolated to the caller's actor;
    /// the runtime enters each of them without a switch only when the task executor it runs
    /// on is the task's preference, and an actor's jobs run on none, so there a task that
    /// prefers an executor hops.
    @inlinable
    package static var parksWithoutLeavingTheActor: Bool {
        #if PortableCancellation
        withUnsafeCurrentTask { $0?.unownedTaskExecutor == nil }
        #else
        true
        #endif
    }

    /// Parks the current task in `park`, which must store the continuation or resume it,
    /// without a cancellation handler: for a wait that nothing cancels (a yield of the loop).
    /// Returns `.offLoop` without calling `park` for a task that would not come back to the
    /// loop (see `comesBackToTheLoop`).
    @inline(__always)
    nonisolated(nonsending) static func parkWithoutHandler(_ park: (UnsafeContinuation<WaitOutcome, Never>) -> Void) async -> WaitOutcome {
        let isolation = #isolation
        #if PortableCancellation
        return await withUnsafeContinuation { continuation in
            guard comesBackToTheLoop(continuation, inActor: isolation != nil) else { return continuation.resume(returning: .offLoop) }
            park(continuation)
        }
        #else
        return await _unsafeInheritExecutor_withUnsafeContinuation { continuation in
            guard resumesWhereItRuns(continuation, inActor: isolation != nil) else { return continuation.resume(returning: .offLoop) }
            park(continuation)
        }
        #endif
    }

    /// Whether the task parking with `continuation` comes back to this thread's loop after
    /// the wait (true off any loop thread): not a task outside any actor that runs inside
    /// another task's job, as one started with `Task.immediate` does until it first parks,
    /// without the reactor as its executor preference. After the wait the runtime returns
    /// such a task to the generic executor, which for a task without a preference is the
    /// global one, off the loop. A wait that must resume on the loop refuses it (`.offLoop`).
    @inline(__always)
    static func comesBackToTheLoop(_ continuation: UnsafeContinuation<WaitOutcome, Never>, inActor: Bool) -> Bool {
        comesBackToTheLoop(task: unsafeBitCast(continuation, to: UInt.self), inActor: inActor)
    }

    /// `comesBackToTheLoop` for the running task, asked before a wait that changes state
    /// first (a `Condition` hands its lock off): it looks the task up through the runtime.
    static func runningTaskComesBackToTheLoop(inActor: Bool) -> Bool {
        guard !inActor, cr_current_reactor() != nil else { return true }
        return withUnsafeCurrentTask { comesBackToTheLoop(task: $0.map { unsafeBitCast($0, to: UInt.self) } ?? 0, inActor: false) }
    }

    @inline(__always)
    private static func comesBackToTheLoop(task: UInt, inActor: Bool) -> Bool {
        guard !inActor, let current = cr_current_reactor() else { return true }
        return Unmanaged<Reactor>.fromOpaque(current)._withUnsafeGuaranteedRef { comesBack(task: task, to: $0) }
    }

    /// Whether `task`, outside any actor on `reactor`'s thread, comes back to it after a wait:
    /// it runs as the loop's own job, or prefers the reactor.
    @inline(__always)
    private static func comesBack(task: UInt, to reactor: Reactor) -> Bool {
        reactor.runningJob == task || prefersReactor(reactor)
    }

    /// Whether the running task has `reactor` as its executor preference.
    private static func prefersReactor(_ reactor: Reactor) -> Bool {
        guard let preference = withUnsafeCurrentTask(body: { $0?.unownedTaskExecutor }) else { return false }
        return unsafeBitCast(preference, to: (UInt, UInt).self) == unsafeBitCast(reactor.asUnownedTaskExecutor(), to: (UInt, UInt).self)
    }

    #if PortableCancellation
    /// Parks the current task in `park`, which must store the continuation or resume it, with
    /// `onCancel` installed as the task's cancellation handler until the task resumes.
    ///
    /// `onCancel` runs at once when the task is already cancelled (before `park`, which
    /// checks `Task.isCancelled` for that reason), else on the thread that cancels the task,
    /// at most once. Unless `returnsToTheLoop` is false, returns `.offLoop` without calling
    /// `park` for a task that would not come back to the loop (see `comesBackToTheLoop`).
    nonisolated(nonsending) static func park(
        returnsToTheLoop: Bool = true, onCancel: @Sendable () -> Void, park: (UnsafeContinuation<WaitOutcome, Never>) -> Void
    ) async -> WaitOutcome {
        await Self.park(isolatedTo: #isolation, returnsToTheLoop: returnsToTheLoop, onCancel: onCancel, park)
    }

    /// The operation captures `isolation`, so it parks in the caller's actor rather than on
    /// the generic executor. The continuation resumes on the generic executor, and the task
    /// returns to the actor from there: for a task without a preference, through the global
    /// pool.
    private static func park(
        isolatedTo isolation: isolated (any Actor)?, returnsToTheLoop: Bool, onCancel: @Sendable () -> Void,
        _ park: (UnsafeContinuation<WaitOutcome, Never>) -> Void
    ) async -> WaitOutcome {
        await withTaskCancellationHandler(
            operation: {
                _ = isolation
                return await withUnsafeContinuation(isolation: isolation) { continuation in
                    guard !returnsToTheLoop || comesBackToTheLoop(continuation, inActor: isolation != nil) else {
                        return continuation.resume(returning: .offLoop)
                    }
                    park(continuation)
                }
            }, onCancel: onCancel, isolation: isolation)
    }
    #else
    /// Parks the current task in `park`, which must store the continuation or resume it, with
    /// `onCancel` installed as the task's cancellation handler until the task resumes.
    ///
    /// `onCancel` runs at once when the task is already cancelled (before `park`, which
    /// checks `Task.isCancelled` for that reason; the runtime then keeps no record), else on
    /// the thread that cancels the task, at most once. Unless `returnsToTheLoop` is false,
    /// returns `.offLoop` without calling `park` for a task that would not come back to the
    /// loop (see `comesBackToTheLoop`).
    ///
    /// Not inlined, and not generic: the record comes from the task's stack allocator, so
    /// nothing the compiler allocates there may be made between adding and removing it, and
    /// `onCancel`'s context must live in this frame until the record is gone.
    @inline(never)
    nonisolated(nonsending) static func park(
        returnsToTheLoop: Bool = true, onCancel: @Sendable () -> Void, park: (UnsafeContinuation<WaitOutcome, Never>) -> Void
    ) async -> WaitOutcome {
        let record = addCancellationHandler(handler: onCancel)
        // The runtime gives no record only to a task that is already cancelled (it ran the
        // handler instead). A record missing otherwise means its entry points changed: stop
        // here rather than let a wait corrupt the task.
        if record == nil && !Task.isCancelled {
            fatalError("swift_task_addCancellationHandler returned no record for a running task: build with the PortableCancellation trait")
        }
        let isolation = #isolation
        let outcome = await _unsafeInheritExecutor_withUnsafeContinuation { continuation in
            guard resumesWhereItRuns(continuation, inActor: isolation != nil) || !returnsToTheLoop else {
                return continuation.resume(returning: .offLoop)
            }
            park(continuation)
        }
        if let record { removeCancellationHandler(record: record) }
        return outcome
    }

    /// Makes `continuation` resume its task on the executor it runs on now, as the "inherit
    /// executor" continuation promises, and answers `comesBackToTheLoop` (writing nothing
    /// for a task that does not).
    ///
    /// The runtime resumes on the executor in the continuation's context, which it sets to
    /// the generic one; for a task with an executor preference it looks the preference up
    /// under the task's status lock to find the loop again. So a task parked outside any actor
    /// is set to resume on the reactor itself as a serial executor, whose `enqueue` queues the
    /// job as the task executor's: the same job, without the lookup; and one isolated to the
    /// loop on `LoopIsolation`. A task in another actor (one that runs on the loop thread
    /// because its task prefers the reactor) resumes where it would have, in that actor.
    @inline(__always)
    static func resumesWhereItRuns(_ continuation: UnsafeContinuation<WaitOutcome, Never>, inActor: Bool) -> Bool {
        // The continuation is its task; the task's resume context follows the 64-byte job
        // header, and the context's ResumeToExecutor (public ABI) is at offset 48.
        let task = unsafeBitCast(continuation, to: UnsafeMutableRawPointer.self)
        guard let current = cr_current_reactor() else { return true }
        return Unmanaged<Reactor>.fromOpaque(current)._withUnsafeGuaranteedRef { reactor in
            let executor: UnownedSerialExecutor
            if inActor {
                // In an isolated job of the loop's, an actor's code is the loop actor's: a
                // custom executor's job never lends its thread to another actor (the crossing
                // rule, `runsInPlace`, holds the same).
                guard reactor.runningIsolated else { return true }
                executor = reactor.asUnownedSerialExecutor()
            } else {
                guard comesBack(task: UInt(bitPattern: task), to: reactor) else { return false }
                executor = UnownedSerialExecutor(ordinary: reactor)
            }
            let context = task.load(fromByteOffset: 64, as: UnsafeMutableRawPointer.self)
            context.storeBytes(of: executor, toByteOffset: 48, as: UnownedSerialExecutor.self)
            return true
        }
    }
    #endif
}

#if !PortableCancellation
@_silgen_name("cr_task_add_cancellation_handler")
func addCancellationHandler(handler: () -> Void) -> UnsafeRawPointer?

@_silgen_name("cr_task_remove_cancellation_handler")
func removeCancellationHandler(record: UnsafeRawPointer)

@_silgen_name("cr_task_current")
func currentTask() -> UInt
#endif
