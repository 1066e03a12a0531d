import Glibc
import Reactor
import Synchronization

/// A console into running reactors, in the manner of aiomonitor: a Unix-domain socket that
/// answers one command a line, for `nc -U` or `socat`:
///
/// - `ps`: every parked task (`Reactor.parkedTasks()`), a line each: its id, then what it
///   waits on (a socket's read or write with the fd and the peer's address and port, a queue
///   and what it belongs to, a sleep and the time left), and for how long at least: the
///   monitor looks at the waits once a second, and a wait's id is never reused. The id is the
///   reactor's index in `reactors` and its wait's id there, as in `1:42`: each reactor numbers
///   its own waits.
/// - `where ID`: that task's line. (A parked task's async frames cannot be walked from here.)
/// - `cancel ID`: cancels the task parked in that wait, as `Task.cancel()` would; a server's
///   connection task then ends and its connection closes. A task that has moved on to another
///   wait is not reached.
/// - `stats`: each reactor's `Reactor.Statistics`.
/// - `help`.
///
/// The monitor runs on a reactor of its own, on a thread of its own, and asks each watched
/// reactor on that reactor's loop: one that does not answer within `patience` (a job holds
/// its loop) is reported as blocked, with the turn its loop is stuck in. Its connections are
/// bounded (a few at once, idle ones closed), and a line that is not a command is answered as
/// such: garbage, or a client that never reads, costs the watched reactors nothing.
public final class ReactorMonitor: Sendable {
    public let path: String
    public let reactors: [Reactor]
    public let patience: Duration
    private let own: Reactor
    private let server: Server
    /// What the server's handler reaches the monitor through: emptied by `stop()`, which ends
    /// the cycle through the handler.
    private let handle: LockedValue<ReactorMonitor?>
    /// When each parked wait was first seen, per reactor (see `notice`).
    private let firstSeen = LockedValue<[Int: [UInt64: ContinuousClock.Instant]]>([:])

    /// Serves the monitor at `path` (a stale socket file there is replaced) for `reactors`.
    public static func start(path: String, reactors: [Reactor], patience: Duration = .seconds(1)) async throws -> ReactorMonitor {
        let own = try Reactor.start()
        do {
            // Set once the server that reads it has started.
            let box = LockedValue<ReactorMonitor?>(nil)
            let server = try await startUnixServer(
                path: path, options: ServerOptions(idleTimeout: .seconds(300), maxConnections: 8), limit: 1024, on: own
            ) { reader, writer in
                guard let monitor = box.withLock({ $0 }) else { return }
                try await monitor.converse(reader, writer)
            }
            let monitor = ReactorMonitor(path: path, reactors: reactors, patience: patience, own: own, server: server, handle: box)
            for reactor in reactors { _ = reactor.callSoonThreadsafe { reactor.measureLoopTime() } }
            Task(executorPreference: own) { await monitor.watchWaits() }
            box.withLock { $0 = monitor }
            return monitor
        } catch {
            await own.shutdown()
            throw error
        }
    }

    private init(path: String, reactors: [Reactor], patience: Duration, own: Reactor, server: Server, handle: LockedValue<ReactorMonitor?>) {
        self.path = path
        self.reactors = reactors
        self.patience = patience
        self.own = own
        self.server = server
        self.handle = handle
    }

    /// Closes the socket and its connections, and stops the monitor's reactor.
    public func stop() async {
        server.close()
        server.abortClients()
        await server.waitClosed()
        handle.withLock { $0 = nil }
        await own.shutdown()
    }

    static let prompt = Array("monitor> ".utf8)

