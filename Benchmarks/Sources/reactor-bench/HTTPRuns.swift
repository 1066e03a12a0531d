import Foundation

/// reactor-bench http: HTTP/1.1 servers side by side under wrk. nginx (one process),
/// reactor-http (one reactor), nio-http (one event loop) and hummingbird-http (one event-loop
/// thread) run pinned to CPU 0, and wrk with one thread pinned to CPU 1; every workload runs
/// against each server in turn within a repetition, after a warm-up run in the first. Then each
/// Swift server runs again on its own with the allocation counter preloaded, for its heap
/// allocations per request. A run with socket errors or error statuses fails its server's row,
/// with wrk's lines under the table.
enum HTTPRuns {
    struct Workload {
        let name: String
        let title: String
        let path: String
        /// A wrk script in `Benchmarks/Scripts`.
        let script: String?
        let tls: Bool
    }

    static let workloads = [
        Workload(name: "plaintext", title: "GET /plaintext", path: "/plaintext", script: nil, tls: false),
        Workload(name: "pipelined", title: "GET /plaintext, 16 pipelined", path: "/plaintext", script: "http-pipeline.lua", tls: false),
        Workload(name: "post-64k", title: "POST /echo, a 64 KiB body echoed", path: "/echo", script: "http-post-64k.lua", tls: false),
        Workload(name: "https", title: "GET /plaintext over TLS", path: "/plaintext", script: nil, tls: true),
    ]

    static let nginx = "nginx"
    static let nio = "nio-http"
    static let servers = [nginx, "reactor-http", nio, "hummingbird-http"]

    /// Seconds of wrk against each server before its first measured run of a workload.
    static let warmup = 1

    /// nginx cannot echo a body, and hummingbird-http serves plain HTTP only.
    static func serves(_ server: String, _ workload: Workload) -> Bool {
        switch (server, workload.name) {
        case (nginx, "post-64k"), ("hummingbird-http", "https"): return false
        default: return true
        }
    }

    struct Result {
        var requestsPerSecond: Double
        var p50Milliseconds: Double?
        var p99Milliseconds: Double?
        /// The server's CPU time per request.
        var cpuMicroseconds: Double
    }

    /// One workload's figures, by server: the runs in repetition order, what failed, and the
    /// allocations per request.
    struct Cells {
        var runs: [String: [Result]] = [:]
        var failures: [String: [String]] = [:]
        var allocations: [String: Double] = [:]
    }

    /// A server as a workload reaches it: the process whose CPU time is measured, and the port.
    struct Endpoint {
        let process: ServerProcess
        let port: Int
    }

