import Foundation

/// Syscalls per echoed message: each server runs under `strace -f -c` while the load
/// generator echoes a fixed number of messages (64 connections, 64 B); strace's summary,
/// divided by the message count, gives a figure that does not depend on the machine's noise.
enum SyscallCount {
    /// The calls that matter per message; the rest (start-up, accept) are shown as "other".
    static let hot = ["recvfrom", "sendto", "recvmsg", "sendmsg", "read", "write", "readv", "writev",
                      "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "futex"]

    static func run(servers: [ServerKind], messages: Int, toolbox: Toolbox) throws {
        guard let strace = Toolbox.system("strace") else {
            throw BenchError("reactor-bench syscalls needs strace (apt-get install strace)")
        }
        print("Syscalls per echoed message: \(messages) messages, 64 connections × 64 B (strace -f -c)\n")
        var rows: [[String]] = []
        var floorTotal: Double?
        var shown = Set<String>()
        var counts: [(String, [String: Double], Double)] = []
        for (index, server) in servers.enumerated() {
            statusLine("[\(index + 1)/\(servers.count)] \(server.name) under strace\n")
            let summary = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-bench-strace-\(getpid())-\(server.name).txt")
            defer { try? FileManager.default.removeItem(at: summary) }
            let process = try ServerProcess(server, toolbox: toolbox, cpu: 0, wrapper: [strace, "-f", "-c", "-o", summary.path, "--"])
            let load = toolbox.pinned(1, [try toolbox.path(of: "bench-loadgen"), "--port", "\(process.port)", "--connections", "64",
                                          "--size", "64", "--messages", "\(messages)"])
            do {
                _ = try Measurement.runLoad(load)
            } catch {
                process.stop()
                throw error
            }
            // strace writes its summary when the server exits.
            process.stop()
            let perCall = try parse(String(contentsOf: summary, encoding: .utf8))
            let total = perCall.values.reduce(0, +) / Double(messages)
            if server.name == Report.floor { floorTotal = total }
            for (name, count) in perCall where hot.contains(name) && count > 0 { shown.insert(name) }
            counts.append((server.name, perCall, total))
        }
        let columns = hot.filter { shown.contains($0) }
        let header = ["server"] + columns + ["other", "total", "vs C"]
        for (name, perCall, total) in counts {
            let hotSum = columns.reduce(0.0) { $0 + (perCall[$1] ?? 0) }
            let other = (perCall.values.reduce(0, +) - hotSum) / Double(messages)
            rows.append([name] + columns.map { Report.format((perCall[$0] ?? 0) / Double(messages), 3) }
                + [Report.format(other, 3), Report.format(total, 3), Report.ratio(total, floorTotal)])
        }
        print(Report.render([header] + rows).joined(separator: "\n"))
    }

    /// strace -c's table: "% time  seconds  usecs/call  calls  errors  syscall".
    static func parse(_ text: String) throws -> [String: Double] {
        var counts: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, let calls = Double(fields[3]), let name = fields.last, name != "total" else { continue }
            counts[String(name), default: 0] += calls
        }
        guard !counts.isEmpty else { throw BenchError("strace wrote no summary") }
        return counts
    }
}
