import Glibc
import Reactor
import ReactorStreams
import ReactorTLS

/// A Redis-protocol server on the streams: one task per connection, one ``Database`` on the
/// reactor's loop, its expired keys swept every 100 ms on the loop's timers.
public final class RedisServer: Sendable {
    /// Redis's `client-query-buffer-limit`: a connection whose pending request grows past it
    /// is closed.
    public static let queryBufferLimit = 1 << 30

    /// The plain server, if there is one, then the TLS one: one database behind both.
    public let servers: [Server]
    public let database: Database

    /// The first of `servers`.
    public var server: Server { servers[0] }

    /// Starts serving on `host` and `port` (0: a free port; nil: no plain port), and over TLS
    /// on `tls.port` (0: a free port) if given, on `reactor`, or the caller's.
    public static func start(
        host: String? = "127.0.0.1", port: Int?, tls: (port: Int, context: TLSContext)? = nil, on reactor: Reactor? = nil
    ) async throws -> RedisServer {
        precondition(port != nil || tls != nil, "RedisServer.start needs a port")
        let reactor = try Reactor.resolve(reactor, for: "RedisServer.start")
        let database = Database(clock: monotonicMilliseconds)
        let clients = ClientCounter()
        let handler: ConnectionHandler = { reader, writer in
            try await serve(reader, writer, database: database, id: clients.next())
        }
        var servers: [Server] = []
        do {
            if let port {
                servers.append(try await startServer(host: host, port: port, limit: Self.queryBufferLimit, on: reactor, handler: handler))
            }
            if let tls {
                servers.append(
                    try await startServer(
                        host: host, port: tls.port, tls: tls.context, limit: Self.queryBufferLimit, on: reactor, handler: handler))
            }
        } catch {
            for server in servers { server.close() }
            throw error
        }
        let redis = RedisServer(servers: servers, database: database)
        Task(executorPreference: reactor) { [weak redis] in
            while let redis, redis.server.isServing {
                try? await reactor.sleep(for: .milliseconds(100))
                redis.database.sweep()
            }
        }
        return redis
    }

    private init(servers: [Server], database: Database) {
        self.servers = servers
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