    static func run(
        servers: [String], workloads: [Workload], seconds: Int, repetitions: Int, connections: Int, allocations: Bool, toolbox: Toolbox
    ) throws {
        guard let wrk = Toolbox.system("wrk") else {
            print("reactor-bench http: skipped: wrk is not installed (apt-get install wrk)")
            return
        }
        if toolbox.taskset == nil {
            statusLine("warning: taskset not found; servers and wrk run unpinned\n")
        }
        var servers = servers
        let nginxPath = Toolbox.system("nginx")
        if servers.contains(nginx) && nginxPath == nil {
            statusLine("warning: nginx is not installed (apt-get install nginx-light); no reference to compare with\n")
            servers.removeAll { $0 == nginx }
        }
        let certificate = try workloads.contains(where: { $0.tls }) ? TestCertificate.make() : nil

        var processes: [ServerProcess] = []
        defer { for process in processes { process.stop() } }
        var plain: [String: Endpoint] = [:]
        var secure: [String: Endpoint] = [:]
        for server in servers {
            if server == nginx, let nginxPath {
                let instance = try Nginx.start(nginxPath, certificate: certificate, toolbox: toolbox, cpu: 0)
                processes.append(instance.process)
                plain[server] = Endpoint(process: instance.process, port: instance.process.port)
                secure[server] = instance.tlsPort.map { Endpoint(process: instance.process, port: $0) }
                continue
            }
            // Every Swift server runs for the whole run, an HTTPS one beside the plain one; an
            // idle one sleeps in epoll_wait.
            if workloads.contains(where: { !$0.tls && serves(server, $0) }) {
                let process = try ServerProcess(kind(server, certificate: nil), toolbox: toolbox, cpu: 0)
                processes.append(process)
                plain[server] = Endpoint(process: process, port: process.port)
            }
            if let certificate, workloads.contains(where: { $0.tls && serves(server, $0) }) {
                let process = try ServerProcess(kind(server, certificate: certificate), toolbox: toolbox, cpu: 0)
                processes.append(process)
                secure[server] = Endpoint(process: process, port: process.port)
            }
        }
        func endpoint(_ server: String, _ workload: Workload) -> Endpoint? {
            serves(server, workload) ? (workload.tls ? secure : plain)[server] : nil
        }

        print("reactor-bench http: \(servers.count) servers × \(workloads.count) workloads × \(repetitions) repetitions of \(seconds) s; servers on CPU 0, wrk -t1 -c\(connections) on CPU 1")
        print(legend + "\n")
        var cells: [String: Cells] = [:]
        for repetition in 0..<repetitions {
            for workload in workloads {
                let targets = servers.compactMap { server in endpoint(server, workload).map { (server, $0) } }
                // Rotate the order each repetition so no server always runs first.
                for index in targets.indices.map({ ($0 + repetition) % targets.count }) {
                    let (server, target) = targets[index]
                    progress("[\(repetition + 1)/\(repetitions)] \(workload.name) · \(server)")
                    let url = Self.url(workload, port: target.port)
                    do {
                        if repetition == 0 {
                            _ = try WrkRun.run(wrk, url: url, script: workload.script, connections: connections, seconds: warmup, toolbox: toolbox, cpu: 1)
                        }
                        let before = target.process.cpuSeconds
                        let run = try WrkRun.run(wrk, url: url, script: workload.script, connections: connections, seconds: seconds, toolbox: toolbox, cpu: 1)
                        let cpu = target.process.cpuSeconds - before
                        guard run.errors.isEmpty, run.requests > 0 else {
                            let errors = run.errors.isEmpty ? "no request answered" : run.errors.joined(separator: "; ")
                            cells[workload.name, default: Cells()].failures[server, default: []].append("repetition \(repetition + 1): \(errors)")
                            continue
                        }
                        cells[workload.name, default: Cells()].runs[server, default: []].append(
                            Result(requestsPerSecond: run.requestsPerSecond, p50Milliseconds: run.p50Milliseconds, p99Milliseconds: run.p99Milliseconds,
                                   cpuMicroseconds: cpu * 1e6 / Double(run.requests)))
                    } catch {
                        cells[workload.name, default: Cells()].failures[server, default: []].append("repetition \(repetition + 1): \(error)")
                    }
                }
            }
        }
        // Stopped now, not at the end: CPU 0 is the allocation counts' next.
        for process in processes { process.stop() }
        processes.removeAll()
        if allocations {
            countAllocations(
                servers, workloads, into: &cells, wrk: wrk, certificate: certificate, seconds: seconds, connections: connections, toolbox: toolbox)
        }
        progress(nil)
        for workload in workloads {
            print(table(workload, servers, cells[workload.name] ?? Cells(), repetitions: repetitions, seconds: seconds, connections: connections) + "\n")
        }
    }

    static let legend = """
        Medians over repetitions, with min-max. Server CPU: its user + system time over the run, per request. Allocations: its heap \
        allocations per request, in a run of its own with a malloc counter preloaded (nginx cannot be counted so). Ratios: within \
        each repetition, median (min-max). —: the server does not serve the workload (nginx cannot echo a body; hummingbird-http \
        serves plain HTTP only). Pipelined latencies are wrk's, per batch of 16, from its write to its last response.
        """

    /// How `server` is started: with one reactor, event loop or event-loop thread, as nginx
    /// serves from one process.
    private static func kind(_ server: String, certificate: TestCertificate?) -> ServerKind {
        let reactors = server == "reactor-http" ? ["--reactors", "1"] : []
        let tls = certificate.map { ["--tls-cert", $0.certificate, "--tls-key", $0.key] } ?? []
        return ServerKind(name: server, summary: "", executable: server, arguments: ["--host", "127.0.0.1"] + reactors + tls)
    }

    private static func url(_ workload: Workload, port: Int) -> String {
        "\(workload.tls ? "https" : "http")://127.0.0.1:\(port)\(workload.path)"
    }

