import ArgumentParser
import Glibc
import RESP
import Reactor

/// A Redis-protocol server on swift-reactor (RESP2; the commands redis-benchmark and redis-cli
/// use). SIGINT or SIGTERM stop it gracefully.
@main
struct ReactorRedis: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-redis",
        abstract: "A Redis-protocol server on swift-reactor.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one, printed at start).")
    var port = 6379

    func run() throws {
        let options = self
        try Reactor.run { reactor in
            let stopSignals = try reactor.signals(SIGINT, SIGTERM)
            let redis = try await RedisServer.start(host: options.host, port: options.port)
            print("reactor-redis listening on \(redis.server.addresses[0])")
            fflush(nil)
            var signals = stopSignals.makeAsyncIterator()
            _ = await signals.next()
            redis.server.gracePeriod = .seconds(1)
            await redis.server.shutdownGracefully()
        }
    }
}
