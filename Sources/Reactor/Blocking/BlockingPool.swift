import CReactor
import DequeModule
import Glibc
import Synchronization

/// A bounded pool of threads for blocking calls (asyncio's `run_in_executor(None, f)` and
/// `asyncio.to_thread(f)`): name resolution, file I/O, a C library that blocks. The reactors
/// of a process share `BlockingPool.shared` unless their configuration names another.
///
/// Jobs run in FIFO order on at most `threadCount` threads, started as the queue needs them
/// and kept for the life of the pool. At most `queueLimit` jobs wait; one more is refused with
/// `ReactorError` (`.poolFull`) rather than grow memory without bound. A job whose task is
/// cancelled while it waits is removed and its caller throws `CancellationError`; a job that
/// already runs is not interrupted (a thread cannot be), and its caller gets its result.
public final class BlockingPool: @unchecked Sendable {
    /// The process's pool: as many threads as cores, and at least 4.
    public static let shared = BlockingPool(threadCount: max(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    public let threadCount: Int
    public let queueLimit: Int

    /// A queued call: one allocation, which also carries the result back.
    private protocol Job: AnyObject {
        var id: UInt64 { get }
        /// The caller's continuation; the pool resumes it once, from whichever thread.
        var continuation: UnsafeContinuation<WaitOutcome, Never> { get }
        /// When it was queued, on the monotonic clock.
        var queuedAt: Int64 { get }
        /// Runs the work on a pool thread, keeps its result, and resumes the caller.
        func run()
    }

    private final class TypedJob<T>: Job, @unchecked Sendable {
        let id: UInt64
        let continuation: UnsafeContinuation<WaitOutcome, Never>
        let work: @Sendable () throws -> T
        let queuedAt = cr_monotonic_ns()
        /// Written by the pool thread before it resumes the caller, read by the caller after.
        var result: Result<T, any Error>?

        init(id: UInt64, continuation: UnsafeContinuation<WaitOutcome, Never>, work: @escaping @Sendable () throws -> T) {
            self.id = id
            self.continuation = continuation
            self.work = work
        }

        func run() {
            result = Result { try work() }
            continuation.resume(returning: .ready)
        }
    }

    private let lastID = Atomic<UInt64>(0)

    // Guarded by `mutex`.
    private var queue = Deque<any Job>()
    private var startedThreads = 0
    private var idleThreads = 0
    private var startedJobs: UInt64 = 0
    private var queueNanoseconds: Int64 = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let jobArrived = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init(threadCount: Int, queueLimit: Int = 65_536) {
        precondition(threadCount > 0 && queueLimit > 0, "a blocking pool needs at least one thread and one queue place")
        self.threadCount = threadCount
        self.queueLimit = queueLimit
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(jobArrived, nil)
    }

    /// Runs `work` on a pool thread and returns its result; the caller resumes on its own
    /// executor (a task on a reactor, on that reactor's loop thread), which never waits for
    /// the job meanwhile.
    public nonisolated(nonsending) func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let id = lastID.add(1, ordering: .relaxed).newValue
        var job: TypedJob<T>?
        var refusal: ReactorError?
        // Its caller may resume anywhere: the pool needs no loop.
        let outcome = await Reactor.park(returnsToTheLoop: false) {
            // Removed unrun: its caller leaves with CancellationError. A job that runs already
            // is not in the queue, and resumes its caller when done.
            let removed = self.withLock { () -> (any Job)? in
                guard let index = self.queue.firstIndex(where: { $0.id == id }) else { return nil }
                return self.queue.remove(at: index)
            }
            removed?.continuation.resume(returning: .cancelled)
        } park: { continuation in
            if Task.isCancelled {
                continuation.resume(returning: .cancelled)  // its handler found nothing queued
                return
            }
            let queued = TypedJob(id: id, continuation: continuation, work: work)
            job = queued
            refusal = submit(queued)
            if refusal != nil { continuation.resume(returning: .ready) }
        }
        if let refusal { throw refusal }
        guard outcome == .ready, let result = job?.result else { throw CancellationError() }
        return try result.get()
    }

    /// How many jobs wait for a thread.
    public var queuedCount: Int { withLock { queue.count } }

    /// What the pool has done, and holds now.
    public struct Statistics: Sendable {
        /// Jobs waiting for a thread, and jobs running.
        public var queued: Int
        public var running: Int
        /// Jobs that have left the queue for a thread, and the time they waited there in all.
        public var started: UInt64
        public var queueingTime: Duration
    }

    /// The pool's statistics now; from any thread.
    public var statistics: Statistics {
        withLock {
            Statistics(
                queued: queue.count, running: startedThreads - idleThreads, started: startedJobs,
                queueingTime: .nanoseconds(queueNanoseconds))
        }
    }

    /// Queues `job` (or refuses it) and starts a thread if none is idle.
    private func submit(_ job: any Job) -> ReactorError? {
        enum Admission { case queued, queuedForIdleThread, queuedWithNewThread, refused }
        let admission: Admission = withLock {
            guard queue.count < queueLimit else { return .refused }
            queue.append(job)
            if idleThreads > 0 { return .queuedForIdleThread }
            guard startedThreads < threadCount else { return .queued }
            startedThreads += 1
            return .queuedWithNewThread
        }
        // Signalled after the unlock, so the thread it wakes does not wait again for the mutex.
        if admission == .queuedForIdleThread { pthread_cond_signal(jobArrived) }
        if admission == .refused {
            return ReactorError(.poolFull, "the blocking pool's queue is full (\(queueLimit) jobs)")
        }
        if admission == .queuedWithNewThread {
            let started = cr_thread_start({ context in
                Unmanaged<BlockingPool>.fromOpaque(context!).takeUnretainedValue().work()
            }, Unmanaged.passRetained(self).toOpaque())
            precondition(started == 0, "cannot start a blocking-pool thread: errno \(-started)")
        }
        return nil
    }

    /// A pool thread: runs jobs as they come, for the life of the pool.
    private func work() {
        while true {
            let job: any Job = withLock {
                while queue.isEmpty {
                    idleThreads += 1
                    pthread_cond_wait(jobArrived, mutex)
                    idleThreads -= 1
                }
                let job = queue.removeFirst()
                startedJobs &+= 1
                queueNanoseconds &+= cr_monotonic_ns() - job.queuedAt
                return job
            }
            job.run()
        }
    }

    private func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}

extension Reactor {
    /// Runs the blocking `work` on this reactor's blocking pool (asyncio's `to_thread`) and
    /// resumes the caller with its result; the loop goes on meanwhile. See `BlockingPool`.
    public nonisolated(nonsending) func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await blockingPool.run(work)
    }
}
