import Dispatch
import Foundation
import Glibc
import Synchronization
import TestSupport
import XCTest

import Reactor
import ReactorStreams

/// A group of reactors serving one port: connections spread over the reactors, each served
/// on the one that accepted it; one Server value closes, drains and counts them all.
final class GroupServerTests: XCTestCase {
    /// Runs `body` with a group of `count` reactors, bounded by a watchdog, and checks that
    /// every fd the group opened is closed once it has shut down.
    private func runGroup<T: Sendable>(count: Int, _ body: @escaping @Sendable (ReactorGroup) async throws -> T) throws -> T {
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let before = openFileDescriptorCount()
        let result = try ReactorGroup.run(count: count) { group in
            try await group.reactors[0].withTimeout(.seconds(30)) { try await body(group) }
        }
        XCTAssertLessThanOrEqual(openFileDescriptorCount(), before, "file descriptors leaked")
        return result
    }

    func testFourReactorsServeFourHundredClientsByteExactOnMoreThanOneReactor() throws {
        let (mismatches, reactorsUsed, wrongThread) = try runGroup(count: 4) { group in
            let servedOn = LockedValue<[ObjectIdentifier: Int]>([:])
            let wrongThread = Atomic<Int>(0)
            let server = try await startServer(host: "127.0.0.1", port: 0, group: group) { reader, writer in
                let reactor = Reactor.current!
                servedOn.withLock { $0[ObjectIdentifier(reactor), default: 0] += 1 }
                while true {
                    let bytes = try await reader.read(65536)
                    if bytes.isEmpty { return }
                    // The handler stays on the reactor that accepted it.
                    if Reactor.current !== reactor { wrongThread.add(1, ordering: .relaxed) }
                    try writer.write(bytes)
                    try await writer.drain()
                }
            }
            XCTAssertEqual(server.reactors.count, 4)
            let port = server.port!
            // The clients run on every reactor of the group too.
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { clients in
                for index in 0..<400 {
                    clients.addTask(executorPreference: group.next()) {
                        try await echoesByteExact(port: port, randomBytes(1000 + index * 37, seed: UInt64(index))) ? 0 : 1
                    }
                }
                return try await clients.reduce(0, +)
            }
            server.close()
            await server.waitClosed()
            XCTAssertEqual(server.connectionCount, 0)
            return (mismatches, servedOn.withLock { $0 }, wrongThread.load(ordering: .relaxed))
        }
        XCTAssertEqual(mismatches, 0)
        XCTAssertEqual(reactorsUsed.values.reduce(0, +), 400)
        XCTAssertGreaterThan(reactorsUsed.count, 1, "every connection went to one reactor")
        XCTAssertEqual(wrongThread, 0)
    }

