import Foundation

/// One run of wrk (one thread, --latency) and the figures of its report.
struct WrkRun {
    var requestsPerSecond: Double
    var requests: Int
    /// Nil where wrk gave none: it prints 0 for a percentile it lost (as it may with pipelining).
    var p50Milliseconds: Double?
    var p99Milliseconds: Double?
    /// Its "Socket errors" and "Non-2xx or 3xx responses" lines (status 400 and over), which
    /// it prints only when there were some.
    var errors: [String]

    /// Runs wrk, pinned to `cpu`, against `url` for `seconds` (wrk takes whole seconds), with
    /// a script in `Benchmarks/Scripts` if given.
    static func run(
        _ wrk: String, url: String, script: String?, connections: Int, seconds: Int, toolbox: Toolbox, cpu: Int?
    ) throws -> WrkRun {
        let scripted = try script.map { ["-s", try path(ofScript: $0)] } ?? []
        let command = toolbox.pinned(cpu, ["/usr/bin/timeout", "\(seconds + 30)", wrk, "-t1", "-c\(connections)", "-d\(seconds)s", "--latency"] + scripted + [url])
        let (data, status) = try Toolbox.output(of: command)
        let output = String(decoding: data, as: UTF8.self)
        guard status == 0, let run = WrkRun(parsing: output) else { throw BenchError("wrk on \(url) failed (\(status)): \(output)") }
        return run
    }

    static func path(ofScript script: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/\(script)").path
        guard FileManager.default.fileExists(atPath: path) else { throw BenchError("the wrk script \(path) is missing") }
        return path
    }

    /// Reads wrk's report:
    ///
    ///       Latency Distribution
    ///          50%  256.00us
    ///          ...
    ///          99%    1.02ms
    ///       264711 requests in 2.10s, 40.64MB read
    ///       Socket errors: connect 0, read 3, write 0, timeout 0
    ///       Non-2xx or 3xx responses: 12
    ///     Requests/sec: 126009.29
    init?(parsing output: String) {
        var rate: Double?
        var count: Int?
        var percentiles: [String: Double] = [:]
        var errors: [String] = []
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("Requests/sec:"), fields.count == 2 {
                rate = Double(fields[1])
            } else if fields.count >= 3, fields[1] == "requests", fields[2] == "in" {
                count = Int(fields[0])
            } else if fields.count == 2, fields[0].hasSuffix("%"), let value = Self.milliseconds(fields[1]) {
                percentiles[String(fields[0])] = value
            } else if line.hasPrefix("Socket errors:") || line.hasPrefix("Non-2xx or 3xx responses:") {
                errors.append(line)
            }
        }
        guard let rate, let count else { return nil }
        requestsPerSecond = rate
        requests = count
        p50Milliseconds = percentiles["50%"].flatMap { $0 > 0 ? $0 : nil }
        p99Milliseconds = percentiles["99%"].flatMap { $0 > 0 ? $0 : nil }
        self.errors = errors
    }

    /// "256.00us", "1.02ms", "2.00s", "1.00m" in ms.
    private static func milliseconds(_ text: Substring) -> Double? {
        let units: [(String, Double)] = [("us", 0.001), ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }
}
