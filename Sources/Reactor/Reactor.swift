import CReactor
import DequeModule
import Glibc
import Logging
import Synchronization

/// An event loop on one thread: epoll, a ready queue of jobs, a timer heap and the sockets
/// registered with it. It is also the `TaskExecutor` (and `SerialExecutor`) its tasks run on,
/// so a task woken by the loop continues on the loop's own thread without a hop.
///
/// `Reactor.run { reactor in ... }` is asyncio's `asyncio.run`: it runs the loop on the calling
/// thread until the body returns. `Reactor.start()` gives a reactor on a thread of its own.
///
/// State marked `@exclusivity(unchecked)` is touched only on the loop thread; other threads
/// reach the loop through `execute(_:)` or by enqueuing a job, both of which go through the
/// locked inbox.
public final class Reactor: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Where the reactor reports problems (accept back-off, slow jobs).
        public var logger: Logger
        /// When set, any job that holds the loop longer than this is logged, as asyncio's debug
        /// mode does. Defaults to 100 ms when the environment has `REACTOR_DEBUG=1`.
        public var slowJobThreshold: Duration?

        public init(logger: Logger = Logger(label: "swift-reactor"), slowJobThreshold: Duration? = Configuration.defaultSlowJobThreshold) {
            self.logger = logger
            self.slowJobThreshold = slowJobThreshold
        }

        public static var defaultSlowJobThreshold: Duration? {
            getenv("REACTOR_DEBUG").map { String(cString: $0) } == "1" ? .milliseconds(100) : nil
        }
    }

    /// Operations one job may complete without suspending before it yields the loop, so a
    /// socket that is always ready cannot starve the others.
    static let operationBudget = 16

    public let logger: Logger
    let slowJobThresholdNanoseconds: Int64?
    let poller: Poller

    // Loop-thread state.
    @exclusivity(unchecked) var readyQueue = Deque<ReadyWork>()
    @exclusivity(unchecked) var sockets = SocketTable()
    @exclusivity(unchecked) var timers = TimerHeap()
    @exclusivity(unchecked) var budget = 0
    @exclusivity(unchecked) var lastWaiterID: UInt64 = 0
    @exclusivity(unchecked) var stopRequested = false
    @exclusivity(unchecked) var drainedInbox: [ReadyWork] = []
    @exclusivity(unchecked) var shutdownWaiters: [UnsafeContinuation<Void, Never>] = []

    // Cross-thread state.
    let inbox = Lock(Inbox())
    /// Set by other threads after they add to the inbox; the loop reads it every turn.
    let remoteWorkPending = Atomic<Bool>(false)
    /// True while the loop is about to block, or blocked, in epoll_wait.
    let sleeping = Atomic<Bool>(false)

    public init(configuration: Configuration = Configuration()) throws {
        logger = configuration.logger
        slowJobThresholdNanoseconds = configuration.slowJobThreshold.map(\.nanoseconds)
        poller = try Poller()
    }

    deinit {
        sockets.deallocate()
    }

    /// True when the configuration asked for debug checks (a slow-job threshold): layers
    /// above log their misuse warnings then, as asyncio's debug mode does.
    public var isDebugMode: Bool { slowJobThresholdNanoseconds != nil }

    /// The reactor whose loop runs on the current thread, or nil.
    public static var current: Reactor? {
        cr_current_reactor().map { Unmanaged<Reactor>.fromOpaque($0).takeUnretainedValue() }
    }

    /// True on this reactor's loop thread, while the loop runs.
    @inline(__always)
    public var inLoopThread: Bool {
        cr_current_reactor() == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Whether a `nonisolated(nonsending)` operation called with `isolation` (its caller's
    /// `#isolation`) runs where it is called: on this reactor's thread and in no actor. Else it
    /// hops to the reactor. An actor's code can run on the loop thread (a task that prefers the
    /// reactor runs its actors there), but a wait inside it resumes on the actor's executor,
    /// which may be draining on another thread by then.
    @inline(__always)
    public func runsInPlace(_ isolation: (any Actor)?) -> Bool {
        isolation == nil && inLoopThread
    }

    // MARK: - Lifecycle

    /// Runs `body` on a new reactor whose loop runs on the calling thread, as asyncio.run does,
    /// and returns (or rethrows) its result. Then shuts down: sockets still registered are
    /// closed (their waiters resume with an error), sleepers are cancelled, pending callbacks
    /// are dropped, and the tasks that woke run to the end.
    ///
    /// This blocks the calling thread: call it from `main` or a thread of your own, not from
    /// inside a task.
    public static func run<Result: Sendable>(
        configuration: Configuration = Configuration(),
        _ body: @escaping @Sendable (Reactor) async throws -> Result
    ) throws -> Result {
        let reactor = try Reactor(configuration: configuration)
        let outcome = Lock<Swift.Result<Result, any Error>?>(nil)
        reactor.bindToCurrentThread()
        Task(executorPreference: reactor) {
            let result: Swift.Result<Result, any Error>
            do {
                result = .success(try await body(reactor))
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            reactor.onLoopThread { reactor.stopRequested = true }
        }
        reactor.runLoop()
        // No outcome: the loop was shut down (`shutdown()`) before the body finished.
        return try outcome.withLock { $0 ?? .failure(ReactorShutDownError()) }.get()
    }

    /// Starts a reactor whose loop runs on a thread of its own, until `shutdown()`.
    public static func start(configuration: Configuration = Configuration()) throws -> Reactor {
        let reactor = try Reactor(configuration: configuration)
        let context = Unmanaged.passRetained(reactor).toOpaque()
        let started = cr_thread_start({ context in
            let reactor = Unmanaged<Reactor>.fromOpaque(context!).takeRetainedValue()
            reactor.bindToCurrentThread()
            reactor.runLoop()
        }, context)
        if started < 0 {
            Unmanaged<Reactor>.fromOpaque(context).release()
            throw SocketError(operation: "pthread_create", errno: -started)
        }
        return reactor
    }

    /// Stops the loop as `run` does when its body returns, and returns once the loop has
    /// finished. Safe to call from any thread, and more than once.
    public func shutdown() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let accepted = execute {
                self.stopRequested = true
                self.shutdownWaiters.append(continuation)
            }
            if !accepted { continuation.resume() }
        }
    }

    func bindToCurrentThread() {
        cr_set_current_reactor(Unmanaged.passUnretained(self).toOpaque())
    }

    // MARK: - Running work on the loop

    /// Runs `work` on the loop thread, in a later turn (asyncio's `call_soon_threadsafe`).
    /// Returns false, without running it, when the reactor has already shut down.
    @discardableResult
    public func execute(_ work: @escaping @Sendable () -> Void) -> Bool {
        if inLoopThread {
            readyQueue.append(.callback(work))
            return true
        }
        return enqueueFromOtherThread(.callback(work))
    }

    /// Runs `work` now when on the loop thread, else in a later turn of the loop.
    func onLoopThread(_ work: @escaping @Sendable () -> Void) {
        if inLoopThread { work() } else { enqueueFromOtherThread(.callback(work)) }
    }

    /// Runs `operation` on the loop thread, in a child task that has this reactor as its
    /// executor preference: the path of a call made off the loop thread (correct, but slower
    /// than starting the task on the reactor). Throws `ReactorShutDownError` once the reactor
    /// has shut down.
    ///
    /// The operations are `nonisolated(nonsending)`, so that a task already on the reactor
    /// pays no executor switch per call; their arguments live in the caller's region, and the
    /// operation carrying them crosses to the hop in an `UnsafeTransfer`: the caller waits for
    /// the hop and touches none of them meanwhile (so: `hop(UnsafeTransfer { ... })`).
    func hop<T: Sendable>(_ operation: UnsafeTransfer<() async throws -> T>) async throws -> T {
        // A child task created with this reactor as its executor preference, not
        // withTaskExecutorPreference around the running task: with the latter, a
        // nonisolated(nonsending) operation that parked resumed on the global executor in
        // release builds (Swift 6.3.1), off the loop thread. The child keeps cancellation
        // structured; it costs one task, on this slow path only.
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(executorPreference: self) {
                // Unless the loop is gone (then the job went to the global executor).
                guard self.inLoopThread else { throw ReactorShutDownError() }
                return try await operation.value()
            }
            return try await group.next()!
        }
    }

    /// Runs `operation` on this reactor's thread: at once when already there, else by hopping
    /// there for its duration (correct, but slower than running in a task on the reactor).
    /// Throws `ReactorShutDownError` once the reactor has shut down. For layers built on the
    /// reactor whose methods may be called from anywhere, as the streams' are.
    public func onLoop<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        if inLoopThread { return try await operation() }
        return try await hop(UnsafeTransfer(operation))
    }

    /// A number that tells one wait apart from every other on this reactor.
    func nextWaiterID() -> UInt64 {
        lastWaiterID &+= 1
        return lastWaiterID
    }
}

/// Carries a value that is not Sendable to code that runs while its owner waits for it and
/// touches it no more meanwhile (SwiftNIO's UnsafeTransfer).
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The reactor shut down before the operation could run on it.
public struct ReactorShutDownError: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the reactor has shut down" }
}

extension Duration {
    /// Whole nanoseconds, saturating (a sleep of a thousand years is still a long sleep).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowAgain) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowAgain ? (seconds < 0 ? .min : .max) : total
    }
}
