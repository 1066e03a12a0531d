import Foundation
import Glibc
import TestSupport
import XCTest

/// reactor-redis's TLS port (redis-server's flag names) driven by the clients people use over
/// TLS: redis-cli --tls, redis-py with ssl=True, redis-benchmark --tls.
final class TLSClientTests: XCTestCase {
    private static let tlsFlags = [
        "--tls-cert-file", TestPKI.path("server.pem"), "--tls-key-file", TestPKI.path("server-key.pem"),
    ]

    /// reactor-redis serving TLS only (`--port 0`, as in redis-server), on a free port.
    private func tlsOnlyServer(_ extra: [String] = []) throws -> ServerProcess {
        try ServerProcess("reactor-redis", ["--port", "0", "--tls-port", "0"] + Self.tlsFlags + extra)
    }

    private func cli(_ server: ServerProcess, _ arguments: [String], certificate: Bool = false) throws -> (status: Int32, output: String) {
        let cli = try requireProgram("redis-cli")
        var tls = ["--tls", "--cacert", TestPKI.path("ca.pem")]
        if certificate { tls += ["--cert", TestPKI.path("client.pem"), "--key", TestPKI.path("client-key.pem")] }
        let (status, output) = try runProgram(cli, ["-p", "\(server.port)"] + tls + arguments)
        return (status, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func requireProgram(_ name: String) throws -> String {
        guard let path = findExecutable(name) else { throw XCTSkip("\(name) is not installed (.ci/run installs it)") }
        return path
    }

    func testRedisCliOverTLS() throws {
        let server = try tlsOnlyServer()
        XCTAssertEqual(try cli(server, ["PING"]).output, "PONG")
        XCTAssertEqual(try cli(server, ["SET", "greeting", "hello over tls"]).output, "OK")
        XCTAssertEqual(try cli(server, ["GET", "greeting"]).output, "hello over tls")
        XCTAssertEqual(server.stop(), 0)
    }

    func testPlainAndTLSPortsSideBySideShareOneDatabase() throws {
        let plainPort = try freePort()
        let tlsPort = try freePort()
        let server = try ServerProcess("reactor-redis", ["--port", "\(plainPort)", "--tls-port", "\(tlsPort)"] + Self.tlsFlags)
        let cli = try requireProgram("redis-cli")
        XCTAssertEqual(try runProgram(cli, ["-p", "\(plainPort)", "SET", "shared", "yes"]).output.trimmingCharacters(in: .whitespacesAndNewlines), "OK")
        let overTLS = try runProgram(cli, ["-p", "\(tlsPort)", "--tls", "--cacert", TestPKI.path("ca.pem"), "GET", "shared"])
        XCTAssertEqual(overTLS.output.trimmingCharacters(in: .whitespacesAndNewlines), "yes")
        XCTAssertEqual(server.stop(), 0)
    }

    func testRedisPyWithSSL() throws {
        let python = try requireProgram("python3")
        guard try runProgram(python, ["-c", "import redis"]).status == 0 else { throw XCTSkip("redis-py is not installed (.ci/run installs it)") }
        let server = try tlsOnlyServer()
        let script = """
            import redis, sys
            client = redis.Redis(host="localhost", port=\(server.port), ssl=True, ssl_ca_certs=sys.argv[1], protocol=2)
            assert client.ping()
            client.set("key", b"\\x00binary\\xff" * 1000)
            assert client.get("key") == b"\\x00binary\\xff" * 1000
            pipe = client.pipeline(transaction=False)
            for index in range(1000):
                pipe.incr("counter")
            assert pipe.execute()[-1] == 1000
            print("redis-py over TLS: ok")
            """
        let (status, output) = try runProgram(python, ["-c", script, TestPKI.path("ca.pem")])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("redis-py over TLS: ok"), output)
        XCTAssertEqual(server.stop(), 0)
    }

    func testRedisBenchmarksDefaultTestsOverTLSAllReportARateAndNoError() throws {
        let benchmark = try requireProgram("redis-benchmark")
        let server = try tlsOnlyServer()
        let (status, output) = try runProgram(
            benchmark, ["-p", "\(server.port)", "--tls", "--cacert", TestPKI.path("ca.pem"), "-q", "-n", "10000"])
        XCTAssertEqual(status, 0, output)
        let names = output.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .filter { $0.contains("requests per second") }.map { $0.prefix { $0 != ":" } }
        for expected in RealClientTests.redisBenchmarkDefaultTests {
            XCTAssertTrue(names.contains(Substring(expected)), "no rate for \(expected): \(output)")
        }
        XCTAssertFalse(output.localizedCaseInsensitiveContains("error"), output)
        XCTAssertEqual(server.stop(), 0)
    }

    func testMutualTLSAsRedisServersTLSCACertFile() throws {
        let server = try tlsOnlyServer(["--tls-ca-cert-file", TestPKI.path("ca.pem")])
        XCTAssertEqual(try cli(server, ["PING"], certificate: true).output, "PONG")
        let without = try cli(server, ["PING"])
        XCTAssertNotEqual(without.output, "PONG", "served a client without a certificate")
        XCTAssertEqual(server.stop(), 0)
    }
}
