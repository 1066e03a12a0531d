import Glibc
import TestSupport
import XCTest

@testable import Reactor

final class SocketOperationTests: XCTestCase {
    func testOneMebibyteEchoedInRandomChunksIsByteExact() throws {
        try runReactor { reactor in
            let payload = randomBytes(1 << 20, seed: 1)
            let (client, server) = try await connectedPair(reactor)
            defer { client.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Server: receive into random-sized buffers, echo each chunk back.
                group.addTask {
                    defer { server.close() }
                    var generator = SeededGenerator(seed: 2)
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
                    defer { buffer.deallocate() }
                    while true {
                        let size = Int.random(in: 1...65536, using: &generator)
                        let count = try await reactor.sockRecv(server, into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(size)))
                        if count == 0 { return }
                        try await reactor.sockSendall(server, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
                    }
                }
                // Client: send in random-sized chunks, then half-close.
                group.addTask {
                    var generator = SeededGenerator(seed: 3)
                    var offset = 0
                    while offset < payload.count {
                        let size = min(Int.random(in: 1...100_000, using: &generator), payload.count - offset)
                        try await reactor.sockSendall(client, payload[offset..<offset + size])
                        offset += size
                    }
                    try client.shutdown(.write)
                }
                let echoed = try await receive(reactor, client, count: payload.count + 1)
                XCTAssertEqual(echoed.count, payload.count)
                XCTAssertTrue(echoed == payload, "echoed bytes differ from the bytes sent")
                try await group.waitForAll()
            }
        }
    }

    func testTwoHundredConcurrentConnectionsOnOneReactorAreEachByteExact() throws {
        let connections = 200
        let mismatches = try runReactor { reactor in
            let (listener, address) = try await loopbackListener(reactor)
            defer { listener.close() }
            return try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    try await withThrowingTaskGroup(of: Void.self) { echoes in
                        for _ in 0..<connections {
                            let (socket, _) = try await reactor.sockAccept(listener)
                            echoes.addTask { try await echo(reactor, socket, chunkSize: 4096) }
                        }
                        try await echoes.waitForAll()
                    }
                    return 0
                }
                for index in 0..<connections {
                    group.addTask {
                        let payload = randomBytes(16 * 1024 + index, seed: UInt64(100 + index))
                        let client = try await reactor.connect(to: address)
                        defer { client.close() }
                        try await reactor.sockSendall(client, payload)
                        try client.shutdown(.write)
                        let echoed = try await receive(reactor, client, count: payload.count + 1)
                        return echoed == payload ? 0 : 1
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testRecvReturnsZeroAfterPeerShutsDownWriting() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            try await reactor.sockSendall(client, Array("last words".utf8))
            try client.shutdown(.write)
            let received = try await receive(reactor, server, count: 100)
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "last words")
            // EOF is sticky, not an error.
            let again = try await reactor.sockRecv(server, maxBytes: 10)
            XCTAssertEqual(again, [])
            // The other direction still works after a half-close.
            try await reactor.sockSendall(server, Array("reply".utf8))
            let reply = try await receive(reactor, client, count: 5)
            XCTAssertEqual(String(decoding: reply, as: UTF8.self), "reply")
        }
    }

