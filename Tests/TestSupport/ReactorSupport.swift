import Dispatch
import Foundation
import Glibc
import Logging
import Synchronization
import XCTest

import Reactor

/// The number of open descriptors of the kinds a reactor opens: sockets, epoll instances,
/// eventfds, signalfds and pidfds. (Pipes are left out: sanitizers open some to their symbolizer at any time.)
package func openFileDescriptorCount() -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return entries.filter { entry in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)") else {
            return false
        }
        return target.hasPrefix("socket:")
            || ["anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[signalfd]", "anon_inode:[pidfd]"].contains(target)
    }.count
}

/// Kills the process if a test hangs, so that a bug that starves the loop (and with it every
/// timeout inside the test) fails the run instead of stalling CI. A plain thread waiting on a
/// semaphore: it opens no file descriptors, which would upset the fd counts.
package final class Watchdog {
    private let finished = DispatchSemaphore(value: 0)

    package init(seconds: Int, _ name: String) {
        let finished = self.finished
        Thread.detachNewThread {
            if finished.wait(timeout: .now() + .seconds(seconds)) == .timedOut {
                fatalError("watchdog: \(name) did not finish within \(seconds) s")
            }
        }
    }

    package func cancel() { finished.signal() }
}

extension XCTestCase {
    /// Runs `body` on a fresh reactor (Reactor.run on this thread), bounded by `timeout`, and
    /// checks that every fd the reactor opened was closed once it shut down.
    package func runReactor<T: Sendable>(
        timeout: Duration = .seconds(20),
        configuration: Reactor.Configuration = Reactor.Configuration(),
        file: StaticString = #filePath, line: UInt = #line,
        _ body: @escaping @Sendable (Reactor) async throws -> T
    ) throws -> T {
        let watchdog = Watchdog(seconds: Int(timeout.components.seconds) + 40, name)
        defer { watchdog.cancel() }
        let before = openFileDescriptorCount()
        let result = try Reactor.run(configuration: configuration) { reactor in
            try await reactor.withTimeout(timeout) { try await body(reactor) }
        }
        // At most as many as before: a leak raises the count (something else, such as
        // Foundation's Process reaping a child, may lower it).
        XCTAssertLessThanOrEqual(openFileDescriptorCount(), before, "file descriptors leaked", file: file, line: line)
        return result
    }
}

/// A listener on 127.0.0.1 with a kernel-chosen port.
package func loopbackListener(_ reactor: Reactor, backlog: Int32 = 511) async throws -> (Socket, SocketAddress) {
    let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0), backlog: backlog)
    return (listener, try listener.localAddress())
}

/// A connected TCP pair over loopback: (client side, server side).
package func connectedPair(_ reactor: Reactor) async throws -> (Socket, Socket) {
    let (listener, address) = try await loopbackListener(reactor)
    defer { listener.close() }
    let client = try await reactor.connect(to: address)
    let (server, _) = try await reactor.sockAccept(listener)
    return (client, server)
}

/// Waits, yielding the loop, until `condition` holds; fails after `timeout`. For states with
/// no event of their own to await, such as "that task is now parked on the socket".
package func waitUntil(
    _ reactor: Reactor, timeout: Duration = .seconds(5), _ what: String,
    _ condition: () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now > deadline { throw TestFailure("timed out waiting until \(what)") }
        await Task.yield()
    }
}


package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Deterministic pseudo-random bytes and sizes (SplitMix64), so a failure can be replayed.
package struct SeededGenerator: RandomNumberGenerator {
    package var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Eight bytes per step of the generator, copied in place: a test's megabytes stay cheap
/// in a debug build under ThreadSanitizer, where a call per byte took tens of seconds.
package func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededGenerator(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < count {
            let word = generator.next()
            let length = min(8, count - offset)
            withUnsafeBytes(of: word) { buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: length) }
            offset += length
        }
    }
    return bytes
}

/// Reads from `socket` until `count` bytes arrived or EOF.
package func receive(_ reactor: Reactor, _ socket: Socket, count: Int) async throws -> [UInt8] {
    var received: [UInt8] = []
    while received.count < count {
        let chunk = try await reactor.sockRecv(socket, maxBytes: count - received.count)
        if chunk.isEmpty { break }
        received += chunk
    }
    return received
}

