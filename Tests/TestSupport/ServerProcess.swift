import Foundation
import Glibc

/// A server started as a process for a test: an executable of this package (built beside the
/// tests), which prints `... listening on HOST:PORT` first, or redis-server. Stopped with
/// SIGTERM by `stop()`, killed if dropped while it runs.
public final class ServerProcess: @unchecked Sendable {  // Process is thread-safe for what the tests do
    public let process = Process()
    public let port: Int
    /// The first line the server printed (empty for a program started by path).
    public let banner: String
    /// The server's standard output after its banner.
    public let output = Pipe()

    public struct StartFailure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `executable`, built beside the tests, with `arguments`.
    public init(_ executable: String, _ arguments: [String] = ["--port", "0"]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent(executable)
        process.arguments = arguments
        process.standardOutput = output
        try process.run()
        let banner = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        guard let port = banner.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw StartFailure(description: "no port in \(executable)'s banner: \(banner)")
        }
        self.port = port
        self.banner = banner
    }

    /// The program at `path` (redis-server), told to listen on `port` by `arguments`: ready
    /// once it accepts a connection there.
    public init(program path: String, _ arguments: [String], port: Int) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.port = port
        banner = ""
        let deadline = ContinuousClock.now + .seconds(20)
        while !canConnect(port: port) {
            guard ContinuousClock.now < deadline, process.isRunning else {
                throw StartFailure(description: "\(path) did not listen on port \(port)")
            }
            usleep(10_000)
        }
    }

    public var pid: Int32 { process.processIdentifier }

    /// The process's open descriptors.
    public var openFileDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// The process's resident set size, in bytes.
    public var residentMemory: Int { residentMemoryOf("\(pid)") }

    /// SIGTERM, then the exit status.
    @discardableResult
    public func stop() -> Int32 {
        if process.isRunning { kill(pid, SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(pid, SIGKILL) } }
}

/// The resident set size of this process, in bytes.
public func residentMemory() -> Int { residentMemoryOf("self") }

/// The resident set size of /proc/`process`, in bytes.
func residentMemoryOf(_ process: String) -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/\(process)/statm", encoding: .utf8) else { return 0 }
    return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// A program on the PATH, or nil.
public func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/bin"]
    return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A TCP port on 127.0.0.1 that nobody listens on now.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = loopback(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw ServerProcess.StartFailure(description: "no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = loopback(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

private func loopback(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// Runs a program to its end and returns its exit status and output (stdout and stderr).
public func runProgram(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
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
