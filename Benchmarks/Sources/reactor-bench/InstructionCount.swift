import Foundation

/// User-space instructions per echoed message: each server runs under callgrind twice, echoing
/// `base` messages and then `base + extra` (8 connections, 64 B); the difference of callgrind's
/// totals, divided by `extra`, leaves start-up, accepting and shutdown out. Instructions do not
/// depend on the machine's noise: the figure repeats to within a few instructions.
enum InstructionCount {
    /// Under valgrind a server starts and stops many times slower than on its own.
    static let startup = 120.0
    static let shutdown = 30.0

    static func run(servers: [ServerKind], base: Int, extra: Int, toolbox: Toolbox) throws {
        guard let valgrind = Toolbox.system("valgrind") else {
            throw BenchError("reactor-bench instructions needs valgrind (apt-get install valgrind)")
        }
        guard let strip = Toolbox.system("strip") else { throw BenchError("reactor-bench instructions needs strip (apt-get install binutils)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-bench-callgrind-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let long = base + extra
        print("User-space instructions per echoed message\(servers.first?.loadFlags.contains("--tls") == true ? " over TLS (libssl and libcrypto included)" : ""): callgrind's Ir, (Ir(\(Report.grouped(Double(long)))) - Ir(\(Report.grouped(Double(base))))) / \(Report.grouped(Double(extra))), 8 connections × 64 B\n")
        var copies: [String: String] = [:]
        var results: [(ServerKind, Double, Double)] = []
        var failures: [String] = []
        for (index, server) in servers.enumerated() {
            statusLine("[\(index + 1)/\(servers.count)] \(server.name) under callgrind\n")
            do {
                let copy = try copies[server.executable] ?? strippedCopy(of: server.executable, into: directory, strip: strip, toolbox: toolbox)
                copies[server.executable] = copy
                let run = { (messages: Int) in
                    try instructions(server, executable: copy, messages: messages, valgrind: valgrind, directory: directory, toolbox: toolbox)
                }
                results.append((server, try run(base), try run(long)))
            } catch {
                failures.append("\(server.name): \(error)")
            }
        }
        let perMessage = Dictionary(uniqueKeysWithValues: results.map { ($0.0.name, (($0.2 - $0.1) / Double(extra)).rounded()) })
        let header = ["server", "Ir (\(Report.grouped(Double(base))))", "Ir (\(Report.grouped(Double(long))))", "Ir/msg", "vs C", "vs NIO"]
        let rows = results.map { server, short, long in
            let value = perMessage[server.name]!
            return [server.name, Report.grouped(short), Report.grouped(long), Report.grouped(value),
                    Report.ratio(value, perMessage[Report.floor]), Report.ratio(value, perMessage[Report.nio])]
        }
        print(Report.render([header] + rows).joined(separator: "\n"))
        if !failures.isEmpty {
            throw BenchError("reactor-bench instructions could not measure:\n  " + failures.joined(separator: "\n  "))
        }
    }

    /// valgrind 3.19 cannot read the debug info of Swift 6.3's binaries; without it, it can.
    static func strippedCopy(of executable: String, into directory: URL, strip: String, toolbox: Toolbox) throws -> String {
        let copy = directory.appendingPathComponent(executable).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strip)
        process.arguments = ["-o", copy, try toolbox.path(of: executable)]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("strip \(executable) exited with \(process.terminationStatus)") }
        return copy
    }

    /// One run under callgrind: start, echo `messages`, SIGTERM; callgrind's total Ir.
    static func instructions(
        _ server: ServerKind, executable: String, messages: Int, valgrind: String, directory: URL, toolbox: Toolbox
    ) throws -> Double {
        let name = "\(server.name)-\(messages)"
        let output = directory.appendingPathComponent("\(name).callgrind")
        let log = directory.appendingPathComponent("\(name).log")
        let wrapper = [valgrind, "--tool=callgrind", "--callgrind-out-file=\(output.path)", "--log-file=\(log.path)"]
        let process: ServerProcess
        do {
            process = try ServerProcess(server, toolbox: toolbox, cpu: nil, wrapper: wrapper, executable: executable, startup: startup)
        } catch {
            throw BenchError("\(error)\(complaint(in: log))")
        }
        do {
            _ = try Measurement.runLoad([try toolbox.path(of: "bench-loadgen"), "--port", "\(process.port)", "--connections", "8",
                                         "--size", "64", "--messages", "\(messages)"] + server.loadFlags)
        } catch {
            process.stop()
            throw error
        }
        guard process.stop(within: shutdown) else {
            throw BenchError("did not exit within \(Int(shutdown)) s of SIGTERM under valgrind (killed)")
        }
        guard let text = try? String(contentsOf: output, encoding: .utf8) else {
            throw BenchError("callgrind wrote no output\(complaint(in: log))")
        }
        return try total(text)
    }

    /// The events line of a callgrind output file: "summary: N" (or "totals: N"), Ir first.
    static func total(_ text: String) throws -> Double {
        let lines = text.split(separator: "\n")
        for key in ["summary:", "totals:"] {
            if let line = lines.first(where: { $0.hasPrefix(key) }),
                let value = line.dropFirst(key.count).split(separator: " ").first.flatMap({ Double($0) }) {
                return value
            }
        }
        throw BenchError("callgrind's output has no summary: or totals: line")
    }

    /// What valgrind said went wrong, from its log, if it said so.
    static func complaint(in log: URL) -> String {
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n")
        let marks = ["INTERNAL ERROR", "impossible", "unhandled", "Unrecognised", "terminating with default action of signal"]
        guard let line = lines.first(where: { line in marks.contains { line.contains($0) } }) else { return "" }
        return " (valgrind: \(line.drop { $0 != " " }.trimmingCharacters(in: .whitespaces)))"
    }
}
