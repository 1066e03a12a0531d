import Foundation

/// reactor-bench redis: RESP servers side by side under redis-benchmark. redis-server (the
/// real one, nothing saved), reactor-redis and nio-redis each run pinned to CPU 0, and
/// redis-benchmark with 50 connections pinned to CPU 1; every workload runs against each
/// server in turn within a repetition. Then each of ours runs once more with an allocation
/// counter preloaded, to count heap allocations per request.
/// Before those counts, a PING's reply time beside a busy connection (`busyNeighbour`).
enum RedisRuns {
    struct Workload {
        let name: String
        let test: String
        let pipeline: Int
    }

    static let workloads = [
        Workload(name: "SET -P 1", test: "set", pipeline: 1),
        Workload(name: "GET -P 1", test: "get", pipeline: 1),
        Workload(name: "SET -P 16", test: "set", pipeline: 16),
        Workload(name: "GET -P 16", test: "get", pipeline: 16),
        Workload(name: "LPUSH -P 16", test: "lpush", pipeline: 16),
        Workload(name: "LPOP -P 16", test: "lpop", pipeline: 16),
    ]

    struct Result {
        var requestsPerSecond: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        /// The server's CPU time per request.
        var cpuMicroseconds: Double
    }

    static let reference = "redis-server"
    static let nio = "nio-redis"

    /// `requests` is the count of each -P 1 run; the -P 16 runs send ten times as many.
    static func run(repetitions: Int, requests: Int, pings: Int, toolbox: Toolbox) throws {
        guard let benchmark = Toolbox.system("redis-benchmark") else {
            throw BenchError("redis-benchmark is not installed (apt-get install redis-tools)")
        }
        var servers: [(String, ServerProcess)] = []
        defer { for (_, server) in servers { server.stop() } }
        if let redis = Toolbox.system("redis-server") {
            servers.append((reference, try startRedisServer(redis, toolbox: toolbox)))
        } else {
            statusLine("warning: redis-server is not installed; no reference to compare with\n")
        }
        servers.append(("reactor-redis", try ServerProcess(ServerKind(name: "reactor-redis", summary: "", executable: "reactor-redis", arguments: []), toolbox: toolbox, cpu: 0)))
        servers.append((nio, try ServerProcess(ServerKind(name: nio, summary: "", executable: "nio-redis", arguments: []), toolbox: toolbox, cpu: 0)))
        print("reactor-bench redis: \(servers.count) servers × \(workloads.count) workloads × \(repetitions) repetitions; servers on CPU 0, redis-benchmark -c 50 on CPU 1")
        try measure(servers, workloads, repetitions: repetitions, requests: requests, benchmark: benchmark, toolbox: toolbox)
        try busyNeighbour(servers: servers, pings: pings)
        // Stopped now, not at the end: CPU 0 is the allocation counts' next.
        for (_, server) in servers { server.stop() }
        servers.removeAll()
        try countAllocations(benchmark, requests: requests, toolbox: toolbox)
    }

