import ArgumentParser
import Foundation

/// The benchmark driver: each run is a subcommand; `reactor-bench` alone is the echo matrix.
/// Servers run pinned to CPU 0 and their load to CPU 1, side by side in one run.
@main
struct ReactorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reactor-bench",
        abstract: "swift-reactor side by side with a C epoll floor, SwiftNIO and the real peer servers.",
        subcommands: [
            Echo.self, Syscalls.self, Instructions.self, Memory.self, TLS.self, UDP.self, Group.self, Connections.self, Coordination.self,
            Subprocesses.self, Redis.self, HTTP.self,
        ],
        defaultSubcommand: Echo.self)
}

/// The echo servers to run (all by default).
struct ServerSelection: ParsableArguments {
    @Option(help: "Comma-separated servers to run (default: all but reactor-streams-metrics).")
    var servers: String?

    func selectedServers() throws -> [ServerKind] {
        try selected(servers, from: ServerKind.defaults, \.name, ServerKind.named)
    }
}

/// How long and how often a timed run measures.
struct Timing: ParsableArguments {
    @Flag(help: "One repetition of 1 s: a quick look, not figures to quote.")
    var quick = false

    @Option(help: "Seconds of load per run (default: the run's own, 0.25 for most; 1 with --quick).")
    var duration: Double?

    @Option(help: "Repetitions of each run; the tables show medians and spreads (default: the run's own; 1 with --quick).")
    var repetitions: Int?

    var seconds: Double { seconds(default: 0.25) }
    func seconds(default standard: Double) -> Double { duration ?? (quick ? 1 : standard) }
    func repetitions(default standard: Int) -> Int { repetitions ?? (quick ? 1 : standard) }
}

/// The echo matrix: every server against every scenario; the servers take turns within each
/// repetition, so drift in the machine hits them alike; medians are shown, with their spread
/// and the ratios to the C floor within each repetition.
struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The echo servers under every scenario, timed (the default run).",
        discussion: """
            Servers: \(ServerKind.all.map { "\($0.name) (\($0.summary))" }.joined(separator: ", ")).
            Scenarios: \(Scenario.all.map { "\($0.name) (\($0.title))" }.joined(separator: ", ")).
            """)

    @OptionGroup var selection: ServerSelection
    @OptionGroup var timing: Timing

    @Option(help: "Comma-separated scenarios to run (default: all).")
    var scenarios: String?

    @Option(help: "Also write every measurement to this JSON file.")
    var json: String?

    func run() throws {
        let scenarios = try selected(self.scenarios, from: Scenario.all, \.name, Scenario.named)
        let results = try Self.matrix(try selection.selectedServers(), scenarios, timing: timing)
        if let json {
            try write(results, to: json, duration: timing.seconds, repetitions: timing.repetitions(default: Self.repetitions))
        }
    }

    static let repetitions = 25

    /// Runs every server under every scenario and prints a table per scenario: the servers
    /// pinned to `serverCPU` and the load to `loadCPU` (nil: unpinned).
    static func matrix(
        _ servers: [ServerKind], _ scenarios: [Scenario], timing: Timing, serverCPU: Int? = 0, loadCPU: Int? = 1
    ) throws -> [Scenario: [ServerKind: [Measurement]]] {
        let toolbox = Toolbox()
        FileLimit.raise(to: 20_000)
        if toolbox.taskset == nil {
            statusLine("warning: taskset not found; servers and load run unpinned\n")
        }
        let duration = timing.seconds
        let warmup = min(duration / 4, 0.5)
        // Many short runs rather than a few long ones: the servers take turns within a second
        // or so, which the machine's slower swings move together, and the median of many
        // per-repetition ratios shrugs off its spikes (BENCHMARKS.md has the measurements).
        let repetitions = timing.repetitions(default: Self.repetitions)
        var results: [Scenario: [ServerKind: [Measurement]]] = [:]
        let total = scenarios.count * repetitions * servers.count
        var done = 0
        let started = Date()
        let placement = "servers on \(serverCPU.map { "CPU \($0)" } ?? "any CPU"), load on \(loadCPU.map { "CPU \($0)" } ?? "any CPU")"
        print("reactor-bench: \(servers.count) servers × \(scenarios.count) scenarios × \(repetitions) repetitions; \(placement)")
        print(Report.legend + "\n")
        for scenario in scenarios {
            // Every server runs for the whole scenario (an idle one sleeps in epoll_wait), so a
            // repetition measures them all within a second or two: the machine's slow swings
            // then move a repetition's figures together, and its ratios keep still.
            let processes = try servers.map { try ServerProcess($0, toolbox: toolbox, cpu: serverCPU) }
            defer { for process in processes { _ = process.stop() } }
            for repetition in 0..<repetitions {
                // Rotate the order each repetition so no server always runs first.
                for index in servers.indices.map({ ($0 + repetition) % servers.count }) {
                    let server = servers[index]
                    let elapsed = Date().timeIntervalSince(started)
                    let left = done == 0 ? "" : " ~\(Int(elapsed / Double(done) * Double(total - done)))s left"
                    progress("[\(done + 1)/\(total)] \(scenario.name) · \(server.name) · repetition \(repetition + 1)/\(repetitions)\(left)")
                    let measurement = try Measurement.run(scenario, against: processes[index], toolbox: toolbox, cpu: loadCPU, duration: duration, warmup: warmup)
                    results[scenario, default: [:]][server, default: []].append(measurement)
                    done += 1
                }
            }
            progress(nil)
            let rows = servers.map { ($0, results[scenario]![$0]!) }
            print(Report.table(scenario, rows, repetitions: repetitions, duration: duration) + "\n")
        }
        print("reactor-bench: done in \(Int(Date().timeIntervalSince(started))) s")
        return results
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

/// Syscalls per echoed message for each server (strace).
struct Syscalls: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Syscalls per echoed message for each server (strace), instead of timing.")

    @OptionGroup var selection: ServerSelection

    @Option(help: "Messages to echo.")
    var messages = 200_000

    func run() throws {
        let toolbox = Toolbox()
        FileLimit.raise(to: 20_000)
        try SyscallCount.run(servers: try selection.selectedServers(), messages: messages, toolbox: toolbox)
    }
}

