import CReactor
import Glibc
import Logging
import Synchronization

/// An event loop on one thread: epoll, a ready queue of jobs, a timer heap and the sockets
/// registered with it. It is also the `TaskExecutor` its tasks run on, so a task woken by the
/// loop continues on the loop's own thread without a hop, and gives the `SerialExecutor` of
/// actors isolated to the loop (`asUnownedSerialExecutor()`).
///
/// `Reactor.run { reactor in ... }` is asyncio's `asyncio.run`: it runs the loop on the calling
/// thread until the body returns. `Reactor.start()` gives a reactor on a thread of its own.
///
/// State marked `@exclusivity(unchecked)` is touched only on the loop thread; other threads
/// reach the loop through `callSoonThreadsafe(_:)` or by enqueuing a job, both of which go through the
/// locked inbox. Which calls run in place, which hop to the loop and which are refused is one
/// rule, in `Crossing.swift`.
public final class Reactor: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Where the reactor reports problems (accept back-off, slow jobs).
        public var logger: Logger
        /// asyncio's debug mode: logs each job that holds the loop longer than
        /// `slowJobThreshold`, each call site whose operation hopped onto the loop, and a handle,
        /// writer or child dropped without being closed or waited for; a shutdown that cannot
        /// quiesce fails an assertion (in debug builds). Defaults to true when the environment has
        /// `REACTOR_DEBUG=1`, as asyncio's `PYTHONASYNCIODEBUG`.
        public var debugMode: Bool
        /// How long a job may hold the loop before debug mode logs it (asyncio's
        /// `slow_callback_duration`).
        public var slowJobThreshold: Duration
        /// Where `runBlocking` and name resolution run their blocking calls.
        public var blockingPool: BlockingPool
        /// asyncio's `set_exception_handler`: receives the errors nobody else can catch (a
        /// connection handler's, a server's accept loop's, a misuse found after its call
        /// returned) with their context. Nil: they are logged at error level through `logger`.
        public var exceptionHandler: (@Sendable (Reactor, ErrorContext) -> Void)?
        /// The system interface the loop waits on; `REACTOR_BACKEND` sets the default.
        public var backend: Backend

        public init(
            logger: Logger = Logger(label: "swift-reactor"),
            debugMode: Bool = Configuration.debugModeFromEnvironment,
            slowJobThreshold: Duration = .milliseconds(100),
            blockingPool: BlockingPool = .shared,
            exceptionHandler: (@Sendable (Reactor, ErrorContext) -> Void)? = nil,
            backend: Backend = .fromEnvironment
        ) {
            self.logger = logger
            self.debugMode = debugMode
            self.slowJobThreshold = slowJobThreshold
            self.blockingPool = blockingPool
            self.exceptionHandler = exceptionHandler
            self.backend = backend
        }

        /// True when the environment has `REACTOR_DEBUG=1`.
        public static var debugModeFromEnvironment: Bool {
            getenv("REACTOR_DEBUG").map { String(cString: $0) } == "1"
        }
    }

    /// Operations one job may complete without suspending before it yields the loop, so a
    /// socket that is always ready cannot starve the others.
    static let operationBudget = 16
    /// An operation that moves more bytes counts as one operation per this many
    /// (`chargeBudget(bytes:)`), so one budget is about 256 KiB of I/O at most.
    @usableFromInline static let budgetBytesPerOperation = 16 * 1024

    public let logger: Logger
    public let blockingPool: BlockingPool
    /// The slow-job threshold in debug mode; nil otherwise.
    let slowJobThresholdNanoseconds: Int64?
    let exceptionHandler: (@Sendable (Reactor, ErrorContext) -> Void)?
    let poller: any Poller
    /// The io_uring backend's receives, when its stream sockets receive in completion mode
    /// (reads copy out of its buffers instead of making a recv); nil with epoll. The poller
    /// keeps them, for as long as the reactor: held unmanaged, a read retains nothing (and an
    /// epoll read only tests for nil).
    let completionReceives: Unmanaged<URingReceives>?
    /// The serial executor of actors isolated to the loop.
    let isolation = LoopIsolation()
    /// Where a task in a cancellation scope parks for a wait on a handle.
    @usableFromInline let parkingLot = ParkingLot()

    // Loop-thread state.
    @exclusivity(unchecked) var readyQueue = ReadyQueue()
    @exclusivity(unchecked) var sources = IOSourceTable()
    @exclusivity(unchecked) var timers = TimerHeap()
    @usableFromInline @exclusivity(unchecked) var budget = 0
    @exclusivity(unchecked) var jobsSincePoll = 0
    @exclusivity(unchecked) var lastWaiterID: UInt64 = 0
    @exclusivity(unchecked) var stopRequested = false
    @exclusivity(unchecked) var drainedInbox: [ReadyWork] = []
    @exclusivity(unchecked) var shutdownWaiters: [UnsafeContinuation<Void, Never>] = []
    /// The tasks that run in a `CancellationScope`, and their scopes.
    @exclusivity(unchecked) var cancellationScopes = ScopeTable()
    /// Counted for `statistics()`: from `measuringSince` on, the time spent waiting for I/O.
    @exclusivity(unchecked) var measuresLoopTime = false
    @exclusivity(unchecked) var measuringSince: Int64 = 0
    @exclusivity(unchecked) var waitingNanoseconds: Int64 = 0
    /// The address of the job the loop runs now (0 between jobs).
    @exclusivity(unchecked) var runningJob: UInt = 0
    /// Whether that job runs isolated to the loop (an actor on `asUnownedSerialExecutor()`).
    @usableFromInline @exclusivity(unchecked) var runningIsolated = false
    /// The first of the `WaitQueue`s that have waiters, linked through the queues themselves.
    @exclusivity(unchecked) unowned(unsafe) var firstWaitingQueue: WaitQueue?
    /// The signalfd of the reactor's ``SignalSequence``s, once it has one.
    @exclusivity(unchecked) var signalListener: SignalListener?
    /// The CPU `start(cpu:)` pins the loop thread to; set before the thread starts.
    @exclusivity(unchecked) var pinnedCPU: Int?
    @usableFromInline @exclusivity(unchecked) var receiveScratchMemory = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    /// The last array `array(copying:)` or `array(receivingAtMost:)` made, kept to make the next
    /// one in its storage once nothing else holds it.
    @usableFromInline @exclusivity(unchecked) var recycledArray: [UInt8] = []

    // Cross-thread state.
    let inbox = LockedValue(Inbox())
    /// Set by other threads after they add to the inbox; the loop reads it every turn.
    let remoteWorkPending = Atomic<Bool>(false)
    /// True while the loop is about to block, or blocked, in epoll_wait.
    let sleeping = Atomic<Bool>(false)
    /// Async calls made off the loop that hopped onto it.
    let hops = Atomic<UInt64>(0)
    /// Loop turns: atomic, so a monitor on another thread sees a loop stuck in one turn.
    let turns = Atomic<UInt64>(0)

    /// Not public: a reactor is made running, by `run` (on the calling thread) or `start` (on a
    /// thread of its own); one made otherwise would have no loop to run its work.
    init(configuration: Configuration = Configuration()) throws {
        logger = configuration.logger
        blockingPool = configuration.blockingPool
        isDebugMode = configuration.debugMode
        slowJobThresholdNanoseconds = configuration.debugMode ? configuration.slowJobThreshold.nanoseconds : nil
        exceptionHandler = configuration.exceptionHandler
        poller = try Self.makePoller(configuration.backend, logger: configuration.logger)
        completionReceives = (poller as? URingPoller)?.receives.map { Unmanaged.passUnretained($0) }
        isolation.reactor = Unmanaged.passUnretained(self)
    }

    /// The call sites whose operations hopped onto the loop, each reported once in debug mode.
    let reportedHops = LockedValue(Set<String>())

    deinit {
        sources.deallocate()
        cancellationScopes.deallocate()
        receiveScratchMemory.deallocate()
    }

    /// The backend the loop waits on: the configuration's, or epoll where io_uring could not
    /// be used.
    public var backend: Backend { poller.backend }

    /// Whether the configuration asked for debug mode: layers above log their misuse warnings
    /// then, as asyncio's debug mode does.
    public let isDebugMode: Bool

    /// The reactor whose loop runs on the current thread, or nil.
    public static var current: Reactor? {
        cr_current_reactor().map { Unmanaged<Reactor>.fromOpaque($0).takeUnretainedValue() }
    }

    /// The reactor a call works on: the one it was given (`on:`), else the one whose loop runs
    /// on this thread (asyncio's running loop). Throws `ReactorError` (`.notOnReactor`) when
    /// there is neither. Every API that takes an optional reactor asks here.
    public static func resolve(_ given: Reactor?, for operation: String) throws -> Reactor {
        if let reactor = given ?? current { return reactor }
        throw ReactorError(.notOnReactor, "\(operation) needs a reactor: call it on a reactor's loop thread, or pass one with on:")
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
        let outcome = LockedValue<Swift.Result<Result, any Error>?>(nil)
        reactor.bindToCurrentThread()
        Task(executorPreference: reactor) {
            let result: Swift.Result<Result, any Error>
            do {
                result = .success(try await body(reactor))
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
            reactor.runOnLoopNowOrNextTurn(reactor) { $0.stopRequested = true }
        }
        reactor.runLoop()
        // No outcome: the loop was shut down (`shutdown()`) before the body finished.
        return try outcome.withLock { $0 ?? .failure(ReactorError.shutDown("Reactor.run")) }.get()
    }

    /// Starts a reactor whose loop runs on a thread of its own, until `shutdown()`; with
    /// `cpu`, that thread runs on that CPU only (see `ReactorGroup.availableCPUs`).
    public static func start(configuration: Configuration = Configuration(), cpu: Int? = nil) throws -> Reactor {
        let reactor = try Reactor(configuration: configuration)
        reactor.pinnedCPU = cpu
        let context = Unmanaged.passRetained(reactor).toOpaque()
        let started = cr_thread_start({ context in
            let reactor = Unmanaged<Reactor>.fromOpaque(context!).takeRetainedValue()
            if let cpu = reactor.pinnedCPU, cr_thread_pin(Int32(cpu), nil) < 0 {
                reactor.logger.warning("could not pin the loop thread to CPU \(cpu); it runs unpinned")
            }
            reactor.bindToCurrentThread()
            reactor.runLoop()
        }, context)
        if started < 0 {
            Unmanaged<Reactor>.fromOpaque(context).release()
            throw SystemCallError(operation: "pthread_create", errno: -started)
        }
        return reactor
    }

    /// Stops the loop as `run` does when its body returns, and returns once the loop has
    /// finished. Safe to call from any thread, and more than once.
    public func shutdown() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let accepted = callSoonThreadsafe {
                self.stopRequested = true
                self.shutdownWaiters.append(continuation)
            }
            if !accepted { continuation.resume() }
        }
    }

    func bindToCurrentThread() {
        cr_set_current_reactor(Unmanaged.passUnretained(self).toOpaque())
    }

    /// A number that tells one wait apart from every other on this reactor.
    func nextWaiterID() -> UInt64 {
        lastWaiterID &+= 1
        return lastWaiterID
    }
}

extension Duration {
    /// Whole nanoseconds, saturating (a sleep of a thousand years is still a long sleep).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowAgain) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowAgain ? (seconds < 0 ? .min : .max) : total
    }
}
