import Foundation
import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams

/// reactor-redis as a process, driven by the clients people use (redis-py, redis-cli,
/// redis-benchmark) and compared with redis-server itself. `.ci/run` installs them; where
/// one is missing the test says so and skips.
final class RealClientTests: XCTestCase {
    /// The tests redis-benchmark runs by default, as its -q output names them.
    static let redisBenchmarkDefaultTests = [
        "PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
        "LRANGE_100 (first 100 elements)", "LRANGE_600 (first 600 elements)", "MSET (10 keys)",
    ]

    private static var testsDirectory: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().path }

    func testRedisPyGetsTheSameRepliesFromReactorRedisAsFromRedisServer() throws {
        let reference = try ServerProcess.redisServer()
        let candidate = try ServerProcess("reactor-redis")
        guard let python = findExecutable("python3") else { throw XCTSkip("no python3") }
        guard try runProgram(python, ["-c", "import redis"]).status == 0 else { throw XCTSkip("redis-py is not installed (.ci/run installs it)") }
        let (status, output) = try runProgram(python, ["\(Self.testsDirectory)/differential.py", "\(reference.port)", "\(candidate.port)"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains(" 0 differences"), output)
        XCTAssertEqual(candidate.stop(), 0, "reactor-redis stops gracefully on SIGTERM")
    }

    func testRedisBenchmarksDefaultTestsAllReportARateAndNoError() throws {
        guard let benchmark = findExecutable("redis-benchmark") else { throw XCTSkip("redis-benchmark is not installed (.ci/run installs it)") }
        let server = try ServerProcess("reactor-redis")
        let (status, output) = try runProgram(benchmark, ["-p", "\(server.port)", "-q", "-n", "20000"])
        XCTAssertEqual(status, 0, output)
        // -q prints a progress line, then "NAME: N requests per second, p50=..." for each test.
        let results = output.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .filter { $0.contains("requests per second") }
        let names = results.map { $0.prefix { $0 != ":" } }
        for expected in Self.redisBenchmarkDefaultTests {
            XCTAssertTrue(names.contains(Substring(expected)), "no rate for \(expected): \(output)")
        }
        XCTAssertFalse(output.localizedCaseInsensitiveContains("error"), output)
        XCTAssertEqual(server.stop(), 0)
    }

    func testTheMonitorListsConnectionsUnderRedisBenchmark() throws {
        guard let benchmark = findExecutable("redis-benchmark") else { throw XCTSkip("redis-benchmark is not installed (.ci/run installs it)") }
        guard let nc = findExecutable("nc") else { throw XCTSkip("nc is not installed (.ci/run installs netcat-openbsd)") }
        let path = "\(NSTemporaryDirectory())reactor-redis-monitor-\(getpid()).sock"
        let server = try ServerProcess("reactor-redis", ["--port", "0", "--monitor", path])
        let load = Process()
        load.executableURL = URL(fileURLWithPath: benchmark)
        load.arguments = ["-p", "\(server.port)", "-c", "10", "-n", "2000000", "-t", "ping_mbulk", "-q"]
        load.standardOutput = FileHandle.nullDevice
        try load.run()
        defer {
            load.terminate()
            load.waitUntilExit()
        }
        // nc -U, as an operator would: `ps` until it finds a connection of the load parked in a read.
        func ask(_ commands: String) throws -> String {
            let script = "printf '\(commands)\\nquit\\n' | \(nc) -U \(path)"
            return try runProgram("/usr/bin/timeout", ["20", "sh", "-c", script]).output
        }
        var ps = ""
        let deadline = ContinuousClock.now + .seconds(20)
        while !ps.contains(" waiting: read fd ") || !ps.contains(" peer 127.0.0.1:") {
            guard ContinuousClock.now < deadline, load.isRunning else { break }
            ps = try ask("ps")
        }
        let connections = ps.split(separator: "\n").filter { $0.contains(" waiting: read fd ") && $0.contains(" peer 127.0.0.1:") }
        XCTAssertGreaterThan(connections.count, 0, ps)
        // Each line begins with the task's id: the reactor's index, then its wait's number.
        let ids = connections.map { $0.split(separator: " ")[0].replacingOccurrences(of: "monitor> ", with: "").split(separator: ":") }
        XCTAssertTrue(ids.allSatisfy { $0.count == 2 && $0[0] == "0" && UInt64($0[1]) != nil }, ps)
        let stats = try ask("stats")
        XCTAssertTrue(stats.contains("reactor 0: turns "), stats)
        XCTAssertTrue(load.isRunning, "the load ran throughout")
        XCTAssertEqual(server.stop(), 0)
    }

    func testRedisCliFeelsReal() throws {
        guard let cliPath = findExecutable("redis-cli") else { throw XCTSkip("redis-cli is not installed (.ci/run installs it)") }
        let server = try ServerProcess("reactor-redis")
        func cli(_ arguments: String...) throws -> String {
            try runProgram(cliPath, ["-p", "\(server.port)"] + arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try cli("PING"), "PONG")
        XCTAssertEqual(try cli("SET", "greeting", "hello world"), "OK")
        XCTAssertEqual(try cli("GET", "greeting"), "hello world")
        XCTAssertEqual(try cli("RPUSH", "list", "a", "b", "c"), "3")
        XCTAssertEqual(try cli("LRANGE", "list", "0", "-1"), "a\nb\nc")
        XCTAssertEqual(try cli("DBSIZE"), "2")
        XCTAssertEqual(try cli("NOSUCH"), "ERR unknown command 'NOSUCH', with args beginning with:")
        XCTAssertTrue(try cli("INFO").contains("redis_version:"))
        XCTAssertEqual(server.stop(), 0)
    }

    func testHalfACommandThatStallsHoldsOnlyItsBytes() throws {
        let server = try ServerProcess("reactor-redis")
        let port = server.port
        let idle = server.residentMemory
        let (grown, answered) = try runReactor { reactor in
            // A 100 MiB value is announced, and 10 bytes of it are sent.
            let (_, stalled) = try await openConnection(host: "127.0.0.1", port: port)
            defer { stalled.close() }
            try stalled.write(Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$104857600\r\n0123456789".utf8))
            try await stalled.drain()
            // Another client is served meanwhile, and the stalled one has been read by then.
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
            defer { writer.close() }
            try writer.write(request("PING"))
            let answered = text(try await reader.readLine())
            return (server.residentMemory - idle, answered)
        }
        XCTAssertEqual(answered, "+PONG\r\n")
        XCTAssertLessThan(grown, 16 << 20, "the server allocated for bytes that never came")
        XCTAssertEqual(server.stop(), 0)
    }

    func testAClientThatPipelinesWithoutReadingCannotGrowTheServersMemory() throws {
        let server = try ServerProcess("reactor-redis")
        let port = server.port
        let idle = server.residentMemory
        let peak = try runReactor { reactor in
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
            defer { writer.close() }
            try writer.write(request("SET", "value", String(repeating: "x", count: 1024)))
            _ = try await reader.readLine()
            // 8 MiB of GETs of a 1 KiB value (about 8 GiB of replies if all were answered at
            // once), from a client that never reads the replies.
            let get = request("GET", "value")
            let gets = Array((0..<(8 << 20) / get.count).map { _ in get }.joined())
            let (_, flooder) = try await openConnection(host: "127.0.0.1", port: port)
            defer { flooder.abort() }
            try flooder.write(gets)
            // Watch the server's memory for 3 s while it stops reading the flooder.
            var peak = 0
            let end = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < end {
                peak = max(peak, server.residentMemory)
                try await reactor.sleep(for: .milliseconds(20))
            }
            // And it still serves others.
            try writer.write(request("PING"))
            let pong = try await reader.readLine()
            XCTAssertEqual(text(pong), "+PONG\r\n")
            return peak
        }
        XCTAssertLessThan(peak - idle, 64 << 20, "the server's memory grew with a client that does not read")
        XCTAssertEqual(server.stop(), 0)
    }
}
