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
    private let handedOut = Atomic<UInt>(0)

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
    public convenience init(
        count: Int = ReactorGroup.availableCPUs.count, pinned: Bool = false, configuration: Reactor.Configuration = Reactor.Configuration()
    ) throws {
        self.init(reactors: try Self.startReactors(count: count, from: 0, pinned: pinned, configuration: configuration))
    }

    init(reactors: [Reactor]) {
        self.reactors = reactors
    }

    /// Reactors `first..<count` of a group, each on a thread of its own (pinned: to CPU i of
    /// the available ones, round the list).
    private static func startReactors(count: Int, from first: Int, pinned: Bool, configuration: Reactor.Configuration) throws -> [Reactor] {
        guard count > 0 else { throw ReactorError(.invalidArgument, "a reactor group needs at least one reactor, not \(count)") }
        let cpus = availableCPUs
        var reactors: [Reactor] = []
        do {
            for index in first..<count {
                reactors.append(try Reactor.start(configuration: configuration, cpu: pinned ? cpus[index % cpus.count] : nil))
            }
        } catch {
            let started = reactors
            block { for reactor in started { await reactor.shutdown() } }
            throw error
        }
        return reactors
    }

    /// How many reactors the group has.
    public var count: Int { reactors.count }

    /// The next reactor, round-robin: where to put a new task, connection or client.
    public func next() -> Reactor {
        reactors[Int(handedOut.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(reactors.count))]
    }

    /// Stops every reactor (as `Reactor.shutdown()` does) and returns once every loop is done.
    /// Safe to call from any thread, more than once, but not from a task that runs on one of
    /// the group's own reactors, whose loop would wait for itself.
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { stopping in
            for reactor in reactors { stopping.addTask { await reactor.shutdown() } }
        }
    }

    /// Runs `body` with a new group, as `Reactor.run` runs a body on one reactor: the group's
    /// first reactor runs its loop on the calling thread (with `pinned`, pinned there for the
    /// run, and given its CPUs back after), the others on threads of their own. Returns (or
    /// rethrows) the body's result once every reactor is shut down. This blocks the calling
    /// thread: call it from `main` or a thread of your own, not from inside a task.
    public static func run<Result: Sendable>(
        count: Int = ReactorGroup.availableCPUs.count, pinned: Bool = false, configuration: Reactor.Configuration = Reactor.Configuration(),
        _ body: @escaping @Sendable (ReactorGroup) async throws -> Result
    ) throws -> Result {
        let others = try startReactors(count: count, from: 1, pinned: pinned, configuration: configuration)
        defer { block { for reactor in others { await reactor.shutdown() } } }
        let savedMask = UnsafeMutableRawPointer.allocate(byteCount: Int(CR_CPU_MASK_SIZE), alignment: 16)
        defer { savedMask.deallocate() }
        var pinnedHere = false
        if pinned, let cpu = availableCPUs.first {
            pinnedHere = cr_thread_pin(Int32(cpu), savedMask) == 0
            if !pinnedHere { configuration.logger.warning("could not pin the calling thread to CPU \(cpu); it runs unpinned") }
        }
        defer { if pinnedHere { _ = cr_thread_restore_affinity(savedMask) } }
        return try Reactor.run(configuration: configuration) { first in try await body(ReactorGroup(reactors: [first] + others)) }
    }

    /// Runs `work` in a new task and blocks the calling thread until it is done.
    private static func block(_ work: @escaping @Sendable () async -> Void) {
        let finished = BlockingSignal()
        Task {
            await work()
            finished.signal()
        }
        finished.wait()
    }
}
