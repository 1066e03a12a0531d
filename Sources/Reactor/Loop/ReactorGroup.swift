import CReactor
import Glibc
import Synchronization

/// Several reactors, each running its loop on a thread of its own (SwiftNIO's
/// `MultiThreadedEventLoopGroup`, Tokio's workers, a thread-per-core runtime): one per CPU by
/// default, so a server uses every core.
///
/// A group shares nothing between its reactors: each has its own loop, sockets, timers and
/// waiters, and a socket stays on the reactor it was opened or accepted on. A server on a group
/// (`startServer(host:port:group:handler:)` in ReactorStreams, or `listen(on:)` here) has one
/// SO_REUSEPORT listener per reactor, so the kernel spreads the connections and each one's
/// task lives on the reactor that accepted it, with no hop per message. Work sent to another
/// reactor (`Task(executorPreference: group.next())`, or an operation on another reactor's
/// handle or queue) crosses as any call from another thread does: it hops (the design article,
/// "The crossing rule"). Nothing here is process-wide either, so several processes can serve
/// one port behind a load balancer, or through SO_REUSEPORT, too.
public final class ReactorGroup: Sendable {
    /// The reactors, in the order `next()` hands them out.
    public let reactors: [Reactor]
    private let handedOut = Atomic<Int>(0)

    /// The CPUs this process may run on (sched_getaffinity(2), so taskset and cgroup cpusets
    /// count): a group's default size, and the CPUs a pinned group's reactors take in turn.
    public static var availableCPUs: [Int] {
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = cr_available_cpus(&cpus, Int32(cpus.count))
        return count > 0 ? cpus.prefix(Int(count)).map(Int.init) : [0]
    }

    /// Starts `count` reactors (by default one per available CPU), each with `configuration`
    /// on a thread of its own (`Reactor.start`); with `pinned`, reactor i's thread runs only on
    /// the i-th available CPU (round the list again when there are more reactors than CPUs).
    /// Stop them with `shutdown()`.
    public init(count: Int = ReactorGroup.availableCPUs.count, pinned: Bool = false, configuration: Reactor.Configuration = Reactor.Configuration()) throws {
        guard count > 0 else { throw ReactorError(.invalidArgument, "a reactor group needs at least one reactor, not \(count)") }
        let cpus = Self.availableCPUs
        var reactors: [Reactor] = []
        do {
            for index in 0..<count {
                reactors.append(try Reactor.start(configuration: configuration, cpu: pinned ? cpus[index % cpus.count] : nil))
            }
        } catch {
            let started = reactors
            Self.block { for reactor in started { await reactor.shutdown() } }
            throw error
        }
        self.reactors = reactors
    }

    /// How many reactors the group has.
    public var count: Int { reactors.count }

    /// The next reactor, round-robin: where to put a new task, connection or client.
    public func next() -> Reactor {
        reactors[handedOut.add(1, ordering: .relaxed).oldValue % reactors.count]
    }

    /// Stops every reactor (as `Reactor.shutdown()` does) and returns once every loop is done.
    /// Safe to call from any thread, more than once, but not from a task that runs on one of
    /// the group's own reactors, whose loop would wait for itself.
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { stopping in
            for reactor in reactors { stopping.addTask { await reactor.shutdown() } }
        }
    }

    /// Runs `body` with a new group on the group's first reactor, as `Reactor.run` runs a
    /// body on one reactor, and returns (or rethrows) its result once every reactor is shut
    /// down. The calling thread waits meanwhile: call it from `main` or a thread of your own,
    /// not from inside a task.
    public static func run<Result: Sendable>(
        count: Int = ReactorGroup.availableCPUs.count, pinned: Bool = false, configuration: Reactor.Configuration = Reactor.Configuration(),
        _ body: @escaping @Sendable (ReactorGroup) async throws -> Result
    ) throws -> Result {
        let group = try ReactorGroup(count: count, pinned: pinned, configuration: configuration)
        let outcome = LockedValue<Swift.Result<Result, any Error>>(.failure(ReactorError.shutDown("ReactorGroup.run")))
        block(on: group.reactors[0]) {
            do {
                let result = try await body(group)
                outcome.withLock { $0 = .success(result) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
        }
        block { await group.shutdown() }
        return try outcome.withLock { $0 }.get()
    }

    /// Runs `work` in a new task (preferring `reactor`, if given) and blocks the calling
    /// thread until it is done.
    private static func block(on reactor: Reactor? = nil, _ work: @escaping @Sendable () async -> Void) {
        let finished = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(finished, 0, 0)
        defer {
            sem_destroy(finished)
            finished.deallocate()
        }
        let semaphore = UnsafeTransfer(finished)
        Task(executorPreference: reactor) {
            await work()
            sem_post(semaphore.value)
        }
        while sem_wait(finished) != 0 {}
    }
}
