import Glibc
import Reactor
import Synchronization

/// A console into running reactors, in the manner of aiomonitor: a Unix-domain socket that
/// answers one command a line, for `nc -U` or `socat`:
///
/// - `ps`: every parked task (`Reactor.parkedTasks()`), a line each: the id of its wait, then
///   what it waits on (a socket's read or write with the fd and the peer's address and port,
///   a queue and what it belongs to, a sleep and the time left).
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
                ps           every parked task: its id, and what it waits on
                where ID     what task ID waits on
                cancel ID    cancels task ID (a connection's task: its connection closes)
                stats        each reactor's loop statistics
                quit         ends this session
                """
        case ("ps", 1):
            return await eachReactor { index, reactor in
                let tasks = reactor.parkedTasks()
                return (["reactor \(index): \(tasks.count) parked tasks"] + tasks.map(\.description)).joined(separator: "\n")
            }
        case ("where", 2):
            guard let id = UInt64(words[1]) else { return "where: '\(words[1])' is not a task id" }
            return await eachReactor(found: "no parked task \(id)") { _, reactor in reactor.parkedTask(id)?.description ?? "" }
        case ("cancel", 2):
            guard let id = UInt64(words[1]) else { return "cancel: '\(words[1])' is not a task id" }
            return await eachReactor(found: "no parked task \(id)") { index, reactor in
                reactor.cancelParkedTask(id) ? "cancelled \(id) on reactor \(index)" : ""
            }
        case ("stats", 1):
            return await eachReactor { index, reactor in
                let stats = reactor.statistics()
                return "reactor \(index): turns \(stats.turns), busy \(stats.busyTime), waiting \(stats.waitingTime), ready jobs \(stats.readyJobs), "
                    + "timers \(stats.pendingTimers), fds \(stats.registeredHandles), hops \(stats.hops)"
            }
        default:
            return "unknown command: \(words.joined(separator: " ").prefix(80)) (try help)"
        }
    }

    /// `question`'s answer from each reactor, asked on every loop at once: their lines, or
    /// `found` if none answered anything. A reactor that does not answer within `patience` is
    /// reported as blocked, and a question that reaches its loop later is not asked any more.
    private nonisolated(nonsending) func eachReactor(
        found: String = "", _ question: @escaping @Sendable (Int, Reactor) -> String
    ) async -> String {
        let wanted = Atomic<Bool>(true)
        let asked = reactors.enumerated().map { index, reactor in
            let answer = Future<String>(on: own)
            let turn = reactor.turnCount
            let queued = reactor.callSoonThreadsafe {
                if wanted.load(ordering: .relaxed) { try? answer.setResult(question(index, reactor)) }
            }
            return (index, reactor, answer, turn, queued)
        }
        let deadline = ContinuousClock.now + patience
        var lines: [String] = []
        var answered = false
        for (index, reactor, answer, turn, queued) in asked {
            guard queued else {
                lines.append("reactor \(index) has shut down")
                continue
            }
            let remaining = max(deadline - ContinuousClock.now, .zero)
            if let text = try? await own.withTimeout(remaining, operation: { try await answer.value() }) {
                if !text.isEmpty {
                    lines.append(text)
                    answered = true
                }
            } else if reactor.turnCount == turn {
                lines.append("reactor \(index) is blocked: its loop has been in turn \(turn) for more than \(patience)")
            } else {
                lines.append("reactor \(index) did not answer within \(patience)")
            }
        }
        wanted.store(false, ordering: .relaxed)
        if !answered && !found.isEmpty { lines.append(found) }
        return lines.joined(separator: "\n")
    }
}


