import ArgumentParser
import Glibc
import HTTPTypes
import Metrics
import Prometheus
import Reactor
import ReactorHTTP
import ReactorMetrics
import ReactorStreams
import ReactorTLS

/// An HTTP/1.1 server on swift-reactor with TechEmpower's plaintext and JSON routes and a
/// streaming echo; with `--metrics`, the reactors' and the server's metrics at GET /metrics, in
/// Prometheus's text format. SIGINT or SIGTERM stop it gracefully: requests in flight finish.
@main
struct ReactorHTTPServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-http",
        abstract: "An HTTP/1.1 server on swift-reactor: GET /plaintext, GET /json, POST /echo.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one, printed at start).")
    var port = 8080

    @Option(help: "How many reactors serve the port, each on a thread of its own (0: one per available CPU).")
    var reactors = 1

    @Option(help: "Serve HTTPS with this certificate chain (PEM), with --tls-key.")
    var tlsCert: String?

    @Option(help: "The TLS certificate's private key (PEM).")
    var tlsKey: String?

    @Option(help: "The largest request body accepted, in bytes (larger: 413).")
    var maxBodySize = 64 * 1024 * 1024

    @Option(help: "Seconds a request head may take to arrive (slowloris).")
    var headerTimeout = 10

    @Option(help: "Seconds an idle keep-alive connection is kept.")
    var idleTimeout = 60

    @Option(help: "The most connections served at once (more wait in the kernel's backlog).")
    var maxConnections: Int?

    @Flag(help: "Serve the reactors' and the server's metrics at GET /metrics (Prometheus's text format).")
    var metrics = false

    @Option(help: "Seconds between two reports of the metrics.")
    var metricsInterval = 1

    @Option(help: "Serve a monitor console (ps, where, cancel, stats, help) on a Unix-domain socket at this path.")
    var monitor: String?

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if reactors < 0 { throw ValidationError("--reactors must be 0 (one per CPU) or more") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be positive") }
        if metricsInterval < 1 { throw ValidationError("--metrics-interval must be at least 1") }
    }

    func run() throws {
        var configuration = HTTPServer.Configuration()
        configuration.maxBodySize = maxBodySize
        configuration.headerTimeout = .seconds(headerTimeout)
        configuration.idleTimeout = .seconds(idleTimeout)
        configuration.serverName = "reactor-http"
        configuration.maxConnections = maxConnections
        let registry = metrics ? Routes.bootstrapMetrics() : nil
        var tls: TLSContext?
        if let tlsCert, let tlsKey {
            var settings = TLSConfiguration.server(certificateChain: .file(tlsCert), privateKey: .file(tlsKey))
            settings.applicationProtocols = ["http/1.1"]
            tls = try TLSContext(settings)
        }
        let options = self
        let count = reactors == 0 ? ReactorGroup.availableCPUs.count : reactors
        try ReactorGroup.run(count: count) { [tls, configuration] group in
            let stopSignals = try group.reactors[0].signals(SIGINT, SIGTERM)
            let handler = registry.map(Routes.withMetrics) ?? Routes.handle
            let server = try await HTTPServer.start(
                host: options.host, port: options.port, tls: tls, configuration: configuration, group: group, handler: handler)
            let reporter = registry.map { _ in
                ReactorMetrics(reactors: group.reactors, servers: ["http": server.server], interval: .seconds(options.metricsInterval))
            }
            defer { reporter?.stop() }
            let monitor = if let path = options.monitor { try await ReactorMonitor.start(path: path, reactors: group.reactors) } else { nil as ReactorMonitor? }
            print("reactor-http listening on \(server.addresses[0])")
            fflush(nil)
            var signals = stopSignals.makeAsyncIterator()
            _ = await signals.next()
            await monitor?.stop()
            server.server.gracePeriod = .seconds(5)
            await server.shutdownGracefully()
        }
    }
}

/// The routes: TechEmpower's plaintext and JSON tests, and an echo that streams the request
/// body back as it arrives.
enum Routes {
    static let plaintext = Array("Hello, World!".utf8)
    static let json = Array(#"{"message":"Hello, World!"}"#.utf8)
    static let plaintextFields = RenderedFields([.contentType: "text/plain"])
    static let jsonFields = RenderedFields([.contentType: "application/json"])
    static let echoFields: HTTPFields = [.contentType: "application/octet-stream"]

    @Sendable static func handle(_ request: HTTPServerRequest, _ response: HTTPResponseWriter) async throws {
        switch (request.method, request.path) {
        case (.get, "/plaintext"), (.head, "/plaintext"):
            try response.respond(renderedFields: plaintextFields, body: plaintext)
        case (.get, "/json"), (.head, "/json"):
            try response.respond(renderedFields: jsonFields, body: json)
        case (.post, "/echo"), (.put, "/echo"):
            // The first chunk is read before the head is written, so a malformed or oversized
            // body is still answered with its status.
            var body = request.body.makeAsyncIterator()
            let first = try await body.next()
            var fields = echoFields
            if let length = request.contentLength { fields[.contentLength] = String(length) }
            try response.writeHead(headerFields: fields)
            if let first { try await response.write(first) }
            while let chunk = try await body.next() { try await response.write(chunk) }
            try response.end()
        default:
            try response.respond(.notFound, renderedFields: plaintextFields, body: Array("Not Found\n".utf8))
        }
    }

    static let metricsFields = RenderedFields([.contentType: "text/plain; version=0.0.4; charset=utf-8"])

    /// The routes, and GET /metrics from `registry`.
    static func withMetrics(_ registry: PrometheusCollectorRegistry) -> HTTPHandler {
        { request, response in
            guard request.method == .get && request.path == "/metrics" else { return try await handle(request, response) }
            try response.respond(renderedFields: metricsFields, body: registry.emitToBuffer())
        }
    }

    /// Makes swift-metrics report to a Prometheus registry, with the loop lag's histogram in
    /// buckets from 50 µs, and returns the registry.
    static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["reactor_loop_lag_seconds"] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .seconds(1),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
