import CReactor
import Synchronization

/// The reactor's serial executor (`reactor.asUnownedSerialExecutor()`): an actor whose
/// `unownedExecutor` it is runs isolated to the loop, on the loop's thread, and calls every
/// operation of the reactor in place (the crossing rule). Its tasks need no executor
/// preference, so the runtime takes no lock of theirs to look one up on each resumption
/// (the design article, "Actors isolated to the loop").
///
/// An object of its own, not the reactor: the runtime enqueues a job on the reactor both as
/// a task executor (a job that only prefers the loop) and as this serial executor (a job
/// that must run isolated to it), through the same `enqueue`, and the loop must run each the
/// way it came.
final class LoopIsolation: SerialExecutor, @unchecked Sendable {
    /// Set once, as the reactor is made, before any other thread sees it.
    var reactor: Unmanaged<Reactor>!
    /// Jobs that came after the loop's end, and whether a thread is running them.
    private let late = Mutex<(jobs: [UnownedJob], running: Bool)>(([], false))

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        reactor._withUnsafeGuaranteedRef { reactor in
            if reactor.isOnLoopThread {
                reactor.readyQueue.append(.isolatedJob(job))
            } else {
                reactor.enqueueFromOtherThread(.isolatedJob(job))
            }
        }
    }

    func checkIsolated() {
        reactor._withUnsafeGuaranteedRef { reactor in
            precondition(reactor.isOnLoopThread, "expected to run on the reactor's loop thread")
        }
    }

    /// Runs a job that came after the loop's end (its task was woken by the shutdown, or
    /// called the actor later), so that the task still finishes, as a task that prefers the
    /// reactor does on the global executor: on a thread of its own, one job at a time for all
    /// of them, so the actor stays serial. Never inside `enqueue`: the runtime enqueues a task
    /// from within that task's own switch, and a job run there could end the task under the
    /// frames that switched it. The reactor's operations refuse it (`.shutDown`).
    func runLate(_ job: UnownedJob) {
        let starts = late.withLock { late in
            late.jobs.append(job)
            if late.running { return false }
            late.running = true
            return true
        }
        guard starts else { return }
        // The jobs may call the reactor after its owner let it go: it lives until they ran.
        _ = reactor.retain()
        let started = cr_thread_start({ context in
            let isolation = Unmanaged<LoopIsolation>.fromOpaque(context!).takeRetainedValue()
            isolation.runLateJobs()
            isolation.reactor.release()
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(started == 0, "cannot start a thread for the jobs that came after the loop's end: errno \(-started)")
    }

    private func runLateJobs() {
        while let next = late.withLock({ late -> UnownedJob? in
            if late.jobs.isEmpty {
                late.running = false
                return nil
            }
            return late.jobs.removeFirst()
        }) {
            next.runSynchronously(on: UnownedSerialExecutor(ordinary: self))
        }
    }
}
