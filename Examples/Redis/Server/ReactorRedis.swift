import ArgumentParser
import Glibc
import RESP
import Reactor
import ReactorStreams
import ReactorTLS

/// A Redis-protocol server on swift-reactor (RESP2; the commands redis-benchmark and redis-cli
/// use). SIGINT or SIGTERM stop it gracefully.
@main
struct ReactorRedis: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-redis",
        abstract: "A Redis-protocol server on swift-reactor.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one, printed at start; with --tls-port, 0 is no plain port, as in redis-server).")
    var port = 6379

    @Option(help: "Also serve TLS on this port (0 picks a free one), with --tls-cert-file and --tls-key-file.")
    var tlsPort: Int?

    @Option(help: "The TLS certificate chain (PEM).")
    var tlsCertFile: String?

    @Option(help: "The TLS certificate's private key (PEM).")
    var tlsKeyFile: String?

    @Option(help: "Ask TLS clients for a certificate and verify it against these CA certificates (PEM), as redis-server's tls-auth-clients yes does.")
    var tlsCaCertFile: String?

    @Option(help: "Serve a monitor console (ps, where, cancel, stats, help) on a Unix-domain socket at this path.")
    var monitor: String?

    func validate() throws {
        if tlsPort != nil && (tlsCertFile == nil || tlsKeyFile == nil) {
            throw ValidationError("--tls-port needs --tls-cert-file and --tls-key-file")
        }
    }

    func run() throws {
        let options = self
        var tls: (port: Int, context: TLSContext)?
        if let tlsPort, let certificate = tlsCertFile, let key = tlsKeyFile {
            var configuration = TLSConfiguration.server(certificateChain: .file(certificate), privateKey: .file(key))
            if let authority = tlsCaCertFile {
                configuration.peerVerification = .required
                configuration.trustRoots = .certificates(.file(authority))
            }
            tls = (tlsPort, try TLSContext(configuration))
        }
        let plainPort: Int? = tls != nil && port == 0 ? nil : port
        try Reactor.run { [tls] reactor in
            let stopSignals = try reactor.signals(SIGINT, SIGTERM)
            let redis = try await RedisServer.start(host: options.host, port: plainPort, tls: tls)
            let monitor = if let path = options.monitor { try await ReactorMonitor.start(path: path, reactors: [reactor]) } else { nil as ReactorMonitor? }
            if plainPort != nil { print("reactor-redis listening on \(redis.servers[0].addresses[0])") }
            if tls != nil { print("reactor-redis listening with TLS on \(redis.servers.last!.addresses[0])") }
            fflush(nil)
            var signals = stopSignals.makeAsyncIterator()
            _ = await signals.next()
            await monitor?.stop()
            await withTaskGroup { group in
                for server in redis.servers {
                    server.gracePeriod = .seconds(1)
                    group.addTask { await server.shutdownGracefully() }
                }
            }
        }
    }
}
