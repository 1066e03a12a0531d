import Metrics
import Reactor
import ReactorStreams
import Synchronization

/// Reports reactors, their blocking pools and servers through swift-metrics, to whichever
/// backend the process bootstrapped (Prometheus, StatsD, OpenTelemetry). Once per `interval`,
/// on each reactor's loop, it reads the counters the loop keeps per turn and reports what
/// moved: the cost is per interval, not per message. With no backend bootstrapped,
/// swift-metrics' no-op handlers take the reports.
///
/// Per reactor (label `reactor`, its index): `reactor_loop_turns_total`,
/// `reactor_loop_busy_seconds_total` and `reactor_loop_waiting_seconds_total` (waiting for I/O),
/// `reactor_loop_utilisation` (busy over the last interval, 0 to 1), `reactor_loop_lag_seconds`
/// (a timer: how late the report's own timer ran, so how long a job that became ready waited
/// for the loop), `reactor_ready_jobs`, `reactor_timers`, `reactor_registered_fds`,
/// `reactor_hops_total`, `reactor_work_from_other_threads_total`. Per blocking pool (label `pool`): `reactor_blocking_queued`,
/// `reactor_blocking_running`, `reactor_blocking_started_total`,
/// `reactor_blocking_queueing_seconds_total`. For the process, `reactor_subprocesses_running`
/// (reported by the first reactor). Per server and reactor (labels `server`,
/// `reactor`): `reactor_server_connections_accepted_total`, `reactor_server_connections_open`,
/// `reactor_server_connections_closed_total` (label `cause`, a `Server.CloseCause`),
/// `reactor_server_received_bytes_total`, `reactor_server_sent_bytes_total`.
public final class ReactorMetrics: Sendable {
    public let interval: Duration
    private let reporters: [LoopReporter]
    private let stopped = Atomic<Bool>(false)

    /// Starts reporting `reactors` (a group's, or one) and `servers` (by name) every
    /// `interval`, until `stop()`.
    public init(reactors: [Reactor], servers: [String: Server] = [:], interval: Duration = .seconds(1)) {
        precondition(interval > .zero, "ReactorMetrics needs a positive interval")
        self.interval = interval
        var pools: [ObjectIdentifier] = []
        reporters = reactors.enumerated().map { index, reactor in
            // Each pool is reported once, by the first of its reactors.
            let pool = ObjectIdentifier(reactor.blockingPool)
            let reportsPool = !pools.contains(pool)
            if reportsPool { pools.append(pool) }
            let serversHere = servers.filter { $0.value.reactors.contains { $0 === reactor } }
            return LoopReporter(
                reactor: reactor, label: "\(index)", poolLabel: reportsPool ? "\(pools.count - 1)" : nil, servers: serversHere)
        }
        for reporter in reporters {
            reporter.reactor.runOnLoopNowOrNextTurn((self, reporter)) { metrics, reporter in
                reporter.reactor.measureLoopTime()
                metrics.schedule(reporter)
            }
        }
    }

    /// Stops reporting (after at most one more report on each reactor).
    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    private func schedule(_ reporter: LoopReporter) {
        guard !stopped.load(ordering: .relaxed) else { return }
        let due = ContinuousClock.now + interval
        reporter.reactor.callLater(interval) { [self] in
            reporter.lag.recordNanoseconds(max(0, (ContinuousClock.now - due).nanoseconds))
            reporter.report()
            schedule(reporter)
        }
    }
}

extension Counter {
    /// Reports a total that went from `last` (nothing yet: zero) to `now`.
    fileprivate func moved(to now: UInt64, from last: UInt64?) {
        increment(by: Int64(truncatingIfNeeded: now &- (last ?? 0)))
    }
}

extension FloatingPointCounter {
    /// Reports a total of time that went from `last` (nothing yet: zero) to `now`.
    fileprivate func moved(to now: Duration, from last: Duration?) {
        increment(by: max(0, (now - (last ?? .zero)).inSeconds))
    }
}

extension Duration {
    fileprivate var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// One reactor's metrics, and what they last reported (loop thread only).
private final class LoopReporter: @unchecked Sendable {
    let reactor: Reactor
    let lag: Metrics.Timer
    private let turns, hops, workFromOtherThreads: Counter
    private let busy, waiting: FloatingPointCounter
    private let utilisation, readyJobs, timers, registeredHandles: Gauge
    private var last: Reactor.Statistics?
    private let pool: PoolReporter?
    private let servers: [ServerReporter]
    /// The first reactor's: the children of the whole process.
    private let subprocesses: Gauge?

