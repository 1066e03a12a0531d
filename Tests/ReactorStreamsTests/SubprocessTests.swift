import Foundation
import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// Child processes over posix_spawn, pipes and a pidfd (asyncio's create_subprocess_exec),
/// checked against real programs: sh, cat, python3.
final class SubprocessTests: XCTestCase {
    /// Pipes this process has open (the subprocess code opens them; the shared fd count leaves
    /// pipes out, as sanitizers open some).
    private static func openPipeCount() -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)"))?.hasPrefix("pipe:") == true
        }.count
    }

    /// True while `pid` exists, as a zombie too.
    private static func exists(_ pid: Int32) -> Bool {
        FileManager.default.fileExists(atPath: "/proc/\(pid)/status")
    }

    func testEchoPrintsHelloAndExitsZero() throws {
        try runReactor { reactor in
            let child = try await createSubprocessExec("echo", ["hello"], stdout: .pipe)
            let output = try await child.stdout!.read()
            XCTAssertEqual(String(decoding: output, as: UTF8.self), "hello\n")
            let status = try await child.wait()
            XCTAssertEqual(status, 0)
            XCTAssertEqual(child.returnCode, 0)
        }
    }

    func testTheExitCodeAndTheSignalThatKilledIt() throws {
        try runReactor { reactor in
            let exits = try await createSubprocessShell("exit 3")
            let code = try await exits.wait()
            XCTAssertEqual(code, 3)
            let sleeper = try await createSubprocessExec("sleep", ["100"])
            XCTAssertNil(sleeper.returnCode)
            try sleeper.kill()
            let killed = try await sleeper.wait()
            XCTAssertEqual(killed, -SIGKILL)
            XCTAssertThrowsError(try sleeper.terminate()) { XCTAssertEqual(($0 as? SystemCallError)?.errno, ESRCH) }
        }
    }

    func testAMissingOrNotExecutableFileIsAClearErrorAndLeavesNothingOpen() throws {
        let pipesBefore = Self.openPipeCount()
        try runReactor { reactor in
            do {
                _ = try await createSubprocessExec("/nonexistent/program", stdin: .pipe, stdout: .pipe, stderr: .pipe)
                XCTFail("a missing program started")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, ENOENT)
            }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-executable-\(getpid())").path
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644]))
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try await createSubprocessExec(path, stdout: .pipe)
                XCTFail("a file without the execute bit started")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EACCES)
            }
        }
        XCTAssertEqual(Self.openPipeCount(), pipesBefore, "a failed start left pipes open")
    }

    func testCommunicateFeedsCatSixtyFourMebibytesAndGetsThemBack() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            // 1,024 different blocks of 64 KiB: random bytes, each block stamped with its index.
            let block = randomBytes(64 << 10, seed: 7)
            var input: [UInt8] = []
            input.reserveCapacity(64 << 20)
            for index in 0..<1024 {
                input += block
                withUnsafeBytes(of: UInt64(index)) { stamp in
                    input.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: index << 16).copyMemory(from: stamp.baseAddress!, byteCount: 8) }
                }
            }
            let child = try await createSubprocessExec("cat", stdin: .pipe, stdout: .pipe, stderr: .devNull)
            let (output, errors) = try await child.communicate(input: input)
            XCTAssertEqual(output.count, input.count)
            let same = output.withUnsafeBytes { a in input.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, b.count) == 0 } }
            XCTAssertTrue(same, "cat's output differs from its input")
            XCTAssertEqual(errors, [])
            XCTAssertEqual(child.returnCode, 0)
        }
    }

    func testCommunicateReturnsTheOutputOfAChildThatStopsReadingItsStdin() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            // head takes one byte of the 4 MiB and exits: the rest meets EPIPE, which is no
            // error of the child's (asyncio ignores BrokenPipe and ConnectionReset here).
            let child = try await createSubprocessExec("head", ["-c1"], stdin: .pipe, stdout: .pipe, stderr: .pipe)
            let (output, errors) = try await child.communicate(input: [UInt8](repeating: UInt8(ascii: "x"), count: 4 << 20))
            XCTAssertEqual(output, [UInt8(ascii: "x")])
            XCTAssertEqual(errors, [])
            XCTAssertEqual(child.returnCode, 0)
            // A child that never reads its stdin, and says so on stderr.
            let deaf = try await createSubprocessShell("exec 0<&-; echo gone >&2; exit 4", stdin: .pipe, stdout: .pipe, stderr: .pipe)
            let (nothing, said) = try await deaf.communicate(input: [UInt8](repeating: 1, count: 1 << 20))
            XCTAssertEqual(nothing, [])
            XCTAssertEqual(String(decoding: said, as: UTF8.self), "gone\n")
            XCTAssertEqual(deaf.returnCode, 4)
        }
    }

    func testAChildThatFillsStdoutAndStderrBeforeItReadsStdinDoesNotDeadlock() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            // 64 MiB to each output first, then all of stdin: a parent that wrote stdin
            // before reading would wait forever on pipes that are full both ways.
            let script = """
                import sys
                chunk = b"o" * 65536
                for _ in range(1024):
                    sys.stdout.buffer.write(chunk)
                    sys.stderr.buffer.write(chunk)
                sys.stdout.flush()
                sys.stderr.flush()
                total = 0
                while True:
                    data = sys.stdin.buffer.read(65536)
                    if not data:
                        break
                    total += len(data)
                sys.exit(0 if total == 64 << 20 else 1)
                """
            let child = try await createSubprocessExec("python3", ["-c", script], stdin: .pipe, stdout: .pipe, stderr: .pipe)
            let (output, errors) = try await child.communicate(input: [UInt8](repeating: 105, count: 64 << 20))
            XCTAssertEqual(output.count, 64 << 20)
            XCTAssertEqual(errors.count, 64 << 20)
            XCTAssertEqual(child.returnCode, 0, "the child did not read all of stdin")
        }
    }

    func testLinesArriveAsTheChildPrintsThem() throws {
        try runReactor { reactor in
            // The child prints a line, then waits for ours: each line is read while it runs.
            let script = "import sys\nfor i in range(3):\n    print('line', i, flush=True)\n    sys.stdin.readline()\n"
            let child = try await createSubprocessExec("python3", ["-c", script], stdin: .pipe, stdout: .pipe)
            for index in 0..<3 {
                let line = try await child.stdout!.readLine()
                XCTAssertEqual(String(decoding: line, as: UTF8.self), "line \(index)\n")
                XCTAssertNil(child.returnCode, "the child had exited before its line was read")
                try child.stdin!.write(Array("go\n".utf8))
                try await child.stdin!.drain()
            }
            let status = try await child.wait()
            XCTAssertEqual(status, 0)
        }
    }

    func testStderrCanGoToStdout() throws {
        try runReactor { reactor in
            let child = try await createSubprocessShell("echo out; echo err >&2", stdout: .pipe, stderr: .stdout)
            let (output, errors) = try await child.communicate()
            XCTAssertEqual(String(decoding: output, as: UTF8.self), "out\nerr\n")
            XCTAssertEqual(errors, [])
        }
    }

    /// The threads of this process.
    private static func threadCount() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).count
    }

    func testTwoHundredChildrenAtOnceAreAllReapedWithNothingLeftOpen() throws {
        let pipesBefore = Self.openPipeCount()
        let threadsBefore = Self.threadCount()
        try runReactor(timeout: .seconds(60)) { reactor in
            let children = try await withThrowingTaskGroup(of: (Int32, Int32).self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let child = try await createSubprocessShell("exit \(index % 7)", stdout: .pipe)
                        _ = try await child.stdout!.read()
                        return (child.pid, try await child.wait())
                    }
                }
                var children: [(Int32, Int32)] = []
                for try await child in group { children.append(child) }
                return children
            }
            XCTAssertEqual(children.count, 200)
            // No thread per child: at most a few more than before, whatever the runtime started.
            XCTAssertLessThan(Self.threadCount(), threadsBefore + 8, "threads were started per child")
            for (pid, status) in children {
                XCTAssertFalse(Self.exists(pid), "pid \(pid) was not reaped")
                XCTAssertTrue((0..<7).contains(status))
            }
        }
        XCTAssertLessThanOrEqual(Self.openPipeCount(), pipesBefore, "pipes leaked")
    }

    func testACancelledWaitLeavesTheChildRunningAndADroppedChildIsStillReaped() throws {
        try runReactor { reactor in
            let sleeper = try await createSubprocessExec("sleep", ["100"])
            let waiter = reactor.spawn { try await sleeper.wait() }
            await Task.yield()
            waiter.cancel()
            await assertThrows(CancellationError.self, waiter)
            XCTAssertNil(sleeper.returnCode)
            XCTAssertNoThrow(try sleeper.sendSignal(0), "the child is gone after a cancelled wait")
            let killer = reactor.spawn { try await sleeper.waitOrKill() }
            killer.cancel()
            await assertThrows(CancellationError.self, killer)
            XCTAssertEqual(sleeper.returnCode, -SIGKILL)

            let pid = try await createSubprocessExec("true").pid
            try await waitUntil(reactor, timeout: .seconds(20), "the dropped child is reaped") { !Self.exists(pid) }
        }
    }

    func testWithoutPidfdOnePoolJobReapsEveryChild() throws {
        Subprocess.pidfdDisabledForTesting.store(true, ordering: .relaxed)
        defer { Subprocess.pidfdDisabledForTesting.store(false, ordering: .relaxed) }
        let threadsBefore = Self.threadCount()
        try runReactor(timeout: .seconds(60)) { reactor in
            let echo = try await createSubprocessExec("echo", ["hello"], stdout: .pipe)
            let (output, _) = try await echo.communicate()
            XCTAssertEqual(String(decoding: output, as: UTF8.self), "hello\n")
            XCTAssertEqual(echo.returnCode, 0)
            let sleeper = try await createSubprocessExec("sleep", ["100"])
            XCTAssertNil(sleeper.returnCode)
            try sleeper.kill()
            let killed = try await sleeper.wait()
            XCTAssertEqual(killed, -SIGKILL)
            XCTAssertThrowsError(try sleeper.kill()) { XCTAssertEqual(($0 as? SystemCallError)?.errno, ESRCH) }
            let statuses = try await withThrowingTaskGroup(of: (Int32, Int32).self) { group in
                for index in 0..<50 {
                    group.addTask { (Int32(index % 7), try await createSubprocessShell("exit \(index % 7)").wait()) }
                }
                var statuses: [(Int32, Int32)] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            XCTAssertEqual(statuses.count, 50)
            for (expected, status) in statuses { XCTAssertEqual(status, expected) }
            XCTAssertLessThan(Self.threadCount(), threadsBefore + 8, "threads were started per child")
        }
    }

    func testAChildStillRunningWhenTheReactorShutsDownIsReapedWhenItExits() async throws {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let reactor = try Reactor.start()
        // The child reads its stdin until EOF, which comes when the shutdown closes the pipe.
        let child = try await createSubprocessExec("cat", stdin: .pipe, on: reactor)
        await reactor.shutdown()
        // Its status is set once it was reaped.
        let deadline = ContinuousClock.now + .seconds(20)
        while child.returnCode == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(child.returnCode, 0)
        XCTAssertFalse(Self.exists(child.pid), "the child was left a zombie")
    }

    /// The README's example, as it is there (`print` collects the lines).
    func testTheReadmeExample() throws {
        try runReactor { reactor in
            var printed: [String] = []
            func print(_ line: String) { printed.append(line) }

            let child = try await createSubprocessExec("seq", ["3"], stdout: .pipe)   // asyncio.create_subprocess_exec
            for try await line in child.stdout!.lines { print(line) }               // as the child prints
            let status = try await child.wait()                                      // 0, or -signal
            let (out, err) = try await createSubprocessShell("sort", stdin: .pipe, stdout: .pipe, stderr: .pipe)
                .communicate(input: Array("b\na\n".utf8))                           // feeds and reads at once

            XCTAssertEqual(printed, ["1", "2", "3"])
            XCTAssertEqual(status, 0)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "a\nb\n")
            XCTAssertEqual(err, [])
        }
    }

    func testAChildGetsNoneOfTheReactorsFdsAndSIGPIPEAtItsDefault() throws {
        try runReactor { reactor in
            // Fds of the reactor's own: its epoll and eventfd, a listening socket, a pipe.
            let (listener, _) = try await loopbackListener(reactor)
            defer { listener.close() }
            let (pipeRead, pipeWrite) = try await reactor.makePipe()
            defer { pipeRead.close(); pipeWrite.close() }
            let listing = try await createSubprocessShell("ls /proc/self/fd; cat /proc/self/status", stdout: .pipe)
            let (output, _) = try await listing.communicate()
            let text = String(decoding: output, as: UTF8.self)
            // The runner may hand this process fds of its own without close-on-exec; ours must
            // not reach the child.
            let childFDs = Set(text.split(separator: "\n").compactMap { Int32($0) })
            for fd in [listener.fileDescriptor, pipeRead.fileDescriptor, pipeWrite.fileDescriptor] {
                XCTAssertFalse(childFDs.contains(fd), "the child got fd \(fd) of the reactor's: \(childFDs.sorted())")
            }
            // SigIgn and SigBlk are hex masks; SIGPIPE is bit 13 (counting from 1).
            func mask(_ name: String) -> UInt64? {
                text.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                    .flatMap { UInt64($0.split(separator: "\t").last!.trimmingCharacters(in: .whitespaces), radix: 16) }
            }
            let ignored = try XCTUnwrap(mask("SigIgn"))
            XCTAssertEqual(ignored & (1 << (UInt64(SIGPIPE) - 1)), 0, "the child inherited SIGPIPE ignored")
            XCTAssertEqual(mask("SigBlk"), 0, "the child started with signals blocked")
        }
    }

    func testDebugModeReportsAChildDroppedWhileItRunsAndItIsStillReaped() throws {
        let logs = LogCapture()
        let configuration = Reactor.Configuration(logger: logs.logger, debugMode: true)
        try runReactor(configuration: configuration) { reactor in
            let pid = try await createSubprocessExec("sleep", ["100"]).pid
            try await waitUntil(reactor, "the drop is reported") { logs.contains(.warning, "Subprocess(pid: \(pid)) was dropped") }
            XCTAssertTrue(Self.exists(pid))
            XCTAssertEqual(Glibc.kill(pid, SIGKILL), 0)
            try await waitUntil(reactor, timeout: .seconds(20), "the dropped child is reaped") { !Self.exists(pid) }
        }
    }
}
