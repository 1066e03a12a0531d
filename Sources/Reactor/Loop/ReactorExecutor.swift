/// One unit of work for the loop: a task's job, or a callback.
///
/// Unchecked: a callback that crosses threads comes from `callSoonThreadsafe(_:)`, which takes only
/// `@Sendable` closures; the others (`callLater`) are made and run on the loop thread.
@usableFromInline
enum ReadyWork: @unchecked Sendable {
    /// A job enqueued on the reactor as a task executor (a task that prefers the reactor), or
    /// such a task woken from the parking lot.
    case job(UnownedJob)
    /// A job enqueued on the reactor's serial executor (an actor isolated to the loop), or
    /// such a task woken from the parking lot.
    case isolatedJob(UnownedJob)
    /// A task that yielded the loop (`consumeBudget`), to resume when the queue reaches it.
    case resume(UnsafeContinuation<WaitOutcome, Never>)
    case callback(() -> Void)
}

/// Work handed to the loop by other threads, and whether the loop still takes any.
struct Inbox {
    var work: [ReadyWork] = []
    var closed = false
    /// Work taken since the reactor started, for `Statistics`.
    var received: UInt64 = 0
}

/// The reactor is the executor of its tasks (the design article, "The reactor is the executor").
///
/// A job enqueued on the loop thread (every continuation the loop resumes, every task it
/// starts) goes on the local ready queue: no lock, no syscall. A job from another thread goes
/// through the locked inbox, and the eventfd is written only when the loop may be asleep.
extension Reactor: TaskExecutor, SerialExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if isOnLoopThread {
            readyQueue.append(.job(job))
        } else {
            enqueueFromOtherThread(.job(job))
        }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: isolation)
    }

    public func isSameExclusiveExecutionContext(other: Reactor) -> Bool {
        self === other
    }

    public func checkIsolated() {
        precondition(isOnLoopThread, "expected to run on the reactor's loop thread")
    }

    /// Hands work to the loop from another thread. Once the reactor has shut down, work goes
    /// where `handOverLate` sends it.
    @usableFromInline @discardableResult
    func enqueueFromOtherThread(_ work: ReadyWork) -> Bool {
        let accepted = inbox.withLock { inbox in
            if inbox.closed { return false }
            inbox.work.append(work)
            inbox.received &+= 1
            // Pairs with the loop's `sleeping.store(true)` then `remoteWorkPending.load()`:
            // with both sequentially consistent, either the loop sees the work or we see it
            // sleeping. The wake-up is written under the lock, so it cannot come after
            // `closeInbox()` and the eventfd's close.
            remoteWorkPending.store(true, ordering: .sequentiallyConsistent)
            if sleeping.load(ordering: .sequentiallyConsistent),
                sleeping.exchange(false, ordering: .sequentiallyConsistent)
            {
                poller.wake()
            }
            return true
        }
        if !accepted { handOverLate(work) }
        return accepted
    }

    /// Moves work from the inbox to the ready queue (loop thread).
    func drainInbox() {
        guard remoteWorkPending.load(ordering: .sequentiallyConsistent) else { return }
        remoteWorkPending.store(false, ordering: .sequentiallyConsistent)
        // Swap buffers so that neither side allocates in the steady state.
        inbox.withLock { inbox in swap(&inbox.work, &drainedInbox) }
        readyQueue.append(contentsOf: drainedInbox)
        drainedInbox.removeAll(keepingCapacity: true)
    }

    /// Stops taking work from other threads and returns what was still in the inbox.
    func closeInbox() -> [ReadyWork] {
        inbox.withLock { inbox in
            inbox.closed = true
            let work = inbox.work
            inbox.work = []
            return work
        }
    }

    /// Work that came after the loop's end: a task's job goes to the global executor and a job
    /// isolated to the loop runs on its own (`LoopIsolation.runLate`), so the task still
    /// finishes; a callback is dropped.
    func handOverLate(_ work: ReadyWork) {
        switch work {
        case .job(let job): globalConcurrentExecutor.enqueue(ExecutorJob(job))
        case .isolatedJob(let job): isolation.runLate(job)
        case .resume(let continuation): continuation.resume(returning: .ready)
        case .callback: break
        }
    }
}
