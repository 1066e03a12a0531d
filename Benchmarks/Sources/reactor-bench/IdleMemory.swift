import Foundation

/// Memory per idle connection: each server's resident memory (VmRSS) before bench-loadgen
/// opens `connections` connections to it and after it has echoed 64 B once on each and holds
/// them open and idle; the difference, per connection. Then the load generator checks that
/// none was closed, closes them all, and the server must still echo.
enum IdleMemory {
    /// A moment for the server to finish what it was doing before its memory is read.
    static let settle: useconds_t = 500_000
    /// Descriptors beyond the connections: the listener, epoll, eventfds, a runtime's own.
    static let spareFiles = 100

    static func run(servers: [ServerKind], connections: Int, fileLimit: Int, toolbox: Toolbox) throws {
        guard fileLimit >= connections + spareFiles else {
            throw BenchError("""
                \(connections) idle connections need \(connections + spareFiles) open files on each side, and the limit \
                is \(fileLimit): raise the hard limit (ulimit -Hn, as root) or ask for fewer (--connections)
                """)
        }
        let count = Report.grouped(Double(connections))
        print("Memory per idle connection\(servers.first?.loadFlags.contains("--tls") == true ? " (TLS, handshake done)" : ""): the server's VmRSS holding \(count) idle connections (each echoed 64 B once), less before, / \(count)\n")
        var results: [(ServerKind, before: Int, after: Int)] = []
        for (index, server) in servers.enumerated() {
            statusLine("[\(index + 1)/\(servers.count)] \(server.name): \(count) idle connections\n")
            let process = try ServerProcess(server, toolbox: toolbox, cpu: nil)
            defer { process.stop() }
            usleep(settle)
            guard let before = process.residentBytes else { throw BenchError("\(server.name): cannot read its VmRSS") }
            var after: Int?
            try hold(connections, on: process.port, loadFlags: server.loadFlags, toolbox: toolbox) {
                usleep(settle)
                after = process.residentBytes
            }
            guard let after else { throw BenchError("\(server.name): cannot read its VmRSS") }
            guard process.process.isRunning else { throw BenchError("\(server.name) exited after its idle connections closed") }
            // Still serving once they are gone.
            _ = try Measurement.runLoad([try toolbox.path(of: "bench-loadgen"), "--port", "\(process.port)", "--connections", "1",
                                         "--size", "64", "--messages", "100"] + server.loadFlags)
            results.append((server, before, after))
        }
        let perConnection = Dictionary(uniqueKeysWithValues: results.map { ($0.0.name, Double($0.after - $0.before) / Double(connections)) })
        let header = ["server", "VmRSS before KiB", "VmRSS holding KiB", "B/connection", "vs C", "vs NIO"]
        let rows = results.map { server, before, after in
            let value = perConnection[server.name]!
            return [server.name, Report.grouped(Double(before) / 1024), Report.grouped(Double(after) / 1024), Report.grouped(value),
                    Report.ratio(value, perConnection[Report.floor]), Report.ratio(value, perConnection[Report.nio])]
        }
        print(Report.render([header] + rows).joined(separator: "\n"))
    }

    /// Runs `measure` while bench-loadgen holds `connections` idle connections to `port`.
    static func hold(_ connections: Int, on port: Int, loadFlags: [String], toolbox: Toolbox, _ measure: () -> Void) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try toolbox.path(of: "bench-loadgen"))
        process.arguments = ["--port", "\(port)", "--idle", "\(connections)", "--size", "64"] + loadFlags
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // Its end of file on standard input lets it go, however this ends.
        defer {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        let lines = LineReader(output.fileHandleForReading)
        try check(lines.next(within: 120), expecting: "holding")
        measure()
        try input.fileHandleForWriting.close()
        try check(lines.next(within: 30), expecting: "closed")
    }

    /// One of bench-loadgen's JSON lines, which must have `key`; its error is ours.
    private static func check(_ line: String?, expecting key: String) throws {
        guard try Measurement.loadReport(line)[key] != nil else {
            throw BenchError("bench-loadgen --idle printed \(line ?? ""), not '\(key)'")
        }
    }
}
