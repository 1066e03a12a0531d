import CReactor
import Glibc
import Reactor
import Synchronization

/// A child process started by ``createSubprocessExec(_:_:environment:workingDirectory:stdin:stdout:stderr:on:file:line:)``
/// (asyncio's `asyncio.subprocess.Process`).
///
/// Its exit is watched through a pidfd registered with the reactor: no SIGCHLD handler, no
/// thread per child. A small task on the reactor waits for the pidfd and reaps the child as
/// soon as it exits, whether or not anyone waits and even if this value is dropped, so no
/// zombie is left behind (debug mode logs a value dropped while its child runs). Where
/// `pidfd_open` is missing (Linux before 5.3, or a sandbox that refuses it), and for the
/// children still running when the reactor shuts down, one blocking-pool job reaps them all
/// instead, looking every few milliseconds.
///
/// Cancelling a task that waits in `wait()` or `communicate(input:)` leaves the child
/// running and its pipes usable, as in asyncio; ``waitOrKill(file:line:)`` kills it instead.
public final class Subprocess: Sendable {
    /// The child's process id.
    public let pid: Int32
    public let reactor: Reactor
    /// The child's stdin, when it is a `.pipe`.
    public let stdin: StreamWriter?
    /// The child's stdout, when it is a `.pipe`.
    public let stdout: StreamReader?
    /// The child's stderr, when it is a `.pipe`.
    public let stderr: StreamReader?
    /// A test hook, not API (package access): while set, children get no pidfd, as on a
    /// kernel without pidfd_open, so the tests can reach the fallback reaper.
    package static let pidfdDisabledForTesting = Atomic<Bool>(false)

    /// How many children this process started and has not reaped yet, on every reactor.
    public static var runningCount: Int { running.load(ordering: .relaxed) }
    private static let running = Atomic<Int>(0)

    /// nil where the fallback reaper watches the child.
    private let pidfd: IOHandle?
    private let exit: Future<Int32>

    init(pid: Int32, reactor: Reactor, pidfd: IOHandle?, stdin: StreamWriter?, stdout: StreamReader?, stderr: StreamReader?) {
        self.pid = pid
        self.reactor = reactor
        self.pidfd = pidfd
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        exit = Future(on: reactor)
        Self.running.add(1, ordering: .relaxed)
        exit.addDoneCallback { _ in Self.running.subtract(1, ordering: .relaxed) }
        if let pidfd {
            Task(executorPreference: reactor) { [pid, exit] in await Self.reap(pid, pidfd, into: exit) }
        } else {
            FallbackReaper.shared.watch(pid, exit)
        }
    }

    deinit {
        if reactor.isDebugMode && returnCode == nil {
            reactor.logger.warning("Subprocess(pid: \(pid)) was dropped while the child still runs: it is reaped when it exits")
        }
    }

    /// Waits for the pidfd and reaps the child, then closes the pidfd. When the reactor shuts
    /// down first (which closes the pidfd), the fallback reaper takes the child over.
    private static func reap(_ pid: Int32, _ pidfd: IOHandle, into exit: Future<Int32>) async {
        defer { pidfd.close() }
        while true {
            var status: Int32 = 0
            let reaped = cr_pidfd_reap(pidfd.fileDescriptor, &status)
            if reaped == 1 { return try! exit.setResult(status) }
            if reaped < 0 { return try! exit.setError(SystemCallError(operation: "waitid", errno: -reaped, detail: "\(pidfd)")) }
            pidfd.forgetReadiness(.read)
            do {
                try await pidfd.waitUntilReadable()
            } catch {
                return FallbackReaper.shared.watch(pid, exit)
            }
        }
    }

    /// The exit status once the child has exited and was reaped: its exit code, or minus the
    /// signal that killed it (asyncio's `returncode`); nil while it runs.
    public var returnCode: Int32? { try? exit.result() }

    /// Waits until the child exits and returns its status (see `returnCode`). Cancelling the
    /// waiting task leaves the child running.
    @discardableResult
    public nonisolated(nonsending) func wait(file: StaticString = #fileID, line: UInt = #line) async throws -> Int32 {
        try await exit.value(file: file, line: line)
    }

    /// `wait()`, but a cancelled wait kills the child (SIGKILL) and waits for it to go, then
    /// throws `CancellationError`.
    @discardableResult
    public nonisolated(nonsending) func waitOrKill(file: StaticString = #fileID, line: UInt = #line) async throws -> Int32 {
        do {
            return try await wait(file: file, line: line)
        } catch is CancellationError {
            try? kill()
            _ = try await Task { [exit] in try await exit.value() }.value
            throw CancellationError()
        }
    }

    /// Sends `signal` to the child, through its pidfd (so never to a process that reused its
    /// pid). Throws `SystemCallError` (ESRCH) once it has exited. It runs on the loop thread, where
    /// the reaper closes the pidfd: called elsewhere, it waits for the loop from a thread that
    /// runs no reactor, and is refused (`ReactorError`, `.wrongReactor`) from another
    /// reactor's loop thread. Without a pidfd, it is kill(2), sent only while the child is not
    /// reaped, from any thread.
    public func sendSignal(_ signal: Int32) throws {
        guard let pidfd else { return try FallbackReaper.shared.sendSignal(signal, to: pid) }
        try reactor.runOnLoopAndWait("sendSignal") { [self] in
            if returnCode != nil { throw SystemCallError(operation: "pidfd_send_signal", errno: ESRCH, detail: "pid \(pid)") }
            let result = cr_pidfd_send_signal(pidfd.fileDescriptor, signal)
            if result < 0 { throw SystemCallError(operation: "pidfd_send_signal", errno: -result, detail: "pid \(pid)") }
        }
    }

    /// Sends SIGTERM.
    public func terminate() throws { try sendSignal(SIGTERM) }

    /// Sends SIGKILL.
    public func kill() throws { try sendSignal(SIGKILL) }

    /// Writes `input` to the child's stdin and closes it, reads its stdout and stderr to EOF,
    /// all at once, then waits for it to exit (asyncio's `communicate`). The streams that are
    /// not pipes give empty output. A child that writes much to both while it reads much
    /// cannot deadlock: nothing waits for one stream before reading the other. A child that
    /// exits or closes its stdin before taking all of `input` is no error (EPIPE and
    /// ECONNRESET are ignored, as asyncio does): its output and status are returned.
    public nonisolated(nonsending) func communicate(
        input: [UInt8]? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> (stdout: [UInt8], stderr: [UInt8]) {
        let (stdin, stdout, stderr) = (self.stdin, self.stdout, self.stderr)
        async let written: Void = {
            guard let stdin else { return }
            if let input, !input.isEmpty {
                do {
                    try await stdin.writeAll(input)
                } catch let error as ReactorError where [EPIPE, ECONNRESET].contains(error.cause?.errno) {
                    // The child stopped reading: what it wrote and its status still count.
                }
            }
            stdin.close()
            await stdin.waitClosed()
        }()
        async let out = stdout?.read() ?? []
        async let err = stderr?.read() ?? []
        let result = try await (stdout: out, stderr: err)
        try await written
        try await wait(file: file, line: line)
        return result
    }
}
