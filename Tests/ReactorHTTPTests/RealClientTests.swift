import Foundation
import Glibc
import TestSupport
import XCTest

/// reactor-http, run as a process, against clients nobody here wrote: curl, wrk, h2load, and
/// Python's http.client and raw sockets for the edge cases (http_cases.py).
final class RealClientTests: XCTestCase {
    /// reactor-http with small limits, so the limits are quick to reach.
    static func limitedServer() throws -> ServerProcess {
        try ServerProcess("reactor-http", ["--port", "0", "--max-body-size", "65536", "--header-timeout", "1", "--idle-timeout", "1"])
    }

    /// Runs a case of http_cases.py against `server`; returns what it printed.
    @discardableResult
    func runCase(_ name: String, server: ServerProcess) throws -> String {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("http_cases.py").path
        let (status, output) = try runProgram("/usr/bin/timeout", ["120", "python3", script, "\(server.port)", name])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("ok \(name)"), output)
        return output
    }

    func testKeepAliveReusesTheConnection() throws { try runCase("keep_alive", server: Self.limitedServer()) }
    func testPipelinedRequestsAreAnsweredInOrder() throws { try runCase("pipelining", server: Self.limitedServer()) }
    func testAHeadSplitAcrossReceives() throws { try runCase("split_head", server: Self.limitedServer()) }
    func testHTTP10ClosesUnlessKeepAlive() throws { try runCase("http10", server: Self.limitedServer()) }
    func testConnectionCloseIsHonoured() throws { try runCase("connection_close", server: Self.limitedServer()) }
    func testHeadHasNoBody() throws { try runCase("head", server: Self.limitedServer()) }
    func testChunkedUploadWithExtensionsAndTrailers() throws { try runCase("chunked_upload", server: Self.limitedServer()) }
    func testExpectContinue() throws { try runCase("expect_continue", server: Self.limitedServer()) }
    func testHeadOverTheLimitIs431() throws { try runCase("head_too_large", server: Self.limitedServer()) }
    func testBodyOverTheLimitIs413() throws { try runCase("body_too_large", server: Self.limitedServer()) }
    func testMalformedRequestsAre400() throws { try runCase("malformed", server: Self.limitedServer()) }
    func testSmugglingCasesAreRefused() throws { try runCase("smuggling", server: Self.limitedServer()) }
    func testNoDesyncAfterABadBody() throws { try runCase("no_desync", server: Self.limitedServer()) }
    func testSlowHeadIsCut() throws { try runCase("slowloris", server: Self.limitedServer()) }
    func testIdleConnectionIsClosed() throws { try runCase("idle_timeout", server: Self.limitedServer()) }

    /// A client that pipelines without reading stalls; the server's memory stays bounded. The
    /// default idle timeout: the limited server's second would cut the stalled connection
    /// while a slow run (TSan) is still filling the buffers.
    func testUnreadPipelineIsThrottled() throws {
        let server = try ServerProcess("reactor-http", ["--port", "0", "--max-body-size", "65536"])
        let before = server.residentMemory
        let output = try runCase("unread_pipeline", server: server)
        let sent = output.split(separator: "\n").first { $0.hasPrefix("sent ") }.flatMap { Int($0.dropFirst(5)) } ?? -1
        XCTAssertGreaterThan(sent, 0)
        XCTAssertLessThan(server.residentMemory - before, 64 << 20, "the server buffered what it could not send")
    }

    /// An upload larger than every buffer is echoed while it is still being sent.
    func testEchoStreamsWithBackPressure() throws {
        let server = try ServerProcess("reactor-http", ["--port", "0"])
        let before = server.residentMemory
        try runCase("echo_streams", server: server)
        XCTAssertLessThan(server.residentMemory - before, 24 << 20, "the echo held the 32 MiB body")
    }

    // MARK: - curl

    func curl(_ arguments: [String]) throws -> String {
        guard let curl = findExecutable("curl") else { throw XCTSkip("curl is not installed (.ci/run installs it)") }
        let (status, output) = try runProgram(curl, ["-sS", "--max-time", "20"] + arguments)
        XCTAssertEqual(status, 0, output)
        return output
    }

    func testCurlReusesTheConnection() throws {
        let server = try Self.limitedServer()
        let url = "http://127.0.0.1:\(server.port)"
        let output = try curl(["-v", "\(url)/plaintext", "\(url)/json", "\(url)/plaintext"])
        XCTAssertEqual(output.components(separatedBy: "Hello, World!").count - 1, 3, output)
        XCTAssertTrue(output.contains("{\"message\":\"Hello, World!\"}"), output)
        XCTAssertEqual(output.components(separatedBy: "Re-using existing connection").count - 1, 2, output)
        XCTAssertEqual(output.components(separatedBy: "Connected to").count - 1, 1, output)
    }

    func testCurlHead() throws {
        let server = try Self.limitedServer()
        let output = try curl(["-I", "http://127.0.0.1:\(server.port)/json"])
        XCTAssertTrue(output.hasPrefix("HTTP/1.1 200 OK\r\n"), output)
        XCTAssertTrue(output.contains("Content-Length: 27\r\n"), output)
        XCTAssertTrue(output.contains("Date: "), output)
    }

    /// `-T -` uploads standard input chunked.
    func testCurlChunkedUpload() throws {
        let server = try ServerProcess("reactor-http", ["--port", "0"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-http-upload-\(getpid())").path
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data(payload)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let echoed = file + ".echo"
        defer { try? FileManager.default.removeItem(atPath: echoed) }
        guard findExecutable("curl") != nil else { throw XCTSkip("curl is not installed (.ci/run installs it)") }
        let (status, log) = try runProgram(
            "/bin/sh", ["-c", "curl -sS -v --max-time 20 -T - -X POST -o '\(echoed)' http://127.0.0.1:\(server.port)/echo < '\(file)'"])
        XCTAssertEqual(status, 0, log)
        XCTAssertTrue(log.contains("Transfer-Encoding: chunked"), log)
        XCTAssertEqual(FileManager.default.contents(atPath: echoed).map([UInt8].init), payload)
    }

    func testCurlExpectContinue() throws {
        let server = try ServerProcess("reactor-http", ["--port", "0"])
        let echoed = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-http-continue-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: echoed) }
        let body = String(repeating: "x", count: 5000)
        let output = try curl(["-v", "-H", "Expect: 100-continue", "--data-binary", body, "-o", echoed, "http://127.0.0.1:\(server.port)/echo"])
        XCTAssertTrue(output.contains("< HTTP/1.1 100 Continue"), output)
        XCTAssertTrue(output.contains("< HTTP/1.1 200 OK"), output)
        XCTAssertEqual(FileManager.default.contents(atPath: echoed).map { String(decoding: $0, as: UTF8.self) }, body)
    }

    func testCurlHTTPS() throws {
        let server = try ServerProcess(
            "reactor-http", ["--port", "0", "--tls-cert", TestPKI.path("server.pem"), "--tls-key", TestPKI.path("server-key.pem")])
        let output = try curl(["-v", "--cacert", TestPKI.path("ca.pem"), "https://localhost:\(server.port)/plaintext", "https://localhost:\(server.port)/json"])
        XCTAssertTrue(output.contains("ALPN: server accepted http/1.1"), output)
        XCTAssertTrue(output.contains("Hello, World!") && output.contains("{\"message\":\"Hello, World!\"}"), output)
        XCTAssertTrue(output.contains("Re-using existing connection"), output)
    }

    // MARK: - Load

    func testWrkSeesNoErrors() throws {
        guard let wrk = findExecutable("wrk") else { throw XCTSkip("wrk is not installed (.ci/run installs it)") }
        let server = try ServerProcess("reactor-http", ["--port", "0", "--reactors", "2"])
        let (status, output) = try runProgram(wrk, ["-t1", "-c32", "-d2s", "http://127.0.0.1:\(server.port)/plaintext"])
        XCTAssertEqual(status, 0, output)
        XCTAssertFalse(output.contains("Socket errors"), output)
        XCTAssertFalse(output.contains("Non-2xx"), output)
        let requests = output.split(separator: "\n").first { $0.contains("requests in") }
            .flatMap { Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) } ?? 0
        XCTAssertGreaterThan(requests, 1000, output)
    }

    // MARK: - Metrics

    /// /metrics, parsed by prometheus_client: each sample's value, by "name labels".
    func scrapeMetrics(_ server: ServerProcess) throws -> [String: Double] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("scrape_metrics.py").path
        let (status, output) = try runProgram("/usr/bin/timeout", ["60", "python3", script, "\(server.port)"])
        XCTAssertEqual(status, 0, output)
        var samples: [String: Double] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, let value = Double(fields[2]) else { continue }
            samples["\(fields[0]) \(fields[1])"] = value
        }
        return samples
    }

    /// The sum of a metric's samples whose labels include `labels`.
    func total(_ samples: [String: Double], _ name: String, _ labels: String = "") -> Double {
        samples.filter { $0.key.hasPrefix("\(name) ") && (labels.isEmpty || $0.key.contains(labels)) }.values.reduce(0, +)
    }

    func testTheMetricsMoveUnderWrk() throws {
        guard let wrk = findExecutable("wrk") else { throw XCTSkip("wrk is not installed (.ci/run installs it)") }
        let server = try ServerProcess("reactor-http", ["--port", "0", "--reactors", "2", "--metrics"])
        // The first report is a second after the start.
        var before = try scrapeMetrics(server)
        let deadline = ContinuousClock.now + .seconds(20)
        while total(before, "reactor_loop_turns_total") == 0 && ContinuousClock.now < deadline { before = try scrapeMetrics(server) }
        XCTAssertEqual(total(before, "reactor_server_connections_open"), 0)
        let (status, output) = try runProgram(wrk, ["-t1", "-c32", "-d1s", "http://127.0.0.1:\(server.port)/plaintext"])
        XCTAssertEqual(status, 0, output)
        // wrk's 32 connections, closed by now, reach the next report.
        var after = try scrapeMetrics(server)
        while total(after, "reactor_server_connections_closed_total") - total(before, "reactor_server_connections_closed_total") < 32
            && ContinuousClock.now < deadline + .seconds(20)
        {
            after = try scrapeMetrics(server)
        }
        func moved(_ name: String, _ labels: String = "") -> Double { total(after, name, labels) - total(before, name, labels) }
        XCTAssertGreaterThanOrEqual(moved("reactor_server_connections_accepted_total"), 32)
        XCTAssertGreaterThanOrEqual(moved("reactor_server_connections_closed_total"), 32)
        XCTAssertGreaterThan(moved("reactor_server_received_bytes_total"), 1000 * 40, "wrk's requests")
        XCTAssertGreaterThan(moved("reactor_server_sent_bytes_total"), 1000 * 100, "the responses")
        XCTAssertGreaterThan(moved("reactor_loop_busy_seconds_total"), 0)
        XCTAssertGreaterThan(moved("reactor_loop_lag_seconds_count"), 0)
        for reactor in ["reactor=0", "reactor=1"] {
            XCTAssertGreaterThan(moved("reactor_loop_turns_total", reactor), 0, reactor)
            XCTAssertGreaterThan(moved("reactor_server_connections_accepted_total", reactor), 0, "both reactors accepted")
            XCTAssertNotNil(after["reactor_loop_utilisation \(reactor)"], reactor)
            XCTAssertNotNil(after["reactor_work_from_other_threads_total \(reactor)"], reactor)
        }
        XCTAssertEqual(total(after, "reactor_server_connections_open"), 0)
        XCTAssertEqual(after["reactor_subprocesses_running "], 0, "the process's children, reported once")
    }

    func testTheMonitorListsAndCancelsConnectionsUnderWrk() throws {
        guard let wrk = findExecutable("wrk") else { throw XCTSkip("wrk is not installed (.ci/run installs it)") }
        let path = "\(NSTemporaryDirectory())reactor-http-monitor-\(getpid()).sock"
        let server = try ServerProcess("reactor-http", ["--port", "0", "--reactors", "2", "--monitor", path])
        let load = Process()
        load.executableURL = URL(fileURLWithPath: wrk)
        load.arguments = ["-t1", "-c16", "-d3s", "http://127.0.0.1:\(server.port)/plaintext"]
        load.standardOutput = FileHandle.nullDevice
        try load.run()
        defer { load.waitUntilExit() }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("monitor_under_load.py").path
        let (status, output) = try runProgram("/usr/bin/timeout", ["60", "python3", script, "\(server.port)", path])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("ok monitor under load"), output)
        XCTAssertTrue(load.isRunning, "the load ran throughout")
    }

    func testH2loadPipelined() throws {
        guard let h2load = findExecutable("h2load") else { throw XCTSkip("h2load is not installed (.ci/run installs nghttp2-client)") }
        let server = try ServerProcess("reactor-http", ["--port", "0"])
        let (status, output) = try runProgram(h2load, ["--h1", "-n", "20000", "-c", "8", "-m", "16", "http://127.0.0.1:\(server.port)/plaintext"])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("20000 succeeded, 0 failed, 0 errored"), output)
        XCTAssertTrue(output.contains("status codes: 20000 2xx"), output)
    }

    // MARK: - Stopping

    /// SIGTERM: idle connections close, a request in flight finishes (its response says
    /// Connection: close), and the process exits 0.
    func testGracefulStopFinishesInFlightRequests() throws {
        let server = try ServerProcess("reactor-http", ["--port", "0", "--reactors", "2"])
        let busy = try blockingConnection(port: server.port)
        defer { close(busy) }
        let idle = try blockingConnection(port: server.port)
        defer { close(idle) }
        send(busy, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(receiveAll(busy, until: "Hello, World!").hasSuffix("Hello, World!"))
        send(busy, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        // The body's first half is read (and echoed) before the stop.
        XCTAssertTrue(receiveAll(busy, until: "hello").hasSuffix("hello"))
        kill(server.pid, SIGTERM)
        XCTAssertEqual(receiveAll(idle, until: nil), "", "the idle connection was not closed")
        send(busy, "world")
        let rest = receiveAll(busy, until: nil)
        XCTAssertEqual(rest, "world")
        server.process.waitUntilExit()
        XCTAssertEqual(server.process.terminationStatus, 0)
    }
}

/// A blocking TCP connection to 127.0.0.1:`port`, with a 20 s receive timeout.
func blockingConnection(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else {
        close(fd)
        throw POSIXError(.ECONNREFUSED)
    }
    var timeout = timeval(tv_sec: 20, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return fd
}

func send(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var sent = 0
    while sent < bytes.count {
        let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard count > 0 else { return }
        sent += count
    }
}

/// What arrives until the body of a response ends with `suffix` (the body only, after the
/// head), or until EOF (or the receive timeout) when `suffix` is nil.
func receiveAll(_ fd: Int32, until suffix: String?) -> String {
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        data += buffer[0..<count]
        if let suffix, String(decoding: data, as: UTF8.self).hasSuffix(suffix) { break }
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let end = text.range(of: "\r\n\r\n") else { return text }
    return String(text[end.upperBound...])
}
