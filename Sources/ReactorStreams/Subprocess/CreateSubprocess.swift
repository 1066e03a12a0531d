import CReactor
import Glibc
import Reactor

/// Starts `executable` (looked up in PATH when it has no slash) with `arguments`, as asyncio's
/// `create_subprocess_exec` does. `environment` replaces this process's when given;
/// `workingDirectory` is where the child starts. Each standard stream is a ``SubprocessStream``:
/// `.pipe` gives the returned ``Subprocess`` a `stdin` writer or `stdout` / `stderr` reader on
/// `reactor` (by default the one whose loop runs on this thread).
///
/// The child gets its three streams and nothing else: every fd the reactor opens is
/// close-on-exec. It starts with no signal blocked, and SIGPIPE (which the reactor ignores) and
/// SIGXFSZ at their defaults, as Python's `restore_signals` does. A missing
/// or not executable file throws `SystemCallError` with ENOENT or EACCES, and leaves nothing
/// open behind.
public func createSubprocessExec(
    _ executable: String, _ arguments: [String] = [],
    environment: [String: String]? = nil, workingDirectory: String? = nil,
    stdin: SubprocessStream = .inherit, stdout: SubprocessStream = .inherit, stderr: SubprocessStream = .inherit,
    on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> Subprocess {
    let reactor = try Reactor.resolve(reactor, for: "createSubprocessExec")
    if stdin == .stdout || stdout == .stdout {
        throw ReactorError(.invalidArgument, "createSubprocessExec: only stderr can go to .stdout")
    }
    var childStreams = ChildStreams()
    defer { childStreams.closeChildEnds() }
    do {
        try childStreams.prepare(stdin, for: 0)
        try childStreams.prepare(stdout, for: 1)
        try childStreams.prepare(stderr, for: 2)
    } catch {
        childStreams.closeParentEnds()
        throw error
    }
    let pid = try withCStrings([executable] + arguments) { argv in
        try withCStrings(environment.map { $0.map { "\($0.key)=\($0.value)" } }) { envp in
            let pid = workingDirectory.withOptionalCString { cwd in
                cr_spawn(executable, argv, envp, cwd, childStreams.childFDs)
            }
            guard pid > 0 else {
                childStreams.closeParentEnds()
                throw SystemCallError(operation: "posix_spawn", errno: -pid, detail: executable)
            }
            return pid
        }
    }
    // Without a pidfd (refused, or forced off for a test), the fallback reaper watches it.
    let pidfdNumber = Subprocess.pidfdDisabledForTesting.load(ordering: .relaxed) ? -ENOSYS : cr_pidfd_open(pid)
    childStreams.closeChildEnds()
    // adopt closes the fd it fails on; the ends not reached yet are closed here.
    var handles: [IOHandle?] = []
    var pidfd: IOHandle?
    do {
        if pidfdNumber >= 0 { pidfd = try await reactor.adopt(pidfdNumber, file: file, line: line) }
        for target in 0..<3 {
            let end = childStreams.parentEnds[target]
            childStreams.parentEnds[target] = nil
            if let end { handles.append(try await reactor.adopt(end, file: file, line: line)) } else { handles.append(nil) }
        }
    } catch {
        childStreams.closeParentEnds()
        // The child runs: it is killed and reaped rather than left behind.
        _ = cr_kill(pid, SIGKILL)
        FallbackReaper.shared.watch(pid, nil)
        throw error
    }
    return Subprocess(
        pid: pid, reactor: reactor, pidfd: pidfd,
        stdin: handles[0].map { StreamWriter($0) },
        stdout: handles[1].map { StreamReader($0) },
        stderr: handles[2].map { StreamReader($0) })
}

/// `createSubprocessExec("/bin/sh", ["-c", command])` (asyncio's `create_subprocess_shell`).
public func createSubprocessShell(
    _ command: String, environment: [String: String]? = nil, workingDirectory: String? = nil,
    stdin: SubprocessStream = .inherit, stdout: SubprocessStream = .inherit, stderr: SubprocessStream = .inherit,
    on reactor: Reactor? = nil, file: StaticString = #fileID, line: UInt = #line
) async throws -> Subprocess {
    try await createSubprocessExec(
        "/bin/sh", ["-c", command], environment: environment, workingDirectory: workingDirectory,
        stdin: stdin, stdout: stdout, stderr: stderr, on: reactor, file: file, line: line)
}

/// The fds a child's three streams come from, and the parent's ends of its pipes.
private struct ChildStreams {
    var childFDs: [Int32] = [-1, -1, -1]
    var parentEnds: [Int32?] = [nil, nil, nil]
    /// The child's fds that are ours to close once it started (pipe ends, /dev/null).
    private var owned: [Int32] = []

    mutating func prepare(_ stream: SubprocessStream, for target: Int) throws {
        switch stream {
        case .inherit: break
        case .fileDescriptor(let fd): childFDs[target] = fd
        case .stdout: childFDs[target] = childFDs[1] >= 0 ? childFDs[1] : 1
        case .devNull:
            let fd = cr_open_dev_null()
            guard fd >= 0 else { throw SystemCallError(operation: "open", errno: -fd, detail: "/dev/null") }
            own(fd, for: target)
        case .pipe:
            var fds: [Int32] = [-1, -1]
            let result = cr_pipe_for_child(&fds)
            guard result == 0 else { throw SystemCallError(operation: "pipe2", errno: -result) }
            // The child reads stdin's pipe and writes the others.
            let (child, parent) = target == 0 ? (fds[0], fds[1]) : (fds[1], fds[0])
            own(child, for: target)
            parentEnds[target] = parent
        }
    }

    private mutating func own(_ fd: Int32, for target: Int) {
        childFDs[target] = fd
        owned.append(fd)
    }

    mutating func closeChildEnds() {
        for fd in owned { _ = cr_close(fd) }
        owned = []
    }

    mutating func closeParentEnds() {
        for fd in parentEnds.compactMap({ $0 }) { _ = cr_close(fd) }
        parentEnds = [nil, nil, nil]
    }
}

/// Calls `body` with a NULL-terminated array of C strings (NULL itself for nil).
private func withCStrings<T>(_ strings: [String]?, _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>?) throws -> T) rethrows -> T {
    guard let strings else { return try body(nil) }
    let pointers = strings.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return try pointers.withUnsafeBufferPointer { try body($0.baseAddress) }
}

extension Optional<String> {
    fileprivate func withOptionalCString<T>(_ body: (UnsafePointer<CChar>?) throws -> T) rethrows -> T {
        guard let self else { return try body(nil) }
        return try self.withCString(body)
    }
}
