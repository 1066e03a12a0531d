import Glibc
import Reactor
import ReactorStreams

/// A Redis-protocol server on the streams: one task per connection, one ``Database`` on the
/// reactor's loop, its expired keys swept every 100 ms on the loop's timers.
public final class RedisServer: Sendable {
    /// Redis's `client-query-buffer-limit`: a connection whose pending request grows past it
    /// is closed.
    public static let queryBufferLimit = 1 << 30

    public let server: Server
    public let database: Database

    /// Starts serving on `host` and `port` (0: a free port) on `reactor`, or the caller's.
    public static func start(host: String? = "127.0.0.1", port: Int, on reactor: Reactor? = nil) async throws -> RedisServer {
        let reactor = try Reactor.resolve(reactor, for: "RedisServer.start")
        let database = Database(clock: monotonicMilliseconds)
        let clients = ClientCounter()
        let server = try await startServer(host: host, port: port, limit: Self.queryBufferLimit, on: reactor) { reader, writer in
            try await serve(reader, writer, database: database, id: clients.next())
        }
        let redis = RedisServer(server: server, database: database)
        Task(executorPreference: reactor) { [weak redis] in
            while let redis, redis.server.isServing {
                try? await reactor.sleep(for: .milliseconds(100))
                redis.database.sweep()
            }
        }
        return redis
    }

    private init(server: Server, database: Database) {
        self.server = server
        self.database = database
    }

    /// Serves one connection: each batch of buffered requests is answered in one write, and
    /// the next bytes are read only once the replies drained (a client that pipelines without
    /// reading is not read from, so it cannot grow the server's memory).
    public static func serve(_ reader: StreamReader, _ writer: StreamWriter, database: Database, id: Int) async throws {
        var session = Session(client: ClientState(id: id))
        while true {
            let stop: Session.Stop = try await reader.withBufferedBytes { bytes, atEOF in
                let (consumed, stop) = session.handle(bytes, database: database)
                if stop == .needMore && session.reply.count == 0 { return (consumed, atEOF ? .close : nil) }
                return (consumed, stop)
            }
            if session.reply.count > 0 {
                try session.reply.bytes.withUnsafeBytes { try writer.write($0) }
                session.reply.removeAll()
            }
            if stop == .close { return }
            try await writer.drain()
        }
    }
}

/// Connection ids, on the loop thread.
private final class ClientCounter: @unchecked Sendable {
    private var last = 0
    func next() -> Int {
        last += 1
        return last
    }
}

private func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
