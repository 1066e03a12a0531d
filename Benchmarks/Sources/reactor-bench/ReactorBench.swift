import ArgumentParser
import Foundation

/// Runs every server against every scenario, side by side in one run, and prints a table per
/// scenario. Servers run pinned to CPU 0 and the load generator to CPU 1; the servers take
/// turns within each repetition, so drift in the machine hits them alike; medians are shown,
/// with their spread and the ratios to the C floor within each repetition.
@main
struct ReactorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-bench",
        abstract: "swift-reactor side by side with a C epoll floor and SwiftNIO.",
        discussion: """
            Servers: \(ServerKind.all.map { "\($0.name) (\($0.summary))" }.joined(separator: ", ")).
            Scenarios: \(Scenario.all.map { "\($0.name) (\($0.title))" }.joined(separator: ", ")).
            """)

    @Flag(help: "One repetition of 1 s per scenario: a quick look, not figures to quote.")
    var quick = false

    @Option(help: "Seconds of load per run, after a warm-up of a quarter of it (at most 0.5 s). Default: 0.25 (1 with --quick).")
    var duration: Double?

    @Option(help: "Repetitions of each run; the tables show medians and spreads. Default: 25 (1 with --quick).")
    var repetitions: Int?

    @Option(help: "Comma-separated servers to run (default: all).")
    var servers: String?

    @Option(help: "Comma-separated scenarios to run (default: all).")
    var scenarios: String?

    @Option(help: "Also write every measurement to this JSON file.")
    var json: String?

    @Flag(help: "Count syscalls per echoed message for each server (strace), instead of timing.")
    var syscalls = false

    @Option(help: "Messages to echo for --syscalls.")
    var syscallMessages = 200_000

    @Flag(help: "Count user-space instructions per echoed message for each server (valgrind's callgrind), instead of timing.")
    var instructions = false

    @Option(help: "Messages the shorter of --instructions' two runs echoes.")
    var instructionBaseMessages = 4_000

    @Option(help: "Messages the longer of --instructions' two runs echoes beyond the shorter's.")
    var instructionMessages = 40_000

    @Flag(help: "Measure each server's memory per idle connection (VmRSS), instead of timing.")
    var memory = false

    @Option(help: "Connections that --memory opens and holds.")
    var idleConnections = 10_000

    @Flag(help: "Time the coordination primitives (Queue, Lock) against AsyncStream, AsyncChannel, an actor and asyncio, instead of the servers.")
    var coordination = false

    @Flag(help: "Time starting children (/bin/true, and /bin/cat with 1 MiB) against swift-subprocess and asyncio, instead of the servers.")
    var subprocesses = false

    @Flag(help: "Run redis-benchmark against redis-server, reactor-redis and nio-redis (RESP), instead of the echo servers.")
    var redis = false

    @Option(help: "Requests of each --redis run at -P 1 (ten times as many at -P 16).")
    var redisRequests = 100_000

    @Option(help: "PINGs that --redis times beside a connection pipelining GETs flat out.")
    var redisPings = 200

    func validate() throws {
        if [syscalls, instructions, memory, coordination, subprocesses, redis].filter({ $0 }).count > 1 {
            throw ValidationError("--syscalls, --instructions, --memory, --coordination, --subprocesses and --redis are separate runs; choose one")
        }
        if redisRequests < 100 { throw ValidationError("--redis-requests must be at least 100") }
        if redisPings < 1 { throw ValidationError("--redis-pings must be positive") }
        if idleConnections < 1 { throw ValidationError("--idle-connections must be positive") }
        if instructionBaseMessages < 1 || instructionMessages < 1 { throw ValidationError("--instruction-*-messages must be positive") }
    }

    func run() throws {
        let toolbox = Toolbox()
        if redis {
            return try RedisRuns.run(repetitions: repetitions ?? (quick ? 1 : 5), requests: redisRequests, pings: redisPings, toolbox: toolbox)
        }
        if coordination || subprocesses {
            // Each run is about as long as a server's; a default of 15 repetitions takes a minute.
            let groups = try coordination ? WorkloadRuns.coordinationGroups(toolbox: toolbox) : WorkloadRuns.subprocessGroups(toolbox: toolbox)
            return try WorkloadRuns.run(
                groups, flag: coordination ? "--coordination" : "--subprocesses", repetitions: repetitions ?? (quick ? 1 : 15),
                duration: duration ?? (quick ? 1 : 0.25), toolbox: toolbox)
        }
        // Raised before any server or load generator starts, so that they inherit it.
        let fileLimit = FileLimit.raise(to: max(20_000, idleConnections + 1_000))
        let servers = try selected(servers, from: ServerKind.all, \.name, ServerKind.named)
        // Neither memory nor instructions depend on which CPU runs what: these run unpinned.
        if memory {
            return try IdleMemory.run(servers: servers, connections: idleConnections, fileLimit: fileLimit, toolbox: toolbox)
        }
        if instructions {
            return try InstructionCount.run(servers: servers, base: instructionBaseMessages, extra: instructionMessages, toolbox: toolbox)
        }
        if toolbox.taskset == nil {
            statusLine("warning: taskset not found; servers and load run unpinned\n")
        }
        if syscalls {
            return try SyscallCount.run(servers: servers, messages: syscallMessages, toolbox: toolbox)
        }
        let scenarios = try selected(self.scenarios, from: Scenario.all, \.name, Scenario.named)
        let duration = self.duration ?? (quick ? 1 : 0.25)
        let warmup = min(duration / 4, 0.5)
        // Many short runs rather than a few long ones: the servers take turns within a second
        // or so, which the machine's slower swings move together, and the median of many
        // per-repetition ratios shrugs off its spikes (BENCHMARKS.md has the measurements).
        let repetitions = self.repetitions ?? (quick ? 1 : 25)
        var results: [Scenario: [ServerKind: [Measurement]]] = [:]
        let total = scenarios.count * repetitions * servers.count
        var done = 0
        let started = Date()
        print("reactor-bench: \(servers.count) servers × \(scenarios.count) scenarios × \(repetitions) repetitions; servers on CPU 0, load on CPU 1")
        print(Report.legend + "\n")
        for scenario in scenarios {
            // Every server runs for the whole scenario (an idle one sleeps in epoll_wait), so a
            // repetition measures them all within a second or two: the machine's slow swings
            // then move a repetition's figures together, and its ratios keep still.
            let processes = try servers.map { try ServerProcess($0, toolbox: toolbox, cpu: 0) }
            defer { for process in processes { _ = process.stop() } }
            for repetition in 0..<repetitions {
                // Rotate the order each repetition so no server always runs first.
                for index in servers.indices.map({ ($0 + repetition) % servers.count }) {
                    let server = servers[index]
                    let elapsed = Date().timeIntervalSince(started)
                    let left = done == 0 ? "" : " ~\(Int(elapsed / Double(done) * Double(total - done)))s left"
                    progress("[\(done + 1)/\(total)] \(scenario.name) · \(server.name) · repetition \(repetition + 1)/\(repetitions)\(left)")
                    let measurement = try Measurement.run(scenario, against: processes[index], toolbox: toolbox, cpu: 1, duration: duration, warmup: warmup)
                    results[scenario, default: [:]][server, default: []].append(measurement)
                    done += 1
                }
            }
            progress(nil)
            let rows = servers.map { ($0, results[scenario]![$0]!) }
            print(Report.table(scenario, rows, repetitions: repetitions, duration: duration) + "\n")
        }
        print("reactor-bench: done in \(Int(Date().timeIntervalSince(started))) s")
        if let json {
            try write(results, to: json, duration: duration, repetitions: repetitions)
        }
    }

    private func selected<T>(_ list: String?, from all: [T], _ name: KeyPath<T, String>, _ lookup: (String) -> T?) throws -> [T] {
        guard let list else { return all }
        return try list.split(separator: ",").map { item in
            guard let value = lookup(String(item)) else {
                throw ValidationError("unknown '\(item)'; choose from \(all.map { $0[keyPath: name] }.joined(separator: ", "))")
            }
            return value
        }
    }

    private func write(_ results: [Scenario: [ServerKind: [Measurement]]], to path: String, duration: Double, repetitions: Int) throws {
        struct Row: Codable {
            let scenario: String
            let server: String
            let median: Measurement
            let min: Measurement
            let max: Measurement
            /// The rate (msgs/s; MB/s for a stream) and the server's µs/msg over c-floor's,
            /// within each repetition.
            let rateVsFloor: Spread?
            let microsecondsPerMessageVsFloor: Spread?
            /// In repetition order.
            let runs: [Measurement]
        }
        struct Document: Codable {
            let date: String
            let durationSeconds: Double
            let repetitions: Int
            let rows: [Row]
        }
        let rows = Scenario.all.flatMap { scenario in
            let floorRuns = results[scenario]?[ServerKind.named(Report.floor)!]
            return ServerKind.all.compactMap { server in
                results[scenario]?[server].map { runs in
                    Row(scenario: scenario.name, server: server.name, median: Measurement.summary(runs, \.median),
                        min: Measurement.summary(runs, \.min), max: Measurement.summary(runs, \.max),
                        rateVsFloor: Spread.ratios(runs, to: floorRuns, scenario.rate),
                        microsecondsPerMessageVsFloor: Spread.ratios(runs, to: floorRuns, \.serverMicrosecondsPerMessage),
                        runs: runs)
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let document = Document(date: ISO8601DateFormatter().string(from: Date()), durationSeconds: duration, repetitions: repetitions, rows: rows)
        try encoder.encode(document).write(to: URL(fileURLWithPath: path))
    }
}
