/// One unit of work for the loop: a task's job, or a callback.
///
/// Unchecked: a callback that crosses threads comes from `callSoonThreadsafe(_:)`, which takes only
/// `@Sendable` closures; the others (`callLater`) are made and run on the loop thread.
@usableFromInline
enum ReadyWork: @unchecked Sendable {
    case job(UnownedJob)
    case callback(() -> Void)
}

/// Work handed to the loop by other threads, and whether the loop still takes any.
struct Inbox {
    var work: [ReadyWork] = []
    var closed = false
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
        UnownedSerialExecutor(ordinary: self)
    }

    public func isSameExclusiveExecutionContext(other: Reactor) -> Bool {
        self === other
    }

    public func checkIsolated() {
        precondition(isOnLoopThread, "expected to run on the reactor's loop thread")
    }

    /// Hands work to the loop from another thread. Once the reactor has shut down, jobs go to
    /// the global executor (so their tasks still finish) and callbacks are dropped.
    @usableFromInline @discardableResult
    func enqueueFromOtherThread(_ work: ReadyWork) -> Bool {
        let accepted = inbox.withLock { inbox in
            if inbox.closed { return false }
            inbox.work.append(work)
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
        if !accepted, case .job(let job) = work {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
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
}
