import Foundation
import Glibc
import Synchronization
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// ReactorMonitor over its Unix socket, with a client nobody here wrote (Python's socket, as
/// `nc -U` would be).
final class MonitorTests: XCTestCase {
    static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("monitor_client.py").path

    /// Runs the client with `commands`, as a subprocess of `reactor`, and returns each
    /// command's answer.
    static func ask(_ path: String, _ commands: [String], on reactor: Reactor) async throws -> [String] {
        let child = try await createSubprocessExec(
            "/usr/bin/timeout", ["60", "python3", client, path] + commands, stdout: .pipe, stderr: .stdout, on: reactor)
        let (bytes, _) = try await child.communicate()
        let output = String(decoding: bytes, as: UTF8.self)
        let status = try await child.wait()
        guard status == 0 else { throw TestFailure("monitor_client.py failed (\(status)): \(output)") }
        return output.components(separatedBy: "---\n").dropLast()
    }

    /// `ps`, asked over a blocking socket by a thread of its own: the answer, up to the prompt.
    static func blockingPs(_ path: String) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8.prefix($0.count - 1)) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return "connect failed: errno \(errno)" }
        var received: [UInt8] = []
        func answer() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let text = String(decoding: received, as: UTF8.self)
                if let prompt = text.range(of: "monitor> ") {
                    received = Array(text[prompt.upperBound...].utf8)
                    return String(text[..<prompt.lowerBound])
                }
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { return nil }
                received += buffer[..<count]
            }
        }
        _ = answer()
        _ = "ps\n".withCString { send(fd, $0, 3, 0) }
        return answer() ?? "closed"
    }

    static func socketPath(_ name: String) -> String { "\(NSTemporaryDirectory())reactor-monitor-\(getpid())-\(name).sock" }

    func testPsListsEveryConnectionAndALockWaiterAndCancelEndsExactlyThatConnection() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                while true {
                    let bytes = try await reader.read(100)
                    if bytes.isEmpty { return }
                    try writer.write(bytes)
                }
            }
            defer { server.close() }
            var clients: [Socket] = []
            for _ in 0..<3 { clients.append(try await reactor.connect(to: server.addresses[0])) }
            defer { for client in clients { client.close() } }
            // A task parked on a lock the test holds.
            let lock = Lock(on: reactor)
            try await lock.acquire()
            let waiter = reactor.spawn { try await lock.withLock {} }
            try await waitUntil(reactor, "every connection is served and the lock has a waiter") {
                server.connectionCount == 3 && lock.waiters.count == 1
            }
            let path = Self.socketPath("ps")
            let monitor = try await ReactorMonitor.start(path: path, reactors: [reactor])
            let ports = try clients.map { try $0.localAddress().port! }
            let ps = try await Self.ask(path, ["ps"], on: reactor)[0]
            var ids: [Int: String] = [:]
            for port in ports {
                let line = ps.split(separator: "\n").first { $0.hasSuffix("peer 127.0.0.1:\(port)") }
                XCTAssertNotNil(line, "no line for the connection from port \(port): \(ps)")
                XCTAssertTrue(line?.contains(" waiting: read fd ") ?? false, ps)
                ids[port] = line.map { String($0.split(separator: " ")[0]) }
            }
            XCTAssertTrue(ps.contains("waiting: queue Lock 0x"), ps)
            // A wait's id is never reused, so the monitor knows since when it has seen each one.
            var later = ps
            let deadline = ContinuousClock.now + .seconds(10)
            while !later.contains("(parked for at least ") && ContinuousClock.now < deadline {
                later = try await Self.ask(path, ["ps"], on: reactor)[0]
            }
            let lockLine = later.split(separator: "\n").first { $0.contains("queue Lock") } ?? ""
            XCTAssertTrue(lockLine.contains(") waiting: queue Lock 0x") && lockLine.contains("(parked for at least "), later)
            XCTAssertTrue(ps.contains("local 127.0.0.1:\(server.port!)"), "the accept loop: \(ps)")
            // `where` answers the same line; `cancel` cuts the first connection only.
            let first = ids[ports[0]]!
            let answers = try await Self.ask(path, ["where \(first)", "cancel \(first)", "cancel 0:12345", "cancel 12345", "cancel 1:1"], on: reactor)
            XCTAssertTrue(first.hasPrefix("0:"), first)
            XCTAssertTrue(answers[0].contains("peer 127.0.0.1:\(ports[0])"), answers[0])
            XCTAssertEqual(answers[1], "cancelled \(first)\n")
            XCTAssertEqual(answers[2], "no parked task 0:12345\n")
            XCTAssertEqual(answers[3], "cancel: '12345' is not a task id (REACTOR:WAIT, as ps lists it)\n")
            XCTAssertEqual(answers[4], "cancel: '1:1' is not a task id (REACTOR:WAIT, as ps lists it)\n", "there is no reactor 1")
            let eof = try await reactor.sockRecv(clients[0], maxBytes: 10)
            XCTAssertEqual(eof, [], "the cancelled connection was closed")
            for client in clients.dropFirst() {
                try await reactor.sockSendall(client, [7])
                let echoed = try await reactor.sockRecv(client, maxBytes: 10)
                XCTAssertEqual(echoed, [7], "the other connections carry on")
            }
            try lock.release()
            try await waiter.value
            await monitor.stop()
            XCTAssertEqual(access(path, F_OK), -1, "the socket file is gone")
        }
    }

    /// Each reactor numbers its own waits, so two reactors' first waits have the same number:
    /// the monitor's ids name the reactor too, and `cancel` reaches one task.
    func testAWaitsIdNamesOneWaitAcrossReactors() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            let others = try (0..<2).map { _ in try Reactor.start() }
            let sleepers = others.map { other in Task(executorPreference: other) { try await other.sleep(for: .seconds(60)) } }
            let path = Self.socketPath("reactors")
            let monitor = try await ReactorMonitor.start(path: path, reactors: others)
            var ps = ""
            let deadline = ContinuousClock.now + .seconds(10)
            while ps.components(separatedBy: " waiting: sleep ").count < 3 && ContinuousClock.now < deadline {
                ps = try await Self.ask(path, ["ps"], on: reactor)[0]
            }
            func sleeps(_ ps: String) -> [String] {
                ps.split(separator: "\n").filter { $0.contains(" waiting: sleep ") }.map { String($0.split(separator: " ")[0]) }
            }
            let ids = sleeps(ps)
            XCTAssertEqual(ids.count, 2, ps)
            XCTAssertEqual(Set(ids).count, 2, "one id for two waits: \(ps)")
            let answers = try await Self.ask(path, ["cancel \(ids[0])", "ps"], on: reactor)
            XCTAssertEqual(answers[0], "cancelled \(ids[0])\n")
            XCTAssertEqual(sleeps(answers[1]), [ids[1]], answers[1])
            await assertThrows(CancellationError.self, sleepers[0])
            sleepers[1].cancel()
            await monitor.stop()
            for other in others { await other.shutdown() }
        }
    }

    func testACancelledConnectionKeepsItsPlaceUntilItsSocketIsClosed() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            let ended = Shared(false)
            // Queues more than the client reads, then waits to read.
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                defer { ended.value = true }
                try writer.write([UInt8](repeating: 1, count: 8 << 20))
                _ = try await reader.read(1)
            }
            defer { server.close() }
            let client = try await reactor.connect(to: server.addresses[0])
            defer { client.close() }
            let port = try client.localAddress().port!
            var task: Reactor.ParkedTask?
            try await waitUntil(reactor, "the handler waits to read") {
                task = reactor.parkedTasks().first { $0.description.hasSuffix("peer 127.0.0.1:\(port)") && $0.description.contains("read") }
                return task != nil
            }
            XCTAssertTrue(reactor.cancelParkedTask(task!.id))
            try await waitUntil(reactor, "the cancelled handler ends") { ended.value }
            XCTAssertEqual(server.connectionCount, 1, "still flushing to the client, so still open")
            // The client reads it all: the close completes, and only then is the place free.
            var received = 0
            while true {
                let bytes = try await reactor.sockRecv(client, maxBytes: 1 << 20)
                if bytes.isEmpty { break }
                received += bytes.count
            }
            XCTAssertEqual(received, 8 << 20)
            try await waitUntil(reactor, "the connection is closed") { server.connectionCount == 0 }
        }
    }

    func testTheMonitorSurvivesGarbageAndAClientThatNeverReads() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            let path = Self.socketPath("abuse")
            let monitor = try await ReactorMonitor.start(path: path, reactors: [reactor])
            // A client that asks for a great deal and reads none of it.
            let silent = try await openUnixConnection(path: path)
            try silent.1.write(Array(String(repeating: "help\n", count: 20_000).utf8))
            let answers = try await Self.ask(path, ["\u{1}\u{2}garbage", "raw:\(String(repeating: "x", count: 5000))\n"], on: reactor)
            XCTAssertTrue(answers[0].hasPrefix("unknown command:"), answers[0])
            XCTAssertTrue(answers[1].contains("the line is too long"), answers[1])
            XCTAssertTrue(answers[1].hasSuffix("[closed]"), answers[1])
            // Still answering.
            let stats = try await Self.ask(path, ["stats"], on: reactor)[0]
            XCTAssertTrue(stats.hasPrefix("reactor 0: turns "), stats)
            silent.1.abort()
            await monitor.stop()
        }
    }

    func testABlockedLoopIsReportedAsBlocked() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            let path = Self.socketPath("blocked")
            let monitor = try await ReactorMonitor.start(path: path, reactors: [reactor], patience: .milliseconds(300))
            let answered = Atomic<Bool>(false)
            let answer = LockedValue("")
            // The client runs on a thread of its own while this job holds the reactor's loop
            // until the client has its answer.
            Thread.detachNewThread {
                answer.withLock { $0 = Self.blockingPs(path) }
                answered.store(true, ordering: .releasing)
            }
            let start = ContinuousClock.now
            while !answered.load(ordering: .acquiring) && ContinuousClock.now - start < .seconds(30) {}
            let text = answer.withLock { $0 }
            XCTAssertTrue(text.hasPrefix("reactor 0 is blocked: its loop has been in turn "), text)
            await monitor.stop()
        }
    }
}
