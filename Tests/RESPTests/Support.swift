import Foundation
import Glibc
import XCTest

import Reactor
import ReactorStreams

/// Runs `body` on a fresh reactor, bounded by `timeout`.
func runReactor<T: Sendable>(timeout: Duration = .seconds(60), _ body: @escaping @Sendable (Reactor) async throws -> T) throws -> T {
    try Reactor.run { reactor in try await reactor.withTimeout(timeout) { try await body(reactor) } }
}

/// A RESP request as redis-cli sends it.
func request(_ arguments: String...) -> [UInt8] { request(arguments.map { Array($0.utf8) }) }

func request(_ arguments: [[UInt8]]) -> [UInt8] {
    var bytes = Array("*\(arguments.count)\r\n".utf8)
    for argument in arguments {
        bytes += Array("$\(argument.count)\r\n".utf8) + argument + [13, 10]
    }
    return bytes
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Reads from `reader` until `count` bytes came, or EOF.
func readBytes(_ reader: StreamReader, count: Int) async throws -> [UInt8] {
    var received: [UInt8] = []
    while received.count < count {
        let chunk = try await reader.read(count - received.count)
        if chunk.isEmpty { break }
        received += chunk
    }
    return received
}

/// A server of this package's, or redis-server, started as a process; killed when dropped.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int

    /// An executable built beside the tests, which prints `... listening on HOST:PORT`.
    init(built executable: String, _ arguments: [String] = ["--port", "0"]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent(executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let banner = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard let port = banner.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw XCTSkip("no port in \(executable)'s banner: \(banner)")
        }
        self.port = port
    }

    /// redis-server on a free port, with nothing saved; skips the test where it is not installed.
    init(redisServer: ()) throws {
        guard let path = findExecutable("redis-server") else { throw XCTSkip("redis-server is not installed (.ci/run installs it)") }
        let port = try freePort()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--port", "\(port)", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.port = port
        // Ready once it answers.
        let deadline = ContinuousClock.now + .seconds(20)
        while !canConnect(port: port) {
            if ContinuousClock.now > deadline { throw XCTSkip("redis-server did not start") }
            usleep(10_000)
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// The process's resident set size, in bytes.
    var residentMemory: Int {
        guard let statm = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { kill(pid, SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(pid, SIGKILL) } }
}

func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/bin"]
    return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A TCP port nobody listens on now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw XCTSkip("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Runs a program to its end and returns its exit status and output (stdout and stderr).
func runProgram(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
