import Glibc
import Reactor

/// A server's state on one reactor: the `Date` field, the coarse clock connections' deadlines
/// are measured on, and the connections, whose deadlines it checks once a second (as Redis's
/// clientsCron and nginx's timers do), so that waiting for a request costs no timer of its own.
final class HTTPLoop: @unchecked Sendable {
    let reactor: Reactor
    let configuration: HTTPServer.Configuration
    @exclusivity(unchecked) var date = DateHeader()
    /// The configuration's timeouts, in the clock's seconds.
    let headerTimeout: Int64
    let idleTimeout: Int64
    /// `Server: name\r\n`, if the configuration names the server.
    let serverField: [UInt8]
    /// Monotonic seconds, as of the last tick.
    @exclusivity(unchecked) private(set) var now = HTTPLoop.monotonicSeconds()
    /// Set by a graceful shutdown: each connection closes after the response it is writing.
    @exclusivity(unchecked) private(set) var isStopping = false
    @exclusivity(unchecked) private var connections: [HTTPConnection?] = []
    @exclusivity(unchecked) private var freeSlots: [Int] = []
    @exclusivity(unchecked) private var isFinished = false

    init(reactor: Reactor, configuration: HTTPServer.Configuration) {
        self.reactor = reactor
        self.configuration = configuration
        headerTimeout = max(1, configuration.headerTimeout.components.seconds)
        idleTimeout = max(1, configuration.idleTimeout.components.seconds)
        serverField = configuration.serverName.map { Array("Server: \($0)\r\n".utf8) } ?? []
    }

    /// Ticks once a second on the reactor until `finish()`.
    func start() {
        Task(executorPreference: reactor) { [self] in
            while !isFinished {
                do {
                    try await reactor.sleep(for: .seconds(1))
                } catch {
                    return  // the reactor is shutting down
                }
                tick()
            }
        }
    }

    func finish() {
        _ = reactor.runOnLoopNowOrNextTurn(self) { $0.isFinished = true }
    }

    func register(_ connection: HTTPConnection) -> Int {
        if let slot = freeSlots.popLast() {
            connections[slot] = connection
            return slot
        }
        connections.append(connection)
        return connections.count - 1
    }

    func unregister(slot: Int) {
        connections[slot] = nil
        freeSlots.append(slot)
    }

    /// Renders the second's date and closes the connections past their deadline.
    private func tick() {
        date.update()
        now = Self.monotonicSeconds()
        for case let connection? in connections where connection.deadline < now {
            connection.expire()
        }
    }

    /// Graceful shutdown, on the loop: idle connections close now, busy ones after their response.
    func stop() {
        isStopping = true
        for case let connection? in connections { connection.closeIfIdle() }
    }

    static func monotonicSeconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now)
        return Int64(now.tv_sec)
    }
}