/// Echoes everything it receives on `socket` until EOF, then closes it.
package func echo(_ reactor: Reactor, _ socket: Socket, chunkSize: Int = 65536) async throws {
    defer { socket.close() }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 1)
    defer { buffer.deallocate() }
    while true {
        let count = try await reactor.sockRecv(socket, into: buffer)
        if count == 0 { return }
        try await reactor.sockSendall(socket, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
    }
}

/// Log messages captured from a reactor's logger.
package final class LogCapture: Sendable {
    package init() {}

    package let messages = LockedValue<[(Logger.Level, String)]>([])

    package var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(capture: self) }
    }

    package func contains(_ level: Logger.Level, _ text: String) -> Bool {
        messages.withLock { $0.contains { $0.0 == level && $0.1.contains(text) } }
    }

    fileprivate func append(_ level: Logger.Level, _ message: String) {
        messages.withLock { $0.append((level, message)) }
    }

    private struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.append(event.level, "\(event.message)")
        }
    }
}

/// A value shared between tasks of a test.
package final class Shared<Value: Sendable>: Sendable {
    private let mutex: LockedValue<Value>
    package init(_ value: Value) { mutex = LockedValue(value) }
    package var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}

/// A count that one task raises and others read, from any thread.
package final class AtomicCount: Sendable {
    package init() {}

    private let count = Atomic<Int>(0)
    package var value: Int { count.load(ordering: .relaxed) }
    package func increment() { count.add(1, ordering: .relaxed) }
}

/// Looks at the loop thread's scheduler state over and over, from a plain thread, while a body
/// runs on the loop: the share of looks that found it asleep (`S`: blocked in epoll_wait). A
/// loop that spins is found running instead. What happened, not how long it took. Made on the
/// loop thread, before anything that may leave no descriptor to spare.
package final class LoopSleepProbe {
    private let stat: Int32

    package init(_ reactor: Reactor) throws {
        precondition(reactor.isOnLoopThread, "a LoopSleepProbe is made on the loop thread")
        // "/proc/thread-self" is "PID/task/TID" for the thread that reads it.
        let loopThread = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")
        stat = open("/proc/\(loopThread)/stat", O_RDONLY | O_CLOEXEC)
        guard stat >= 0 else { throw TestFailure("cannot open the loop thread's stat") }
    }

    deinit { close(stat) }

    package func asleepShare(during body: () async throws -> Void) async throws -> Double {
        let done = Shared(false)
        let looks = LockedValue((asleep: 0, all: 0))
        let finished = DispatchSemaphore(value: 0)
        let stat = self.stat
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 512)
            while !done.value {
                let count = buffer.withUnsafeMutableBytes { pread(stat, $0.baseAddress, $0.count, 0) }
                // "PID (name) S ...": the state follows the last ')'.
                guard count > 0, let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")), close + 2 < count else { continue }
                let asleep = buffer[close + 2] == UInt8(ascii: "S")
                looks.withLock { looks in
                    looks.all += 1
                    if asleep { looks.asleep += 1 }
                }
            }
            finished.signal()
        }
        defer {
            done.value = true
            finished.wait()
        }
        try await body()
        return looks.withLock { $0.all == 0 ? 0 : Double($0.asleep) / Double($0.all) }
    }
}

/// Makes `call` twice from a plain thread and blocks the calling (loop) thread until both were
/// made, so that a call which runs in the loop's next turn has not run yet when this returns.
/// Returns whether each call returned without throwing.
package func callTwiceFromAPlainThread(_ call: @escaping @Sendable () throws -> Void) -> [Bool] {
    let results = Shared<[Bool]>([])
    let bothMade = DispatchSemaphore(value: 0)
    let thread = Thread {
        results.value.append((try? call()) != nil)
        results.value.append((try? call()) != nil)
        bothMade.signal()
    }
    thread.start()
    XCTAssertEqual(bothMade.wait(timeout: .now() + 20), .success)
    return results.value
}

extension Reactor {
    /// Starts `body` as a task on this reactor (its loop thread).
    @discardableResult
    package func spawn<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Task<T, any Error> {
        Task(executorPreference: self) { try await body() }
    }
}

/// Awaits `task` and asserts that it threw `E`.
package func assertThrows<E: Error, T>(
    _: E.Type, file: StaticString = #filePath, line: UInt = #line, _ task: Task<T, any Error>
) async {
    do {
        _ = try await task.value
        XCTFail("the task returned; expected \(E.self)", file: file, line: line)
    } catch is E {
    } catch {
        XCTFail("\(error); expected \(E.self)", file: file, line: line)
    }
}
