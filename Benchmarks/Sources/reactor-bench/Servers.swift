import Foundation

/// A server under test: an executable built beside reactor-bench, and its arguments.
struct ServerKind: Sendable, Hashable {
    let name: String
    let summary: String
    let executable: String
    let arguments: [String]
    /// What bench-loadgen needs to talk to it: `--tls` for a TLS server.
    var loadFlags: [String] = []
    /// Run only when named in `--servers`, not in the default matrix.
    var onRequest = false

    static let all: [ServerKind] = [
        ServerKind(name: "c-floor", summary: "minimal C epoll echo (the floor)", executable: "bench-c-echo", arguments: []),
        ServerKind(name: "c-uring", summary: "minimal C io_uring echo, completion mode (the io_uring floor)", executable: "bench-c-uring-echo",
                   arguments: []),
        ServerKind(name: "reactor-sock", summary: "swift-reactor sockRecv/sockSendall", executable: "reactor-echo", arguments: ["--mode", "sock"]),
        ServerKind(name: "reactor-streams", summary: "swift-reactor StreamReader/StreamWriter", executable: "reactor-echo", arguments: ["--mode", "streams"]),
        ServerKind(name: "reactor-sock-uring", summary: "reactor-sock on the io_uring backend", executable: "reactor-echo",
                   arguments: ["--mode", "sock", "--backend", "io_uring"]),
        ServerKind(name: "reactor-streams-uring", summary: "reactor-streams on the io_uring backend", executable: "reactor-echo",
                   arguments: ["--mode", "streams", "--backend", "io_uring"]),
        ServerKind(name: "reactor-streams-metrics", summary: "reactor-streams reporting its metrics to Prometheus every second",
                   executable: "reactor-echo", arguments: ["--mode", "streams", "--metrics"], onRequest: true),
        ServerKind(name: "nio-handler", summary: "SwiftNIO ChannelInboundHandler", executable: "nio-echo", arguments: ["--mode", "handler"]),
        ServerKind(name: "nio-async", summary: "SwiftNIO NIOAsyncChannel", executable: "nio-echo", arguments: ["--mode", "async"]),
    ]

    /// The default matrix.
    static let defaults = all.filter { !$0.onRequest }

    static func named(_ name: String) -> ServerKind? { all.first { $0.name == name } }

    /// The TLS echo servers (reactor-bench tls), presenting `certificate` with `key`: the C floor
    /// over OpenSSL, ours (the streams over ReactorTLS), and SwiftNIO's handler behind NIOSSL
    /// (BoringSSL). They keep the plain servers' names, so the tables compare them the same way.
    static func tls(certificate: String, key: String) -> [ServerKind] {
        [
            ServerKind(name: "c-floor", summary: "minimal C epoll echo over OpenSSL (the floor)", executable: "bench-c-tls-echo",
                       arguments: ["--cert", certificate, "--key", key], loadFlags: ["--tls"]),
            ServerKind(name: "reactor-streams", summary: "swift-reactor StreamReader/StreamWriter over ReactorTLS", executable: "reactor-echo",
                       arguments: ["--mode", "streams", "--tls-cert", certificate, "--tls-key", key], loadFlags: ["--tls"]),
            ServerKind(name: "nio-handler", summary: "SwiftNIO ChannelInboundHandler behind NIOSSL", executable: "nio-echo",
                       arguments: ["--mode", "handler", "--tls-cert", certificate, "--tls-key", key], loadFlags: ["--tls"]),
        ]
    }
}

/// Where reactor-bench finds its sibling executables, and how it pins them to a CPU.
struct Toolbox {
    let directory: URL
    let taskset: String?

    init() {
        directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        taskset = Toolbox.system("taskset")
    }

    /// A tool of the system's (taskset, strace, valgrind, strip, nginx) on the PATH, or nil
    /// where it is missing. /usr/sbin is looked in too: nginx is there, off a user's PATH.
    static func system(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":") + ["/usr/bin", "/bin", "/usr/sbin"]).map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func path(of executable: String) throws -> String {
        let path = directory.appendingPathComponent(executable).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchError("\(executable) was not built beside reactor-bench (looked at \(path))")
        }
        return path
    }

    /// Runs `command` to its end and returns what it printed on stdout and its exit status.
    static func output(of command: [String]) throws -> (Data, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (data, process.terminationStatus)
    }

    /// A command line that runs `executable` pinned to `cpu` (when taskset is available).
    func pinned(_ cpu: Int?, _ command: [String]) -> [String] {
        guard let cpu, let taskset else { return command }
        return [taskset, "-c", "\(cpu)"] + command
    }
}

/// A server process: started, told apart by its port, measured by its CPU time, stopped.
final class ServerProcess {
    let kind: ServerKind
    let process = Process()
    let port: Int

    /// `executable` replaces the kind's own (a stripped copy, say); `startup` is how many
    /// seconds it may take to say where it listens.
    /// A server that cannot pick its own port (redis-server) is given `fixedPort` in its
    /// arguments, and is ready once it accepts a connection there.
    init(
        _ kind: ServerKind, toolbox: Toolbox, cpu: Int?, wrapper: [String] = [], executable: String? = nil, startup: Double = 10,
        fixedPort: Int? = nil
    ) throws {
        self.kind = kind
        let command = toolbox.pinned(cpu, wrapper + [try executable ?? toolbox.path(of: kind.executable)] + kind.arguments + (fixedPort == nil ? ["--port", "0"] : []))
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        if let fixedPort {
            let deadline = Date().addingTimeInterval(startup)
            while !Self.accepts(port: fixedPort) {
                guard Date() < deadline, process.isRunning else {
                    process.terminate()
                    throw BenchError("\(kind.name) did not listen on port \(fixedPort) within \(Int(startup)) s")
                }
                usleep(10_000)
            }
            port = fixedPort
            return
        }
        // The first line says where it listens: "... listening on 127.0.0.1:PORT".
        let banner = LineReader(output.fileHandleForReading)
        let line = banner.next(within: startup)
        guard let line, let colon = line.lastIndex(of: ":"),
            let port = Int(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        else {
            process.terminate()
            process.waitUntilExit()
            throw BenchError("\(kind.name) did not say where it listens within \(Int(startup)) s (it printed: \(line ?? banner.pending))")
        }
        self.port = port
    }

    private static func accepts(port: Int) -> Bool {
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

    /// The server's process id (not a taskset's in front of it).
    var pid: Int32 { serverPID }

    /// User + system CPU time of the server (all its threads), in seconds.
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(serverPID)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after "(comm)": state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The server's resident memory (VmRSS), in bytes.
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(serverPID)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({ Int($0) })
        else { return nil }
        return kilobytes * 1024
    }

    /// The server itself, not a taskset or strace in front of it (they exec or fork it).
    private var serverPID: Int32 {
        let children = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").first.flatMap { Int32($0) } ?? process.processIdentifier
    }

    /// SIGTERM to the server itself (under strace, strace then writes its summary and exits
    /// with it; valgrind writes its tool's output as the server exits), `seconds` to exit,
    /// then SIGKILL. Returns false if it had to be killed.
    @discardableResult
    func stop(within seconds: Double = 3) -> Bool {
        guard process.isRunning else { return true }
        let server = serverPID
        kill(server, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        let exited = !process.isRunning
        if !exited {
            kill(server, SIGKILL)
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return exited
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