/// User-space instructions per echoed message for each server (callgrind); unpinned.
struct Instructions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "User-space instructions per echoed message for each server (valgrind's callgrind).")

    @OptionGroup var selection: ServerSelection

    @Option(help: "Messages the shorter of the two runs echoes.")
    var baseMessages = 4_000

    @Option(help: "Messages the longer run echoes beyond the shorter's.")
    var messages = 40_000

    func validate() throws {
        if baseMessages < 1 || messages < 1 { throw ValidationError("--base-messages and --messages must be positive") }
    }

    func run() throws {
        let toolbox = Toolbox()
        FileLimit.raise(to: 20_000)
        try InstructionCount.run(servers: try selection.selectedServers(), base: baseMessages, extra: messages, toolbox: toolbox)
    }
}

/// Each server's memory per idle connection; unpinned.
struct Memory: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Each server's memory per idle connection (VmRSS), instead of timing.")

    @OptionGroup var selection: ServerSelection

    @Option(help: "Connections to open and hold.")
    var connections = 10_000

    func validate() throws {
        if connections < 1 { throw ValidationError("--connections must be positive") }
    }

    func run() throws {
        let toolbox = Toolbox()
        // Raised before any server or load generator starts, so that they inherit it.
        let fileLimit = FileLimit.raise(to: max(20_000, connections + 1_000))
        try IdleMemory.run(servers: try selection.selectedServers(), connections: connections, fileLimit: fileLimit, toolbox: toolbox)
    }
}

/// The coordination primitives against AsyncStream, AsyncChannel, an actor and asyncio.
struct Coordination: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Queue and Lock against AsyncStream, AsyncChannel, an actor and asyncio.")

    @OptionGroup var timing: Timing

    func run() throws {
        try WorkloadRuns.run(WorkloadRuns.coordinationGroups, command: "coordination", timing: timing, duration: timing.seconds)
    }
}