    func testConnectToAClosedPortFailsWithECONNREFUSED() throws {
        try runReactor { reactor in
            let (listener, address) = try await loopbackListener(reactor)
            listener.close()  // nothing listens on that port any more
            do {
                _ = try await reactor.connect(to: address)
                XCTFail("connect succeeded")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, ECONNREFUSED)
                XCTAssertEqual(error.operation, "connect")
                XCTAssertTrue(error.description.contains("Connection refused"), error.description)
            }
        }
    }

    func testBadAddressesFailWithTheRightError() throws {
        XCTAssertThrowsError(try SocketAddress(ipAddress: "999.1.1.1", port: 80)) { error in
            XCTAssertEqual((error as? ReactorError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try SocketAddress(ipAddress: "127.0.0.1", port: 70000)) { error in
            XCTAssertEqual((error as? ReactorError)?.code, .invalidArgument)
            XCTAssertTrue("\(error)".contains("70000"), "\(error)")
        }
        XCTAssertThrowsError(try SocketAddress(unixPath: String(repeating: "x", count: 200))) { error in
            XCTAssertEqual((error as? SystemCallError)?.errno, ENAMETOOLONG)
        }
        try runReactor { reactor in
            // 192.0.2.1 (TEST-NET-1) is not an address of this machine: bind fails locally.
            do {
                _ = try await reactor.listen(on: SocketAddress(ipAddress: "192.0.2.1", port: 0))
                XCTFail("bind succeeded")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EADDRNOTAVAIL)
            }
            // A port already bound without SO_REUSEPORT.
            let (listener, address) = try await loopbackListener(reactor)
            defer { listener.close() }
            do {
                _ = try await reactor.listen(on: address)
                XCTFail("second bind succeeded")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EADDRINUSE)
            }
        }
    }

    func testOperationsOnAClosedSocketFailWithEBADF() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { server.close() }
            client.close()
            client.close()  // harmless
            XCTAssertFalse(client.isOpen)
            for operation in ["recv", "send"] {
                do {
                    if operation == "recv" {
                        _ = try await reactor.sockRecv(client, maxBytes: 1)
                    } else {
                        try await reactor.sockSendall(client, [1, 2, 3])
                    }
                    XCTFail("\(operation) on a closed socket succeeded")
                } catch let error as SystemCallError {
                    XCTAssertEqual(error.errno, EBADF)
                    XCTAssertTrue(error.description.contains("fd \(client.fileDescriptor)"), error.description)
                }
            }
            XCTAssertThrowsError(try client.localAddress()) { XCTAssertEqual(($0 as? SystemCallError)?.errno, EBADF) }
        }
    }

    func testAHandleToAClosedSocketDoesNotReachANewSocketOnTheSameFd() throws {
        try runReactor { reactor in
            let (first, firstPeer) = try await connectedPair(reactor)
            let fd = first.fileDescriptor
            first.close()
            firstPeer.close()
            // The lowest free fd is reused by the next socket.
            let (second, secondPeer) = try await connectedPair(reactor)
            defer { second.close(); secondPeer.close() }
            let reused = [second, secondPeer].first { $0.fileDescriptor == fd }
            XCTAssertNotNil(reused, "the kernel did not reuse fd \(fd)")
            do {
                try await reactor.sockSendall(first, [42])
                XCTFail("a stale handle sent on a reused fd")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EBADF)
            }
            XCTAssertTrue(second.isOpen && secondPeer.isOpen)
        }
    }

    func testASecondConcurrentReaderGetsAClearError() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let firstReader = Task(executorPreference: reactor) { try await reactor.sockRecv(server, maxBytes: 10) }
            try await waitUntil(reactor, "the first reader is parked") { reactor.isWaiting(server, .read) }
            do {
                _ = try await reactor.sockRecv(server, maxBytes: 10)
                XCTFail("a second concurrent reader was allowed")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .busy)
                XCTAssertTrue(error.description.contains("another task is already waiting"), error.description)
            }
            // The first reader is undisturbed.
            try await reactor.sockSendall(client, Array("hello".utf8))
            let received = try await firstReader.value
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "hello")
        }
    }

    func testABusySocketDoesNotStarveTheOthers() throws {
        // A peer on another reactor floods one connection far faster than 1-byte reads can
        // drain it, so those reads are never short and never see EAGAIN, and the reading task
        // is the only ready job. A second connection's byte, sent meanwhile, must be read
        // within a bounded number of the flooded reads: the busy task's yield looks at epoll
        // before it runs again. Counted, not timed: the flooded reads that ran between the
        // byte's send and its receipt.
        let flooder = try Reactor.start()
        defer { Task { await flooder.shutdown() } }
        let stop = Shared(false)
        let floodedReads = AtomicCount()
        let rounds = 20
        let readsBeforeSeen = try runReactor { reactor -> [Int] in
            let (listener, address) = try await loopbackListener(reactor)
            defer { listener.close() }
            let flood = Task(executorPreference: flooder) {
                let socket = try await flooder.connect(to: address)
                defer { socket.close() }
                let chunk = [UInt8](repeating: 7, count: 65536)
                while !stop.value {
                    try await flooder.sockSendall(socket, chunk)
                }
            }
            let (flooded, _) = try await reactor.sockAccept(listener)
            defer { flooded.close() }
            let drain = Task(executorPreference: reactor) {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
                defer { buffer.deallocate() }
                while !stop.value {
                    _ = try await reactor.sockRecv(flooded, into: buffer)
                    floodedReads.increment()
                }
            }
            // The other connection's client is on the flooder's reactor, so each byte's
            // arrival is an epoll edge for this reactor.
            let pinger = Task(executorPreference: flooder) { () -> [Int] in
                let socket = try await flooder.connect(to: address)
                defer { socket.close() }
                var counts: [Int] = []
                for round in 0..<rounds {
                    try await flooder.sockSendall(socket, [UInt8(round)])
                    let sentAt = floodedReads.value
                    let reply = try await flooder.sockRecv(socket, maxBytes: 8)
                    XCTAssertEqual(reply.count, 8)
                    counts.append(reply.withUnsafeBytes { $0.loadUnaligned(as: Int.self) } - sentAt)
                }
                return counts
            }
            let (server, _) = try await reactor.sockAccept(listener)
            defer { server.close() }
            for round in 0..<rounds {
                let request = try await reactor.sockRecv(server, maxBytes: 1)
                XCTAssertEqual(request, [UInt8(round)])
                let seenAt = floodedReads.value
                try await reactor.sockSendall(server, withUnsafeBytes(of: seenAt) { Array($0) })
            }
            let counts = try await pinger.value
            stop.value = true
            _ = try? await drain.value
            flooded.close()
            _ = try? await flood.value
            return counts
        }
        XCTAssertEqual(readsBeforeSeen.count, rounds)
        // The flooded task may finish its budget, then run once more in the turn that saw the
        // byte (it was ready first): two budgets, and one for the send's own timing.
        let bound = 3 * Reactor.operationBudget
        XCTAssertLessThanOrEqual(readsBeforeSeen.max() ?? 0, bound, "flooded reads between a byte's send and its receipt: \(readsBeforeSeen)")
    }

    func testTheBudgetCountsBytesSoAJobMovingLargeBuffersYieldsAsSoonAsOneMakingSmallCalls() throws {
        try runReactor { reactor in
            await Task.yield()  // a new job: a whole budget
            let otherRan = Shared(false)
            Task(executorPreference: reactor) { otherRan.value = true }
            reactor.chargeBudget(bytes: Reactor.budgetBytesPerOperation - 1)
            await reactor.consumeBudget()
            XCTAssertFalse(otherRan.value, "a small operation spent the budget")
            reactor.chargeBudget(bytes: Reactor.operationBudget * Reactor.budgetBytesPerOperation)
            await reactor.consumeBudget()
            XCTAssertTrue(otherRan.value, "an operation that moved a budget's worth of bytes did not yield")
        }
    }

    func testAUnixSocketThatSawItsUnconnectedHangUpStillParksOnAnEmptyRead() throws {
        // An unconnected stream socket polls as EPOLLOUT|EPOLLHUP. If that edge is delivered
        // before the connect, the sticky "closed" flags must not survive it: a read with no
        // data must park, not spin on EAGAIN (which would starve the loop, and this test).
        try runReactor { reactor in
            let path = "/tmp/swift-reactor-test-\(getpid()).sock"
            unlink(path)
            defer { unlink(path) }
            let address = try SocketAddress(unixPath: path)
            let listener = try await reactor.listen(on: address)
            defer { listener.close() }
            let client = try await reactor.makeSocket(family: .unix)
            defer { client.close() }
            try await reactor.sleep(for: .milliseconds(1))  // a loop turn: the HUP edge arrives
            try await reactor.sockConnect(client, to: address)
            let (server, _) = try await reactor.sockAccept(listener)
            defer { server.close() }
            let reader = Task(executorPreference: reactor) { try await reactor.sockRecv(client, maxBytes: 100) }
            try await waitUntil(reactor, "the read parks") { reactor.isWaiting(client, .read) }
            try await reactor.sockSendall(server, Array("over unix".utf8))
            let received = try await reader.value
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "over unix")
        }
    }

    func testAdoptTakesOverAnFdMadeElsewhere() throws {
        try runReactor { reactor in
            // A blocking socketpair, made outside the reactor.
            var fds: [Int32] = [0, 0]
            XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds), 0)
            let left = try await reactor.adoptSocket(fds[0])
            let right = try await reactor.adoptSocket(fds[1])
            defer { left.close(); right.close() }
            let reader = Task(executorPreference: reactor) { try await reactor.sockRecv(right, maxBytes: 100) }
            try await waitUntil(reactor, "the read parks (the fd is non-blocking now)") { reactor.isWaiting(right, .read) }
            try await reactor.sockSendall(left, Array("adopted".utf8))
            let received = try await reader.value
            XCTAssertEqual(String(decoding: received, as: UTF8.self), "adopted")
            // A closed fd cannot be adopted.
            let closed = dup(0)
            Glibc.close(closed)
            do {
                _ = try await reactor.adopt(closed)
                XCTFail("adopted a closed fd")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, EBADF)
                XCTAssertEqual(error.operation, "adopt")
            }
        }
    }

    func testAcceptBacksOffWhenOutOfDescriptorsAndRecovers() throws {
        let logs = LogCapture()
        try runReactor(configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let (listener, address) = try await loopbackListener(reactor)
            defer { listener.close() }
            let client = try await reactor.connect(to: address)
            defer { client.close() }
            // Lower the soft fd limit to the lowest free fd: the next accept4 gets EMFILE.
            let probe = try LoopSleepProbe(reactor)
            var original = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
            let lowestFree = dup(0)
            Glibc.close(lowestFree)
            var lowered = original
            lowered.rlim_cur = rlim_t(lowestFree)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered)
            let accept = Task(executorPreference: reactor) { try await reactor.sockAccept(listener) }
            do {
                defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original) }
                try await waitUntil(reactor, "EMFILE is logged") { logs.contains(.warning, "Too many open files") }
                // Backing off, not spinning: the loop is mostly found asleep.
                let asleep = try await probe.asleepShare { try await reactor.sleep(for: .milliseconds(300)) }
                XCTAssertGreaterThan(asleep, 0.5, "accept spun while out of descriptors")
            }
            // With the limit restored the pending connection is accepted.
            let (accepted, peer) = try await accept.value
            defer { accepted.close() }
            XCTAssertEqual(peer, try client.localAddress())
        }
    }
}