    init(reactor: Reactor, label: String, poolLabel: String?, servers: [String: Server]) {
        self.reactor = reactor
        let dimensions = [("reactor", label)]
        turns = Counter(label: "reactor_loop_turns_total", dimensions: dimensions)
        hops = Counter(label: "reactor_hops_total", dimensions: dimensions)
        workFromOtherThreads = Counter(label: "reactor_work_from_other_threads_total", dimensions: dimensions)
        busy = FloatingPointCounter(label: "reactor_loop_busy_seconds_total", dimensions: dimensions)
        waiting = FloatingPointCounter(label: "reactor_loop_waiting_seconds_total", dimensions: dimensions)
        utilisation = Gauge(label: "reactor_loop_utilisation", dimensions: dimensions)
        lag = Metrics.Timer(label: "reactor_loop_lag_seconds", dimensions: dimensions)
        readyJobs = Gauge(label: "reactor_ready_jobs", dimensions: dimensions)
        timers = Gauge(label: "reactor_timers", dimensions: dimensions)
        registeredHandles = Gauge(label: "reactor_registered_fds", dimensions: dimensions)
        pool = poolLabel.map { PoolReporter(reactor.blockingPool, label: $0) }
        subprocesses = label == "0" ? Gauge(label: "reactor_subprocesses_running") : nil
        self.servers = servers.sorted { $0.key < $1.key }.map { ServerReporter($0.value, name: $0.key, on: reactor, reactorLabel: label) }
    }

    func report() {
        let now = reactor.statistics()
        turns.moved(to: now.turns, from: last?.turns)
        hops.moved(to: now.hops, from: last?.hops)
        workFromOtherThreads.moved(to: now.workFromOtherThreads, from: last?.workFromOtherThreads)
        busy.moved(to: now.busyTime, from: last?.busyTime)
        waiting.moved(to: now.waitingTime, from: last?.waitingTime)
        let busyDelta = (now.busyTime - (last?.busyTime ?? .zero)).inSeconds
        let waitingDelta = (now.waitingTime - (last?.waitingTime ?? .zero)).inSeconds
        if busyDelta + waitingDelta > 0 { utilisation.record(busyDelta / (busyDelta + waitingDelta)) }
        readyJobs.record(now.readyJobs)
        timers.record(now.pendingTimers)
        registeredHandles.record(now.registeredHandles)
        last = now
        pool?.report()
        subprocesses?.record(Subprocess.runningCount)
        for server in servers { server.report() }
    }
}

/// A blocking pool's metrics (touched on one reactor's loop thread only).
private final class PoolReporter {
    let pool: BlockingPool
    private let queued, running: Gauge
    private let started: Counter
    private let queueing: FloatingPointCounter
    private var last: BlockingPool.Statistics?

    init(_ pool: BlockingPool, label: String) {
        self.pool = pool
        let dimensions = [("pool", label)]
        queued = Gauge(label: "reactor_blocking_queued", dimensions: dimensions)
        running = Gauge(label: "reactor_blocking_running", dimensions: dimensions)
        started = Counter(label: "reactor_blocking_started_total", dimensions: dimensions)
        queueing = FloatingPointCounter(label: "reactor_blocking_queueing_seconds_total", dimensions: dimensions)
    }

    func report() {
        let now = pool.statistics
        queued.record(now.queued)
        running.record(now.running)
        started.moved(to: now.started, from: last?.started)
        queueing.moved(to: now.queueingTime, from: last?.queueingTime)
        last = now
    }
}

/// A server's metrics on one reactor (touched on that reactor's loop thread only).
private final class ServerReporter {
    let server: Server
    let reactor: Reactor
    private let accepted, received, sent: Counter
    private let open: Gauge
    private let closed: [Server.CloseCause: Counter]
    private var last: Server.Statistics?

    init(_ server: Server, name: String, on reactor: Reactor, reactorLabel: String) {
        self.server = server
        self.reactor = reactor
        let dimensions = [("server", name), ("reactor", reactorLabel)]
        accepted = Counter(label: "reactor_server_connections_accepted_total", dimensions: dimensions)
        open = Gauge(label: "reactor_server_connections_open", dimensions: dimensions)
        received = Counter(label: "reactor_server_received_bytes_total", dimensions: dimensions)
        sent = Counter(label: "reactor_server_sent_bytes_total", dimensions: dimensions)
        closed = Dictionary(uniqueKeysWithValues: Server.CloseCause.allCases.map { cause in
            (cause, Counter(label: "reactor_server_connections_closed_total", dimensions: dimensions + [("cause", cause.rawValue)]))
        })
    }

    func report() {
        let now = server.statistics(on: reactor)
        accepted.moved(to: now.accepted, from: last?.accepted)
        open.record(now.open)
        received.moved(to: now.bytesReceived, from: last?.bytesReceived)
        sent.moved(to: now.bytesSent, from: last?.bytesSent)
        for (cause, counter) in closed {
            counter.moved(to: now.closed[cause] ?? 0, from: last?.closed[cause])
        }
        last = now
    }
}
