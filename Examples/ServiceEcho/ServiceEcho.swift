import ArgumentParser
import Glibc
import Logging
import Reactor
import ReactorServiceLifecycle
import ReactorStreams
import ServiceLifecycle

/// A line server in a swift-service-lifecycle `ServiceGroup`: each line a client sends comes
/// back after `--delay` milliseconds, so requests are in flight when SIGTERM comes. SIGTERM
/// shuts the group down gracefully: no new connection is accepted, requests in flight are
/// answered, connections still open after the grace period are cut, and the process exits 0.
@main
struct ServiceEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-service-echo",
        abstract: "A delayed line echo server on swift-reactor, run by a ServiceGroup.")

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one, printed at start).")
    var port = 8889

    @Option(help: "How long each reply waits, in milliseconds.")
    var delay = 200

    @Option(help: "How long connections may take to end after SIGTERM, in milliseconds.")
    var gracePeriod = 2000

    @Option(help: "How many reactors serve the port, each on a thread of its own.")
    var reactors = 1

    func run() throws {
        let options = self
        try ReactorGroup.run(count: options.reactors) { reactors in
            let delay = Duration.milliseconds(options.delay)
            let server = try await startServer(host: options.host, port: options.port, group: reactors) { reader, writer in
                // The reactor that accepted this connection, which the handler runs on.
                guard let reactor = Reactor.current else { return }
                while let line = try await reader.readLineIfAny() {
                    try await reactor.sleep(for: delay)
                    try writer.write(line)
                    try await writer.drain()
                }
            }
            server.gracePeriod = .milliseconds(options.gracePeriod)
            let logger = Logger(label: "reactor-service-echo")
            let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
            print("reactor-service-echo listening on \(server.addresses[0])")
            fflush(nil)
            try await group.run()
            print("reactor-service-echo: stopped")
            fflush(nil)
        }
    }
}

extension StreamReader {
    /// The next line, or nil at EOF.
    fileprivate func readLineIfAny() async throws -> [UInt8]? {
        let line = try await readLine()
        return line.isEmpty ? nil : line
    }
}