    private nonisolated(nonsending) func converse(_ reader: StreamReader, _ writer: StreamWriter) async throws {
        try writer.write(Self.prompt)
        while true {
            let line: [UInt8]
            do {
                line = try await reader.readLine()
            } catch is LimitOverrunError {
                try writer.write(Array("the line is too long\n".utf8))
                return
            }
            if line.isEmpty { return }
            let words = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace)
            if words.first == "quit" { return }
            let answer = await answer(words.map(String.init))
            try writer.write(Array((answer.isEmpty ? "" : answer + "\n").utf8) + Self.prompt)
            try await writer.drain()
        }
    }

    private func answer(_ words: [String]) async -> String {
        switch (words.first, words.count) {
        case (nil, _): return ""
        case ("help", 1):
            return """
                ps           every parked task: its wait's id, and what it waits on
                where ID     what the task in wait ID (REACTOR:WAIT, as ps lists it) waits on
                cancel ID    cancels the task in wait ID (a connection's task: its connection closes)
                stats        each reactor's loop statistics
                quit         ends this session
                """
        case ("ps", 1):
            let answers = await eachReactor { _, reactor in reactor.parkedTasks() }
            notice(answers.map { ($0.index, $0.answer.map { $0.map(\.id) }) })
            return lines(answers) { index, tasks in
                (["reactor \(index): \(tasks.count) parked tasks"] + tasks.map { describe($0, on: index) }).joined(separator: "\n")
            }
        case ("where", 2):
            guard let (index, id) = taskID(words[1]) else { return "where: '\(words[1])' is not a task id (REACTOR:WAIT, as ps lists it)" }
            let answers = await eachReactor(only: index) { _, reactor in reactor.parkedTask(id) }
            return lines(answers, none: "no parked task \(words[1])") { index, task in task.map { describe($0, on: index) } ?? "" }
        case ("cancel", 2):
            guard let (index, id) = taskID(words[1]) else { return "cancel: '\(words[1])' is not a task id (REACTOR:WAIT, as ps lists it)" }
            let answers = await eachReactor(only: index) { _, reactor in reactor.cancelParkedTask(id) }
            return lines(answers, none: "no parked task \(words[1])") { index, cancelled in cancelled ? "cancelled \(index):\(id)" : "" }
        case ("stats", 1):
            let answers = await eachReactor { _, reactor in reactor.statistics() }
            return lines(answers) { index, stats in
                "reactor \(index): turns \(stats.turns), busy \(stats.busyTime), waiting \(stats.waitingTime), ready jobs \(stats.readyJobs), "
                    + "timers \(stats.pendingTimers), fds \(stats.registeredHandles), hops \(stats.hops)"
            }
        default:
            return "unknown command: \(words.joined(separator: " ").prefix(80)) (try help)"
        }
    }

    /// The reactor's index and the wait's id in a task id as `ps` lists it, `1:42`.
    private func taskID(_ word: String) -> (reactor: Int, wait: UInt64)? {
        let parts = word.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), reactors.indices.contains(index), let id = UInt64(parts[1]) else { return nil }
        return (index, id)
    }

    // MARK: - Asking the reactors

    /// Why a reactor gave no answer.
    private enum Unanswered: Error {
        case shutDown
        case blocked(turn: UInt64)
        case late
    }

    /// `question`'s answer from each reactor (or the one at `only`), asked on every loop at
    /// once. A reactor that does not answer within `patience` is blocked if its loop is still
    /// in the turn it was in, and a question that reaches a loop later is not asked any more.
    private nonisolated(nonsending) func eachReactor<T: Sendable>(
        only: Int? = nil, _ question: @escaping @Sendable (Int, Reactor) -> T
    ) async -> [(index: Int, answer: Result<T, Unanswered>)] {
        let wanted = Atomic<Bool>(true)
        let asked = reactors.enumerated().filter { only == nil || $0.offset == only }.map { index, reactor in
            let answer = Future<T>(on: own)
            let turn = reactor.turnCount
            let queued = reactor.callSoonThreadsafe {
                if wanted.load(ordering: .relaxed) { try? answer.setResult(question(index, reactor)) }
            }
            return (index, reactor, answer, turn, queued)
        }
        let deadline = ContinuousClock.now + patience
        var answers: [(index: Int, answer: Result<T, Unanswered>)] = []
        for (index, reactor, answer, turn, queued) in asked {
            guard queued else {
                answers.append((index, .failure(.shutDown)))
                continue
            }
            let remaining = max(deadline - ContinuousClock.now, .zero)
            if let value = try? await own.withTimeout(remaining, operation: { try await answer.value() }) {
                answers.append((index, .success(value)))
            } else {
                answers.append((index, .failure(reactor.turnCount == turn ? .blocked(turn: turn) : .late)))
            }
        }
        wanted.store(false, ordering: .relaxed)
        return answers
    }

    /// The answers in words, a reactor after another; `none` if no reactor said anything.
    private func lines<T>(_ answers: [(index: Int, answer: Result<T, Unanswered>)], none: String = "", _ format: (Int, T) -> String) -> String {
        var lines: [String] = []
        for (index, answer) in answers {
            switch answer {
            case .success(let value):
                let text = format(index, value)
                if !text.isEmpty { lines.append(text) }
            case .failure(.shutDown): lines.append("reactor \(index) has shut down")
            case .failure(.blocked(let turn)): lines.append("reactor \(index) is blocked: its loop has been in turn \(turn) for more than \(patience)")
            case .failure(.late): lines.append("reactor \(index) did not answer within \(patience)")
            }
        }
        if lines.isEmpty && !none.isEmpty { lines.append(none) }
        return lines.joined(separator: "\n")
    }

    // MARK: - How long tasks have been parked

    /// Notes, per reactor, the waits seen parked: a wait's id is never reused, so the first
    /// time the monitor saw one bounds how long its task has waited, at no cost to the loop.
    private func notice(_ seen: [(index: Int, ids: Result<[UInt64], Unanswered>)]) {
        let now = ContinuousClock.now
        firstSeen.withLock { firstSeen in
            for (index, ids) in seen {
                guard case .success(let ids) = ids else { continue }
                let before = firstSeen[index] ?? [:]
                firstSeen[index] = Dictionary(uniqueKeysWithValues: ids.map { ($0, before[$0] ?? now) })
            }
        }
    }

    /// The task's line in `ps`: its id (`taskID`), how long it has been parked if the monitor
    /// saw its wait before, and what it waits on.
    private func describe(_ task: Reactor.ParkedTask, on index: Int) -> String {
        let tenths = firstSeen.withLock { $0[index]?[task.id] }.map { (ContinuousClock.now - $0).nanoseconds / 100_000_000 } ?? 0
        let parked = tenths > 0 ? " (parked for at least \(tenths / 10).\(tenths % 10) s)" : ""
        return "\(index):\(task.id)\(parked) waiting: \(task.waitDescription)"
    }

    /// Looks at the parked waits once a second, so that `ps` can say how long each has waited.
    private func watchWaits() async {
        while !handle.withLock({ $0 == nil }) {
            let answers = await eachReactor { _, reactor in reactor.parkedWaitIDs() }
            notice(answers.map { ($0.index, $0.answer) })
            do {
                try await own.sleep(for: .seconds(1))
            } catch {
                return
            }
        }
    }
}
