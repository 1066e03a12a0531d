/// Where a task in a `CancellationScope` parks for a wait on a handle: it switches onto the
/// lot's executor, which keeps nothing, since the waiter names the task already (its job is
/// the task, its scope's key). The wake-up puts that job on the ready queue, to run on the
/// executor the task came from (the design article, "Fast cancellation").
///
/// No continuation: the runtime neither builds one nor, at the wake-up, updates the task's
/// dependency record under its status lock. A task running on the loop that switches adds
/// that record without the lock, and nothing changes it until the task runs again.
@usableFromInline
actor ParkingLot {
    private let executor = ParkingExecutor()
    /// Stored: every park reads it, through the `Actor` protocol.
    @usableFromInline nonisolated let unownedExecutor: UnownedSerialExecutor

    init() {
        unownedExecutor = executor.asUnownedSerialExecutor()
    }

    /// Entered through the switch onto the lot's executor; goes on when the loop runs the
    /// task's job (on the loop's executor), and answers what woke it. Its read of the scope
    /// keeps the optimizer from removing the switch, which is the park.
    @usableFromInline
    func park(_ scope: Unmanaged<CancellationScope>) -> WaitOutcome {
        scope._withUnsafeGuaranteedRef { $0.outcome }
    }
}

/// The parking lot's executor: the runtime enqueues a parking task's job on it from within
/// that task's switch, on the loop thread, and the job is dropped here, its task parked.
final class ParkingExecutor: SerialExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        _ = UnownedJob(job)
    }
}

extension Reactor {
    /// Whether the running task parks in its scope through the parking lot, and if so, marks
    /// whether it comes back isolated to the loop. It must be the scope's task: the loop finds
    /// the scope by the job it runs, and a task started inside that job (`Task.immediate`) is
    /// not the job's task. And it must run outside any actor (a task that prefers the reactor,
    /// or the loop's own job) or isolated to the loop: a task in another actor comes back
    /// through that actor. The others park with a handler of their own.
    @inline(__always)
    func parksInTheLot(_ scope: CancellationScope, inActor: Bool) -> Bool {
        #if PortableCancellation
        return false  // that path has no scopes
        #else
        if inActor && !runningIsolated { return false }
        guard currentTask() == scope.key else { return false }
        scope.resumesIsolated = inActor
        return true
        #endif
    }

    /// Resumes a parked waiter with `outcome` (loop thread): its continuation, or, for a task
    /// parked through the parking lot, its job onto the ready queue, to run on the executor
    /// it parked from, with the outcome in its scope.
    @inline(__always)
    func wake(_ waiter: Waiter, _ outcome: WaitOutcome) {
        guard let scope = waiter.scope else { return waiter.continuation.resume(returning: outcome) }
        scope._withUnsafeGuaranteedRef { scope in
            scope.outcome = outcome
            let job = unsafeBitCast(scope.key, to: UnownedJob.self)
            readyQueue.append(scope.resumesIsolated ? .isolatedJob(job) : .job(job))
        }
    }
}