    /// Each Swift server once more, on its own, with the allocation counter preloaded: its heap
    /// allocations per request in each workload, over a run after a warm-up. A count that
    /// cannot be had is left out with a warning (the timed runs report wrk's errors).
    private static func countAllocations(
        _ servers: [String], _ workloads: [Workload], into cells: inout [String: Cells], wrk: String, certificate: TestCertificate?,
        seconds: Int, connections: Int, toolbox: Toolbox
    ) {
        do {
            _ = try AllocationCounter.library(toolbox)
        } catch {
            statusLine("warning: \(error); no allocation counts\n")
            return
        }
        for server in servers where server != nginx {
            for tls in [false, true] where !tls || certificate != nil {
                let served = workloads.filter { $0.tls == tls && serves(server, $0) }
                if served.isEmpty { continue }
                let counter: AllocationCounter
                do {
                    counter = try AllocationCounter(kind(server, certificate: tls ? certificate : nil), toolbox: toolbox, cpu: 0)
                } catch {
                    statusLine("warning: \(server) did not start with the allocation counter: \(error)\n")
                    continue
                }
                defer { counter.server.stop() }
                for workload in served {
                    progress("allocations · \(workload.name) · \(server)")
                    let url = Self.url(workload, port: counter.server.port)
                    do {
                        _ = try WrkRun.run(wrk, url: url, script: workload.script, connections: connections, seconds: warmup, toolbox: toolbox, cpu: 1)
                        let before = try counter.count()
                        let run = try WrkRun.run(wrk, url: url, script: workload.script, connections: connections, seconds: seconds, toolbox: toolbox, cpu: 1)
                        let after = try counter.count()
                        guard run.errors.isEmpty, run.requests > 0 else { continue }
                        cells[workload.name, default: Cells()].allocations[server] = Double(after - before) / Double(run.requests)
                    } catch {
                        statusLine("warning: allocation count of \(server) in \(workload.name): \(error)\n")
                    }
                }
            }
        }
    }

    private static func table(_ workload: Workload, _ servers: [String], _ cells: Cells, repetitions: Int, seconds: Int, connections: Int) -> String {
        // Within each repetition, then over them; nothing against a base that failed.
        func ratios(_ server: String, _ base: String, _ key: KeyPath<Result, Double>) -> String {
            guard server != base else { return "" }
            guard cells.failures[base] == nil, let mine = cells.runs[server], let theirs = cells.runs[base] else { return "—" }
            let spread = Spread(zip(mine, theirs).compactMap { $1[keyPath: key] > 0 ? $0[keyPath: key] / $1[keyPath: key] : nil })
            return spread.map { String(format: "%.2fx (%.2f-%.2f)", $0.median, $0.min, $0.max) } ?? "—"
        }
        func milliseconds(_ values: [Double]) -> String {
            Spread(values).map { String(format: "%.3f", $0.median) } ?? "—"
        }
        let script = workload.script.map { " -s \($0)" } ?? ""
        var lines = [
            "### \(workload.name): \(workload.title) (wrk -t1 -c\(connections) -d\(seconds)s\(script); medians of \(repetitions), min-max)",
            "",
            "| server | requests/s | p50 ms | p99 ms | server CPU µs/request | allocations/request | rate vs nginx | CPU vs nginx | rate vs nio-http | CPU vs nio-http |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        var failures: [String] = []
        for server in servers {
            var row = Array(repeating: "—", count: 9)
            if let failed = cells.failures[server] {
                row[0] = "failed"
                failures += failed.map { "- \(server), \($0)" }
            } else if serves(server, workload), let runs = cells.runs[server], let rate = Spread(runs.map(\.requestsPerSecond)),
                let cpu = Spread(runs.map(\.cpuMicroseconds))
            {
                row = [
                    "\(Int(rate.median)) (\(Int(rate.min))-\(Int(rate.max)))",
                    milliseconds(runs.compactMap(\.p50Milliseconds)), milliseconds(runs.compactMap(\.p99Milliseconds)),
                    String(format: "%.2f (%.2f-%.2f)", cpu.median, cpu.min, cpu.max),
                    cells.allocations[server].map { String(format: "%.2f", $0) } ?? "—",
                    ratios(server, nginx, \.requestsPerSecond), ratios(server, nginx, \.cpuMicroseconds),
                    ratios(server, nio, \.requestsPerSecond), ratios(server, nio, \.cpuMicroseconds),
                ]
            }
            lines.append("| \(server) | " + row.joined(separator: " | ") + " |")
        }
        if !failures.isEmpty {
            lines += ["", "Failed runs (wrk's report):"] + failures
        }
        return lines.joined(separator: "\n")
    }
}
