import Foundation
import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// Ten thousand connections to one reactor in this process, from a Python client in another
/// (its own descriptor table: both ends here would pass the usual hard limit).
final class ManyConnectionsTests: XCTestCase {
    static let connections = 10_000

    /// Opens the connections, echoes 64 B once on each and checks the bytes, says "holding",
    /// then closes them all when its standard input ends and says "closed".
    static let client = """
        import resource, socket, sys
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        port, count = int(sys.argv[1]), int(sys.argv[2])
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(count)]
        for index, s in enumerate(sockets):
            s.sendall(index.to_bytes(4, "big") * 16)
        for index, s in enumerate(sockets):
            got = b""
            while len(got) < 64:
                chunk = s.recv(64 - len(got))
                if not chunk:
                    sys.exit(f"connection {index} closed after {len(got)} bytes")
                got += chunk
            if got != index.to_bytes(4, "big") * 16:
                sys.exit(f"connection {index} echoed other bytes")
        print("holding", flush=True)
        sys.stdin.read()
        for s in sockets:
            s.close()
        print("closed", flush=True)
        """

    func testTenThousandConnectionsEachEchoOnceAndGiveTheirDescriptorsBack() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let needed = rlim_t(Self.connections + 500)
        guard limit.rlim_max >= needed else {
            throw XCTSkip("needs \(needed) open files and the hard limit is \(limit.rlim_max) (ulimit -Hn)")
        }
        let saved = limit
        limit.rlim_cur = max(limit.rlim_cur, needed)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        defer {
            var restore = saved
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore)
        }

        let peak = try runReactor(timeout: .seconds(150)) { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                while true {
                    let bytes = try await reader.read(4096)
                    if bytes.isEmpty { return }
                    try writer.write(bytes)
                    try await writer.drain()
                }
            }
            let client = try await PythonClient(Self.client, arguments: ["\(server.port!)", "\(Self.connections)"], on: reactor)
            let baseline = openFileDescriptorCount()
            do {
                try await client.expect("holding")
                let peak = server.connectionCount
                client.closeInput()
                try await client.expect("closed")
                try await waitUntil(reactor, timeout: .seconds(60), "every handler ends") {
                    server.connectionCount == 0
                }
                // Each count reads /proc/self/fd: look again every 10 ms, not every turn.
                var open = openFileDescriptorCount()
                let deadline = ContinuousClock.now + .seconds(30)
                while open > baseline {
                    if ContinuousClock.now > deadline {
                        throw TestFailure("\(open - baseline) descriptors still open after every handler ended")
                    }
                    try await reactor.sleep(for: .milliseconds(10))
                    open = openFileDescriptorCount()
                }
                server.close()
                await server.waitClosed()
                await client.finish()
                return peak
            } catch {
                await client.finish()
                throw error
            }
        }
        XCTAssertEqual(peak, Self.connections)
    }
}

/// A python3 script run as a child process (posix_spawn: Foundation's Process would open
/// descriptors of its own, which the counts would see), its standard output read line by line
/// through a StreamReader over the adopted pipe.
final class PythonClient: @unchecked Sendable {
    let pid: pid_t
    /// The script's standard input; closing it is the script's signal to finish.
    private var input: Int32
    let output: StreamReader

    init(_ script: String, arguments: [String], on reactor: Reactor) async throws {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { throw TestFailure("pipe: errno \(errno)") }
        // Only the dup2'd copies reach the child (other tests may spawn meanwhile).
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        let argv = ["python3", "-c", script] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, "python3", &actions, nil, &cArguments, environ)
        close(toChild[0])
        close(fromChild[1])
        guard status == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw TestFailure("posix_spawnp python3: errno \(status)")
        }
        self.pid = pid
        input = toChild[1]
        output = StreamReader(try await reactor.adopt(fromChild[0]))
    }

    /// Reads the script's next line and checks it is `expected`.
    func expect(_ expected: String) async throws {
        let line = String(decoding: try await output.readLine(), as: UTF8.self)
        guard line == expected + "\n" else {
            throw TestFailure("the python client said \(line.debugDescription), not \(expected)")
        }
    }

    func closeInput() {
        if input >= 0 { close(input) }
        input = -1
    }

    /// Ends the script (if it has not ended), reaps it, and closes our end of its output.
    func finish() async {
        closeInput()
        kill(pid, SIGKILL)
        output.handle.close()
        let pid = self.pid
        _ = try? await output.handle.reactor.runBlocking {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}
