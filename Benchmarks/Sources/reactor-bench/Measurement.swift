import Foundation

/// One run of one scenario against one server.
struct Measurement: Codable, Sendable {
    var messagesPerSecond: Double
    var megabytesPerSecond: Double
    var p50Microseconds: Double
    var p99Microseconds: Double
    /// The server's CPU use over the run, in percent of one core.
    var serverCPUPercent: Double
    /// The server's CPU time per echoed message.
    var serverMicrosecondsPerMessage: Double
    /// The load generator's CPU use: well under 100 means it was not the bottleneck.
    var clientCPUPercent: Double
    var messages: Int

    /// Runs bench-loadgen (pinned to `cpu`) against `server` and measures the server's CPU.
    static func run(
        _ scenario: Scenario, against server: ServerProcess, toolbox: Toolbox, cpu: Int?, duration: Double, warmup: Double
    ) throws -> Measurement {
        let command = toolbox.pinned(cpu, [try toolbox.path(of: "bench-loadgen")] + scenario.loadArguments(port: server.port, duration: duration, warmup: warmup) + server.kind.loadFlags)
        let cpuBefore = server.cpuSeconds
        let wallBefore = Date()
        let report = try runLoad(command)
        let serverCPU = (server.cpuSeconds - cpuBefore) / Date().timeIntervalSince(wallBefore)
        func number(_ key: String) -> Double { (report[key] as? NSNumber)?.doubleValue ?? 0 }
        let rate = number("msgs_per_sec")
        return Measurement(
            messagesPerSecond: rate,
            megabytesPerSecond: number("mb_per_sec"),
            p50Microseconds: number("p50_us"),
            p99Microseconds: number("p99_us"),
            serverCPUPercent: serverCPU * 100,
            serverMicrosecondsPerMessage: rate > 0 ? serverCPU * 1e6 / rate : 0,
            clientCPUPercent: number("client_cpu_percent"),
            messages: Int(number("messages")))
    }

    /// Runs the load generator and returns its JSON report; its errors are ours.
    static func runLoad(_ command: [String]) throws -> [String: Any] {
        let (data, status) = try Toolbox.output(of: command)
        let report = try loadReport(String(decoding: data, as: UTF8.self))
        guard status == 0 else { throw BenchError("bench-loadgen exited with \(status)") }
        return report
    }

    /// One JSON line of bench-loadgen's (nil: it printed none in time); its error is ours.
    static func loadReport(_ line: String?) throws -> [String: Any] {
        guard let line, let report = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw BenchError("bench-loadgen printed no report\(line.map { ": \($0)" } ?? "")")
        }
        if let error = report["error"] as? String { throw BenchError("bench-loadgen: \(error)") }
        return report
    }

    /// Each figure's median, min or max over repetitions, as `pick` says.
    static func summary(_ runs: [Measurement], _ pick: KeyPath<Spread, Double>) -> Measurement {
        func figure(_ value: (Measurement) -> Double) -> Double { Spread(runs.map(value))?[keyPath: pick] ?? 0 }
        return Measurement(
            messagesPerSecond: figure(\.messagesPerSecond), megabytesPerSecond: figure(\.megabytesPerSecond),
            p50Microseconds: figure(\.p50Microseconds), p99Microseconds: figure(\.p99Microseconds),
            serverCPUPercent: figure(\.serverCPUPercent), serverMicrosecondsPerMessage: figure(\.serverMicrosecondsPerMessage),
            clientCPUPercent: figure(\.clientCPUPercent), messages: Int(figure { Double($0.messages) }))
    }
}
