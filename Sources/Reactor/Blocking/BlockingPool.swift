import CReactor
import DequeModule
import Glibc

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

    private struct Job {
        let id: UInt64
        let run: () -> Void
        /// Resumes the caller with `CancellationError`, when the job is removed unrun.
        let cancel: () -> Void
    }

    // Guarded by `mutex`.
    private var queue = Deque<Job>()
    private var startedThreads = 0
    private var idleThreads = 0
    private var lastID: UInt64 = 0
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
        let id = withLock {
            lastID &+= 1
            return lastID
        }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<T, any Error>) in
                let job = Job(
                    id: id,
                    run: { continuation.resume(with: Result { try work() }) },
                    cancel: { continuation.resume(throwing: CancellationError()) })
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())  // its handler found nothing queued
                } else if let refusal = submit(job) {
                    continuation.resume(throwing: refusal)
                }
            }
        } onCancel: {
            withLock { () -> Job? in
                guard let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
                return queue.remove(at: index)
            }?.cancel()
        }
    }

    /// How many jobs wait for a thread.
    public var queuedCount: Int { withLock { queue.count } }

    /// Queues `job` (or refuses it) and starts a thread if none is idle.
    private func submit(_ job: Job) -> ReactorError? {
        enum Admission { case queued, queuedWithNewThread, refused }
        let admission: Admission = withLock {
            guard queue.count < queueLimit else { return .refused }
            queue.append(job)
            if idleThreads > 0 {
                pthread_cond_signal(jobArrived)
                return .queued
            }
            guard startedThreads < threadCount else { return .queued }
            startedThreads += 1
            return .queuedWithNewThread
        }
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
            let job: Job = withLock {
                while queue.isEmpty {
                    idleThreads += 1
                    pthread_cond_wait(jobArrived, mutex)
                    idleThreads -= 1
                }
                return queue.removeFirst()
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