/// Starting children against swift-subprocess and asyncio.
struct Subprocesses: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Starting children (/bin/true, and cat with 1 MiB) against swift-subprocess and asyncio.")

    @OptionGroup var timing: Timing

    func run() throws {
        // Runs of 1 s: a process's first few hundred milliseconds of 1 MiB arrays decide glibc's
        // thresholds for returning their memory, so shorter runs time the allocator's start.
        try WorkloadRuns.run(WorkloadRuns.subprocessGroups, command: "subprocesses", timing: timing, duration: timing.seconds(default: 1))
    }
}

/// redis-benchmark against redis-server, reactor-redis and nio-redis.
struct Redis: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "redis-benchmark against redis-server, reactor-redis and nio-redis (RESP), and a PING beside a busy connection.")

    @Option(help: "Repetitions of each workload (default: 5; 1 with --quick).")
    var repetitions: Int?

    @Flag(help: "One repetition.")
    var quick = false

    @Option(help: "Requests of each run at -P 1 (ten times as many at -P 16).")
    var requests = 100_000

    @Option(help: "PINGs timed beside a connection pipelining GETs flat out.")
    var pings = 200

    @Flag(help: "redis-server's TLS port against reactor-redis's (redis-benchmark --tls) instead.")
    var tls = false

    func validate() throws {
        if requests < 100 { throw ValidationError("--requests must be at least 100") }
        if pings < 1 { throw ValidationError("--pings must be positive") }
    }

    func run() throws {
        let repetitions = repetitions ?? (quick ? 1 : 5)
        if tls {
            try RedisRuns.runTLS(repetitions: repetitions, requests: requests, certificate: try TestCertificate.make(), toolbox: Toolbox())
        } else {
            try RedisRuns.run(repetitions: repetitions, requests: requests, pings: pings, toolbox: Toolbox())
        }
    }
}

/// wrk against nginx, reactor-http, nio-http and hummingbird-http.
struct HTTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "wrk against nginx, reactor-http, SwiftNIO's and Hummingbird's HTTP/1.1 servers: plaintext, pipelined, a 64 KiB POST echoed, HTTPS.",
        discussion: """
            Servers: \(HTTPRuns.servers.joined(separator: ", ")).
            Workloads: \(HTTPRuns.workloads.map { "\($0.name) (\($0.title))" }.joined(separator: ", ")).
            """)

    @Option(help: "Seconds of load per run, whole, as wrk takes them (default: 4; 2 with --quick).")
    var duration: Int?

    @Option(help: "Repetitions of each run; the tables show medians and their range (default: 3; 1 with --quick).")
    var repetitions: Int?

    @Flag(help: "One repetition of 2 s: a quick look, not figures to quote.")
    var quick = false

    @Option(help: "Connections wrk keeps open.")
    var connections = 64

    @Option(help: "Comma-separated workloads to run (default: all; --workloads https for TLS only).")
    var workloads: String?

    @Option(help: "Comma-separated servers to run (default: all).")
    var servers: String?

    @Flag(inversion: .prefixedNo, help: "Count each Swift server's heap allocations per request, in runs of their own after the timed ones.")
    var allocations = true

    func validate() throws {
        if let duration, duration < 1 { throw ValidationError("--duration must be at least 1 (whole seconds)") }
        if let repetitions, repetitions < 1 { throw ValidationError("--repetitions must be positive") }
        if connections < 1 { throw ValidationError("--connections must be positive") }
    }

    func run() throws {
        let workloads = try selected(self.workloads, from: HTTPRuns.workloads, \.name) { name in HTTPRuns.workloads.first { $0.name == name } }
        let servers = try selected(self.servers, from: HTTPRuns.servers, \.self) { name in HTTPRuns.servers.first { $0 == name } }
        try HTTPRuns.run(
            servers: servers, workloads: workloads, seconds: duration ?? (quick ? 2 : 4), repetitions: repetitions ?? (quick ? 1 : 3),
            connections: connections, allocations: allocations, toolbox: Toolbox())
    }
}

func selected<T>(_ list: String?, from all: [T], _ name: KeyPath<T, String>, _ lookup: (String) -> T?) throws -> [T] {
    guard let list else { return all }
    return try list.split(separator: ",").map { item in
        guard let value = lookup(String(item)) else {
            throw ValidationError("unknown '\(item)'; choose from \(all.map { $0[keyPath: name] }.joined(separator: ", "))")
        }
        return value
    }
}