    /// redis-server's TLS port against reactor-redis's (no plain port on either), under
    /// redis-benchmark --tls: SET and GET at -P 1 and -P 16.
    static func runTLS(repetitions: Int, requests: Int, certificate: TestCertificate, toolbox: Toolbox) throws {
        guard let benchmark = Toolbox.system("redis-benchmark") else {
            throw BenchError("redis-benchmark is not installed (apt-get install redis-tools)")
        }
        guard let redis = Toolbox.system("redis-server") else { throw BenchError("redis-server is not installed (apt-get install redis-server)") }
        let tlsFiles = ["--tls-cert-file", certificate.certificate, "--tls-key-file", certificate.key]
        let port = Int.random(in: 20_000..<30_000)
        let reference = ServerKind(
            name: Self.reference, summary: "", executable: redis,
            arguments: ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", "0", "--tls-port", "\(port)",
                        "--tls-auth-clients", "no"] + tlsFiles)
        // reactor-redis's --port 0 is no plain port beside --tls-port, as redis-server's; the
        // driver adds --port 0 first, and the TLS port comes from its banner.
        let ours = ServerKind(name: "reactor-redis", summary: "", executable: "reactor-redis", arguments: ["--tls-port", "0"] + tlsFiles)
        let servers = [(Self.reference, try ServerProcess(reference, toolbox: toolbox, cpu: 0, executable: redis, fixedPort: port)),
                       ("reactor-redis", try ServerProcess(ours, toolbox: toolbox, cpu: 0))]
        defer { for (_, server) in servers { server.stop() } }
        let tls = ["--tls", "--cacert", certificate.certificate]
        let workloads = workloads.filter { $0.test == "set" || $0.test == "get" }
        print("reactor-bench redis --tls: \(servers.count) servers × \(workloads.count) workloads × \(repetitions) repetitions; servers on CPU 0, redis-benchmark --tls -c 50 on CPU 1")
        try measure(servers, workloads, repetitions: repetitions, requests: requests, benchmark: benchmark, extra: tls, toolbox: toolbox)
    }

    /// Every workload against each server in turn, `repetitions` times; a table per workload.
    /// `extra` goes to every redis-benchmark (`--tls` and its CA).
    private static func measure(
        _ servers: [(String, ServerProcess)], _ workloads: [Workload], repetitions: Int, requests: Int, benchmark: String,
        extra: [String] = [], toolbox: Toolbox
    ) throws {
        var results: [String: [String: [Result]]] = [:]
        for repetition in 0..<repetitions {
            for workload in workloads {
                for index in servers.indices.map({ ($0 + repetition) % servers.count }) {
                    let (name, server) = servers[index]
                    let count = requests * (workload.pipeline > 1 ? 10 : 1)
                    progress("[\(repetition + 1)/\(repetitions)] \(workload.name) · \(name)")
                    let before = server.cpuSeconds
                    let (rps, p50, p99) = try load(benchmark, port: server.port, workload, requests: count, extra: extra, toolbox: toolbox)
                    let cpu = server.cpuSeconds - before
                    results[workload.name, default: [:]][name, default: []].append(
                        Result(requestsPerSecond: rps, p50Milliseconds: p50, p99Milliseconds: p99, cpuMicroseconds: cpu * 1e6 / Double(count)))
                }
            }
        }
        progress(nil)
        let flags = extra.contains("--tls") ? " --tls" : ""
        for workload in workloads {
            print(table(workload, servers.map(\.0), results[workload.name] ?? [:], repetitions: repetitions, over: flags) + "\n")
        }
    }

    private static func startRedisServer(_ path: String, toolbox: Toolbox) throws -> ServerProcess {
        let port = Int.random(in: 20_000..<30_000)
        let kind = ServerKind(
            name: reference, summary: "", executable: path,
            arguments: ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", "\(port)"])
        return try ServerProcess(kind, toolbox: toolbox, cpu: 0, executable: path, fixedPort: port)
    }

    /// One redis-benchmark run: requests/s, p50 and p99 in ms (its --csv line).
    private static func load(
        _ benchmark: String, port: Int, _ workload: Workload, requests: Int, extra: [String] = [], toolbox: Toolbox
    ) throws -> (Double, Double, Double) {
        let command = toolbox.pinned(1, ["/usr/bin/timeout", "120", benchmark, "-p", "\(port)", "-c", "50", "-n", "\(requests)", "-P", "\(workload.pipeline)", "-t", workload.test, "--csv"] + extra)
        let (data, status) = try Toolbox.output(of: command)
        let output = String(decoding: data, as: UTF8.self)
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        guard status == 0, let line = output.split(separator: "\n").first(where: { $0.hasPrefix("\"\(workload.test.uppercased())") }) else {
            throw BenchError("redis-benchmark \(workload.name) on port \(port) failed (\(status)): \(output)")
        }
        let fields = line.split(separator: ",").map { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) ?? 0 }
        return (fields[1], fields[4], fields[6])
    }

    private static func table(_ workload: Workload, _ servers: [String], _ runs: [String: [Result]], repetitions: Int, over flags: String = "") -> String {
        func ratios(_ server: String, _ base: String, _ key: KeyPath<Result, Double>) -> String {
            guard let mine = runs[server], let theirs = runs[base], server != base else { return "" }
            let spread = Spread(zip(mine, theirs).compactMap { $1[keyPath: key] > 0 ? $0[keyPath: key] / $1[keyPath: key] : nil })
            return spread.map { String(format: "%.2fx (%.2f-%.2f)", $0.median, $0.min, $0.max) } ?? ""
        }
        var lines = [
            "### \(workload.name) (redis-benchmark\(flags) -c 50 -P \(workload.pipeline) -t \(workload.test); medians of \(repetitions), min-max)",
            "",
            "| server | requests/s | p50 ms | p99 ms | server CPU µs/request | rate vs redis-server | CPU vs redis-server | rate vs nio-redis |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for server in servers {
            guard let results = runs[server], let rate = Spread(results.map(\.requestsPerSecond)) else { continue }
            let p50 = Spread(results.map(\.p50Milliseconds))!.median
            let p99 = Spread(results.map(\.p99Milliseconds))!.median
            let cpu = Spread(results.map(\.cpuMicroseconds))!
            lines.append(
                "| \(server) | \(Int(rate.median)) (\(Int(rate.min))-\(Int(rate.max))) | \(String(format: "%.3f", p50)) | \(String(format: "%.3f", p99)) "
                    + "| \(String(format: "%.2f (%.2f-%.2f)", cpu.median, cpu.min, cpu.max)) | \(ratios(server, reference, \.requestsPerSecond)) "
                    + "| \(ratios(server, reference, \.cpuMicroseconds)) | \(ratios(server, nio, \.requestsPerSecond)) |")
        }
        return lines.joined(separator: "\n")
    }

    /// Each of our servers once more with the allocation counter preloaded: its allocations per
    /// request over a run of SET then GET (redis-server uses jemalloc, linked in, which a
    /// preloaded malloc does not see).
    private static func countAllocations(_ benchmark: String, requests: Int, toolbox: Toolbox) throws {
        _ = try AllocationCounter.library(toolbox)
        print("### Heap allocations per request (a preloaded malloc counter; whole process, after a warm-up run)\n")
        print("| server | SET -P 1 | GET -P 1 | SET -P 16 | GET -P 16 |")
        print("| --- | --- | --- | --- | --- |")
        for (name, executable) in [("reactor-redis", "reactor-redis"), (nio, "nio-redis")] {
            let counter = try AllocationCounter(ServerKind(name: name, summary: "", executable: executable, arguments: []), toolbox: toolbox, cpu: 0)
            defer { counter.server.stop() }
            var cells: [String] = []
            for workload in workloads.filter({ $0.test == "set" || $0.test == "get" }) {
                _ = try load(benchmark, port: counter.server.port, workload, requests: requests / 10, toolbox: toolbox)  // warm-up
                let before = try counter.count()
                _ = try load(benchmark, port: counter.server.port, workload, requests: requests, toolbox: toolbox)
                let after = try counter.count()
                cells.append(String(format: "%.2f", Double(after - before) / Double(requests)))
            }
            print("| \(name) | " + cells.joined(separator: " | ") + " |")
        }
        print("")
    }
}
