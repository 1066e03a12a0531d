/// One cancellation handler for a task's whole life, instead of one per wait: the task's
/// waits on handles park without a handler of their own, and the scope's handler cancels
/// whichever of them is parked when the task is cancelled. Adding and removing a handler
/// takes the task's status lock; a connection task waits on its socket for every message.
///
/// The handler's hop onto the loop marks the scope cancelled and cancels the wait parked then,
/// if any; a wait that begins after the hop sees the mark and does not park. Both run on the
/// loop thread, so one of the two always holds.
@usableFromInline
package final class CancellationScope: @unchecked Sendable {  // touched on the loop thread only
    /// The wait of the scope's task that is parked now, if any.
    var parked: (fd: Int32, generation: UInt32, interest: Interest, id: UInt64)?
    /// Set by the cancellation handler's hop onto the loop.
    var isCancelled = false
    /// For a wait parked through the parking lot: whether the task runs isolated to the loop
    /// (else it prefers the reactor), and what woke it.
    var resumesIsolated = false
    var outcome = WaitOutcome.ready
    /// The task's cancellation handler, kept here for as long as the runtime holds it.
    var onCancel: (@Sendable () -> Void)?
    var record: UnsafeRawPointer?
    let key: UInt

    init(key: UInt) {
        self.key = key
    }
}

extension Reactor {
    /// Gives the running task, on this reactor's loop, one cancellation handler for every wait
    /// on a handle it makes until `exitCancellationScope` (see `CancellationScope`); tasks it
    /// starts keep the usual handler per wait. A pair of calls, not a function that wraps the
    /// task's work: a connection's task keeps its frames under all of its waits, and a wrapper's
    /// would take them past the task's first slab. Between the two, the task's own frame may
    /// not allocate on the task (`async let`): the handler comes from the task's allocator.
    ///
    /// On the portable cancellation path, there is no scope: each wait has its handler.
    package func enterCancellationScope() -> CancellationScope? {
        #if PortableCancellation
        return nil
        #else
        assertOnLoop("enterCancellationScope")
        guard let task = withUnsafeCurrentTask(body: { $0 }) else { return nil }
        let scope = CancellationScope(key: unsafeBitCast(task, to: UInt.self))
        scope.onCancel = { [self] in
            _ = runOnLoopNowOrNextTurn((self, scope)) { reactor, scope in
                scope.isCancelled = true
                guard let parked = scope.parked else { return }
                reactor.cancelWait(fd: parked.fd, generation: parked.generation, interest: parked.interest, id: parked.id)
            }
        }
        scope.record = addCancellationHandler(handler: scope.onCancel!)
        // No record: the task was cancelled already (the handler ran), and each wait sees it.
        if scope.record == nil && !Task.isCancelled {
            fatalError("swift_task_addCancellationHandler returned no record for a running task: build with the PortableCancellation trait")
        }
        cancellationScopes.insert(scope, for: scope.key)
        return scope
        #endif
    }

    /// Ends the scope `enterCancellationScope` gave the running task.
    package func exitCancellationScope(_ scope: CancellationScope?) {
        #if !PortableCancellation
        guard let scope else { return }
        if let record = scope.record { removeCancellationHandler(record: record) }
        cancellationScopes.remove(scope.key)
        scope.onCancel = nil
        #endif
    }

    /// The scope of the task whose job the loop runs now (a task's job is the task itself), if
    /// it has one (loop thread). Unretained: the table holds it until that task exits it.
    @inline(__always)
    func currentCancellationScope() -> Unmanaged<CancellationScope>? {
        cancellationScopes.scope(of: runningJob)
    }
}