    func testMaxConnectionsCountsTheConnectionsOfEveryReactor() throws {
        let (mostRunning, reactorsUsed) = try runGroup(count: 2) { group in
            let running = LockedValue(0)
            let mostRunning = LockedValue(0)
            let reactorsUsed = LockedValue(Set<ObjectIdentifier>())
            let server = try await startServer(host: "127.0.0.1", port: 0, group: group, options: ServerOptions(maxConnections: 3)) {
                reader, writer in
                let count = running.withLock { $0 += 1; return $0 }
                mostRunning.withLock { $0 = max($0, count) }
                reactorsUsed.withLock { _ = $0.insert(ObjectIdentifier(Reactor.current!)) }
                defer { running.withLock { $0 -= 1 } }
                try writer.write(try await reader.readLine())
                try await writer.drain()
                // Served until the client closes.
                _ = try await reader.read()
            }
            // Three clients are served and stay connected: the server is full.
            var first: [StreamWriter] = []
            for index in 0..<3 {
                let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!)
                first.append(writer)
                try writer.write(Array("first \(index)\n".utf8))
                _ = try await reader.readLine()
            }
            // Nine more, on both reactors, wait to be served; each closes once answered. The
            // first three closing, on whichever reactor, lets the others in three at a time.
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for index in 0..<9 {
                    clients.addTask(executorPreference: group.next()) {
                        let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!)
                        defer { writer.close() }
                        try writer.write(Array("client \(index)\n".utf8))
                        let line = try await reader.readLine()
                        XCTAssertEqual(String(decoding: line, as: UTF8.self), "client \(index)\n")
                    }
                }
                for writer in first { writer.close() }
                try await clients.waitForAll()
            }
            server.close()
            await server.waitClosed()
            return (mostRunning.withLock { $0 }, reactorsUsed.withLock { $0.count })
        }
        XCTAssertEqual(mostRunning, 3, "three at a time, no more")
        XCTAssertEqual(reactorsUsed, 2, "both reactors served")
    }

    func testGracefulShutdownDrainsTheConnectionsOfEveryReactor() throws {
        let replies = try runGroup(count: 3) { group in
            let go = LockedValue<[Event]>([])
            let server = try await startServer(host: "127.0.0.1", port: 0, group: group) { reader, writer in
                let request = try await reader.readLine()
                // Each handler waits for the shutdown to start before it answers.
                let event = Event(on: Reactor.current!)
                go.withLock { $0.append(event) }
                try await event.wait()
                try writer.write(request)
                try await writer.drain()
            }
            server.gracePeriod = .seconds(20)
            let connections = try await withThrowingTaskGroup(of: (StreamReader, StreamWriter).self) { opening in
                for _ in 0..<60 {
                    opening.addTask(executorPreference: group.next()) {
                        let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!)
                        try writer.write(Array("hello\n".utf8))
                        try await writer.drain()
                        return (reader, writer)
                    }
                }
                return try await opening.reduce(into: []) { $0.append($1) }
            }
            try await waitUntil(group.reactors[0], "every handler waits") { go.withLock { $0.count } == 60 }
            XCTAssertEqual(server.connectionCount, 60)
            let shutdown = Task { await server.shutdownGracefully() }
            try await waitUntil(group.reactors[0], "the server stops serving") { !server.isServing }
            for event in go.withLock({ $0 }) { event.set() }
            await shutdown.value
            XCTAssertEqual(server.connectionCount, 0)
            var replies = 0
            for (reader, writer) in connections {
                if try await reader.read() == Array("hello\n".utf8) { replies += 1 }
                writer.close()
            }
            return replies
        }
        XCTAssertEqual(replies, 60)
    }

    func testAUnixServerOnAGroupServesEveryConnectionFromItsOneSocket() throws {
        let path = NSTemporaryDirectory() + "group-\(getpid()).sock"
        let echoed = try runGroup(count: 2) { group in
            let server = try await startUnixServer(path: path, group: group) { reader, writer in
                try writer.write(try await reader.read())
                try await writer.drain()
            }
            var echoed = 0
            for index in 0..<20 {
                let (reader, writer) = try await openUnixConnection(path: path)
                try writer.write([UInt8(index)])
                try writer.writeEOF()
                if try await reader.read() == [UInt8(index)] { echoed += 1 }
                writer.close()
            }
            server.close()
            await server.waitClosed()
            XCTAssertFalse(FileManager.default.fileExists(atPath: path))
            return echoed
        }
        XCTAssertEqual(echoed, 20)
    }

    func testAQueueFedOnOneReactorIsDrainedOnAnother() throws {
        let (sum, consumerOnItsReactor) = try runGroup(count: 2) { group in
            let (producerReactor, consumerReactor) = (group.reactors[0], group.reactors[1])
            let queue = Queue<Int>(maxSize: 8, on: consumerReactor)
            let consumer = Task(executorPreference: consumerReactor) {
                var sum = 0
                var onItsReactor = true
                for _ in 0..<1000 {
                    sum += try await queue.get()
                    onItsReactor = onItsReactor && Reactor.current === consumerReactor
                }
                return (sum, onItsReactor)
            }
            // Each put from the other reactor's thread hops to the queue's reactor, and waits
            // there while the queue is full.
            try await Task(executorPreference: producerReactor) {
                for value in 1...1000 { try await queue.put(value) }
            }.value
            return try await consumer.value
        }
        XCTAssertEqual(sum, 500_500)
        XCTAssertTrue(consumerOnItsReactor)
    }

    func testSockLevelListenersOnAGroupShareOnePort() throws {
        let accepted = try runGroup(count: 2) { group in
            let accepts = LockedValue<[ObjectIdentifier: Int]>([:])
            let (listeners, address) = try await group.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 0))
            let loops = listeners.map { listener in
                Task(executorPreference: listener.reactor) {
                    while let (socket, _) = try? await listener.reactor.sockAccept(listener) {
                        accepts.withLock { $0[ObjectIdentifier(listener), default: 0] += 1 }
                        socket.close()
                    }
                }
            }
            XCTAssertEqual(listeners.count, 2)
            XCTAssertNotEqual(address.port, 0)
            for listener in listeners {
                let bound = try await Task(executorPreference: listener.reactor) { try listener.localAddress() }.value
                XCTAssertEqual(bound, address)
            }
            XCTAssert(listeners[0].reactor === group.reactors[0] && listeners[1].reactor === group.reactors[1])
            for _ in 0..<50 {
                let client = try await group.reactors[0].connect(to: address)
                client.close()
            }
            try await waitUntil(group.reactors[0], "every connection is accepted") { accepts.withLock { $0.values.reduce(0, +) } == 50 }
            for listener in listeners { listener.close() }
            for loop in loops { await loop.value }
            return accepts.withLock { $0 }
        }
        XCTAssertEqual(accepted.values.reduce(0, +), 50)
        // The kernel spreads by a hash of each connection's ports: 50 all on one is 2 in 2^50.
        XCTAssertEqual(accepted.count, 2, "every connection went to one listener")
    }

    func testAGroupRunsItsReactorsOnThreadsOfTheirOwnAndHandsThemOutInTurn() throws {
        let cpus = ReactorGroup.availableCPUs
        XCTAssertFalse(cpus.isEmpty)
        try runGroup(count: 3) { group in
            XCTAssertEqual(group.count, 3)
            let handedOut = (0..<6).map { _ in ObjectIdentifier(group.next()) }
            XCTAssertEqual(Array(handedOut[0..<3]), Array(handedOut[3..<6]))
            XCTAssertEqual(Set(handedOut).count, 3)
            for reactor in group.reactors {
                let ranOn = await Task(executorPreference: reactor) { Reactor.current === reactor && reactor.isOnLoopThread }.value
                XCTAssertTrue(ranOn)
            }
        }
        // Pinned: each loop thread runs on one CPU.
        let watchdog = Watchdog(seconds: 60, name)
        defer { watchdog.cancel() }
        let group = try ReactorGroup(count: 2, pinned: true)
        let pinned = LockedValue<[String]>([])
        let done = DispatchSemaphore(value: 0)
        Task {
            for reactor in group.reactors {
                let cpu = await Task(executorPreference: reactor) { allowedCPUs() }.value
                pinned.withLock { $0.append(cpu) }
            }
            await group.shutdown()
            done.signal()
        }
        done.wait()
        XCTAssertEqual(pinned.withLock { $0 }, [0, 1].map { String(cpus[$0 % cpus.count]) })
    }
}

/// The CPUs the calling thread may run on, as the kernel lists them ("0", "0-1").
private func allowedCPUs() -> String {
    let status = (try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
    return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
}
