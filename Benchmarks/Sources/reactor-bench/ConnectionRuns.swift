import ArgumentParser
import Foundation

/// reactor-bench connections: as many concurrent TCP connections as the open-files limit
/// allows, to one server process, each echoing 64 B once a second; and fewer, so the growth
/// shows. Per server: the time to connect them all, the round-trip latency while all are open,
/// the server's CPU per message, and its memory per connection right after a burst in which
/// every connection echoed at once.
struct Connections: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Up to the open-files limit of connections, each echoing 64 B once a second: connect time, latency, CPU and memory per connection.")

    @Option(help: "Comma-separated connection counts; 'max' is as many as the open-files hard limit allows.")
    var sizes = "1000,5000,max"

    @Option(help: "Seconds each connection echoes once a second.")
    var duration = 20.0

    @Option(help: "Source addresses 127.0.0.1 to 127.0.0.K the connections spread over.")
    var sources = 4

    @Option(help: "Comma-separated servers (default: c-floor, reactor-sock, reactor-streams, nio-handler).")
    var servers = "c-floor,reactor-sock,reactor-streams,nio-handler"

    /// Descriptors a process needs beyond its connections (listeners, epoll, eventfds, a
    /// runtime's own), kept free on each side.
    static let spareFiles = 256

    func run() throws {
        let servers = try selected(servers, from: ServerKind.all, \.name, ServerKind.named)
        let toolbox = Toolbox()
        let hardLimit = FileLimit.raise(to: Int(Int32.max))
        let most = hardLimit - Self.spareFiles
        let counts = try sizes.split(separator: ",").map { item -> Int in
            if item == "max" { return most }
            guard let count = Int(item), count > 0 else { throw ValidationError("--sizes: '\(item)' is not a count") }
            guard count <= most else { throw ValidationError("--sizes: \(count) is more than the open-files limit allows (\(most))") }
            return count
        }
        print("""
            reactor-bench connections: the open-files limit is \(Report.grouped(Double(hardLimit))) a process, so at most \
            \(Report.grouped(Double(most))) connections (\(Self.spareFiles) files kept spare on each side); each connection echoes \
            64 B once a second for \(Int(duration)) s, from 127.0.0.1-\(sources); server on CPU 0, load on CPU 1.
            Memory: the server's VmRSS right after every connection echoed at once, less before any connected, per connection.
            CPU: the server's, from the first connect to the end, per message echoed.

            """)
        for count in counts {
            var rows: [[String]] = []
            var cpuPerMessage: [String: Double] = [:]
            for (index, server) in servers.enumerated() {
                statusLine("[\(index + 1)/\(servers.count)] \(server.name): \(Report.grouped(Double(count))) connections\n")
                let result = try measure(server, connections: count, toolbox: toolbox)
                cpuPerMessage[server.name] = result.microsecondsPerMessage
                rows.append([
                    server.name, Report.format(result.connectSeconds, 2), "\(Report.grouped(Double(result.echoed)))/\(Report.grouped(Double(result.expected)))",
                    Report.format(result.p50Microseconds / 1000, 2), Report.format(result.p99Microseconds / 1000, 2),
                    Report.grouped(result.bytesPerConnection), Report.format(result.microsecondsPerMessage, 2),
                ])
            }
            for index in rows.indices {
                rows[index].append(Report.ratio(cpuPerMessage[rows[index][0]]!, cpuPerMessage[Report.floor]))
            }
            let header = ["server", "connect s", "echoed/expected", "p50 ms", "p99 ms", "B/connection", "srv µs/msg", "µs/msg vs C"]
            print("\(Report.grouped(Double(count))) connections")
            print(Report.render([header] + rows).joined(separator: "\n") + "\n")
        }
    }

    struct Result {
        let connectSeconds: Double
        let echoed: Int
        let expected: Int
        let p50Microseconds: Double
        let p99Microseconds: Double
        let bytesPerConnection: Double
        let microsecondsPerMessage: Double
    }

    /// One server, `connections` connections: the paced run, the burst, the memory held.
    private func measure(_ server: ServerKind, connections: Int, toolbox: Toolbox) throws -> Result {
        let process = try ServerProcess(server, toolbox: toolbox, cpu: 0)
        defer { process.stop() }
        usleep(IdleMemory.settle)
        guard let before = process.residentBytes else { throw BenchError("\(server.name): cannot read its VmRSS") }
        let load = Process()
        let command = toolbox.pinned(1, [try toolbox.path(of: "bench-loadgen"), "--port", "\(process.port)", "--paced",
                                         "--connections", "\(connections)", "--sources", "\(sources)", "--duration", "\(duration)",
                                         "--size", "64", "--burst", "--hold"])
        load.executableURL = URL(fileURLWithPath: command[0])
        load.arguments = Array(command.dropFirst())
        let input = Pipe()
        let output = Pipe()
        load.standardInput = input
        load.standardOutput = output
        let cpuBefore = process.cpuSeconds
        try load.run()
        defer {
            try? input.fileHandleForWriting.close()
            load.waitUntilExit()
        }
        let lines = LineReader(output.fileHandleForReading)
        let report = try Measurement.loadReport(lines.next(within: duration + 180))
        let cpu = process.cpuSeconds - cpuBefore
        _ = try Measurement.loadReport(lines.next(within: 60))  // the burst
        usleep(IdleMemory.settle)
        guard let after = process.residentBytes else { throw BenchError("\(server.name): cannot read its VmRSS") }
        try input.fileHandleForWriting.close()
        _ = try Measurement.loadReport(lines.next(within: 60))  // closed
        func number(_ key: String) -> Double { (report[key] as? NSNumber)?.doubleValue ?? 0 }
        let echoed = Int(number("messages"))
        return Result(
            connectSeconds: number("connect_seconds"), echoed: echoed, expected: Int(number("expected")),
            p50Microseconds: number("p50_us"), p99Microseconds: number("p99_us"),
            bytesPerConnection: Double(after - before) / Double(connections),
            microsecondsPerMessage: echoed > 0 ? cpu * 1e6 / Double(echoed) : 0)
    }
}
