import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// UDP: single datagrams, connected sockets, batches with segmentation offload, and the
/// errors a datagram socket has (truncation, ICMP's port unreachable).
final class DatagramTests: XCTestCase {
    func testTenThousandDatagramsAreEchoedOneByOne() throws {
        let matched = try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            let echo = Task(executorPreference: reactor) { await echoOneByOne(reactor, server) }
            let (client, _) = try await boundSocket(reactor)
            let matched = try await exchange(reactor, client, address, count: 10_000, window: 16)
            server.close()
            client.close()
            await echo.value
            return matched
        }
        XCTAssertEqual(matched, 10_000)
    }

    func testTenThousandDatagramsAreEchoedInBatches() throws {
        let matched = try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            let echo = Task(executorPreference: reactor) { await echoInBatches(reactor, server) }
            let (client, _) = try await boundSocket(reactor)
            // The client batches too: 32 datagrams a sendmmsg, their echoes a recvmmsg at a time.
            let batch = DatagramBatch(capacity: 32, slotSize: 2048)
            var matched = 0
            while matched < 10_000 {
                batch.removeAll()
                for index in matched..<min(matched + 32, 10_000) { try batch.append(datagram(index), to: address) }
                let expected = batch.count
                try await reactor.sockSendto(client, batch)
                var echoed = 0
                while echoed < expected {
                    let received = try await reactor.sockRecvfrom(client, into: batch)
                    for slot in 0..<received {
                        XCTAssertEqual(batch[slot].address, address)
                        XCTAssertFalse(batch[slot].isTruncated)
                        guard Array(batch[slot].bytes) == datagram(matched) else { throw TestFailure("echo \(matched) differs") }
                        matched += 1
                        echoed += 1
                    }
                }
            }
            server.close()
            client.close()
            await echo.value
            return matched
        }
        XCTAssertEqual(matched, 10_000)
    }

    /// The Datagrams article's echo server, answering a client.
    func testTheArticlesEchoServer() throws {
        try runReactor { reactor in
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: 0)
            let socket = try await reactor.makeSocket(family: address.family, kind: .datagram)
            try socket.bind(to: address)
            let serving = Task(executorPreference: reactor) {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 1)
                defer { buffer.deallocate() }
                while let (count, sender) = try? await reactor.sockRecvfrom(socket, into: buffer) {
                    _ = try? await reactor.sockSendto(socket, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)), to: sender)
                }
            }
            let client = try await reactor.makeSocket(family: .ipv4, kind: .datagram)
            try await reactor.sockConnect(client, to: try socket.localAddress())
            try await reactor.sockSend(client, Array("ping".utf8))
            let reply = try await reactor.sockRecv(client, maxBytes: 100)
            XCTAssertEqual(reply, Array("ping".utf8))
            socket.close()
            client.close()
            await serving.value
        }
    }

    func testZeroLengthDatagramsArriveAsDatagrams() throws {
        try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            let (client, clientAddress) = try await boundSocket(reactor)
            let sentEmpty = try await reactor.sockSendto(client, [], to: address)
            XCTAssertEqual(sentEmpty, 0)
            try await reactor.sockSendto(client, [7], to: address)
            let (first, sender) = try await reactor.sockRecvfrom(server, maxBytes: 100)
            XCTAssertEqual(first, [])
            XCTAssertEqual(sender, clientAddress)
            let second = try await reactor.sockRecvfrom(server, maxBytes: 100)
            XCTAssertEqual(second.bytes, [7])
            server.close()
            client.close()
        }
    }

    func testADatagramLongerThanTheBufferIsReportedNotCut() throws {
        try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            let (client, clientAddress) = try await boundSocket(reactor)
            let long = randomBytes(2000, seed: 5)
            try await reactor.sockSendto(client, long, to: address)
            try await reactor.sockSendto(client, [1, 2, 3], to: address)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
            defer { buffer.deallocate() }
            do {
                _ = try await reactor.sockRecvfrom(server, into: buffer)
                XCTFail("a 2,000-byte datagram fit in 1,000 bytes")
            } catch let error as TruncatedDatagramError {
                XCTAssertEqual(error, TruncatedDatagramError(size: 2000, capacity: 1000, sender: clientAddress))
                XCTAssertEqual(Array(buffer), Array(long.prefix(1000)))
            }
            // The next datagram is whole.
            let next = try await reactor.sockRecvfrom(server, into: buffer)
            XCTAssertEqual(next.count, 3)
            // sockRecvfrom(_:maxBytes:) reports it too, and then reads the next one whole.
            try await reactor.sockSendto(client, long, to: address)
            try await reactor.sockSendto(client, [1, 2, 3], to: address)
            do {
                _ = try await reactor.sockRecvfrom(server, maxBytes: 1000)
                XCTFail("a 2,000-byte datagram fit in 1,000 bytes")
            } catch let error as TruncatedDatagramError {
                XCTAssertEqual(error, TruncatedDatagramError(size: 2000, capacity: 1000, sender: clientAddress))
            }
            let nextArray = try await reactor.sockRecvfrom(server, maxBytes: 1000)
            XCTAssertEqual(nextArray.bytes, [1, 2, 3])

            // A batch marks the long one and goes on.
            try await reactor.sockSendto(client, long, to: address)
            try await reactor.sockSendto(client, [4], to: address)
            let batch = DatagramBatch(capacity: 4, slotSize: 1000)
            var seen: [(Int, Bool)] = []
            while seen.count < 2 {
                let received = try await reactor.sockRecvfrom(server, into: batch)
                seen += (0..<received).map { (batch[$0].bytes.count, batch[$0].isTruncated) }
            }
            XCTAssertEqual(seen.map(\.0), [1000, 1])
            XCTAssertEqual(seen.map(\.1), [true, false])

            // A connected socket's sockRecv reports it too.
            try await reactor.sockConnect(server, to: clientAddress)
            try await reactor.sockSendto(client, long, to: address)
            do {
                _ = try await reactor.sockRecv(server, into: buffer)
                XCTFail("sockRecv cut a datagram without a word")
            } catch let error as TruncatedDatagramError {
                XCTAssertEqual(error.size, 2000)
                XCTAssertNil(error.sender)
            }
            server.close()
            client.close()
        }
    }

    func testConnectedSocketSeesPortUnreachableAsConnectionRefused() throws {
        try runReactor { reactor in
            // A port nobody listens on: bound, then closed.
            let (gone, address) = try await boundSocket(reactor)
            gone.close()
            let client = try await reactor.makeSocket(family: .ipv4, kind: .datagram)
            try await reactor.sockConnect(client, to: address)
            try await reactor.sockSend(client, [1, 2, 3])
            do {
                _ = try await reactor.sockRecv(client, maxBytes: 100)
                XCTFail("a receive on a socket connected to a closed port returned")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, ECONNREFUSED)
            }
            client.close()
        }
    }

    func testConnectedSocketsSendAndReceiveOverIPv6() throws {
        try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor, "::1")
            let echo = Task(executorPreference: reactor) { await echoOneByOne(reactor, server) }
            let client = try await reactor.makeSocket(family: .ipv6, kind: .datagram)
            try await reactor.sockConnect(client, to: address)
            for index in 0..<100 {
                let payload = datagram(index)
                let sent = try await reactor.sockSend(client, payload)
                let echoed = try await reactor.sockRecv(client, maxBytes: 2000)
                XCTAssertEqual(sent, payload.count)
                XCTAssertEqual(echoed, payload)
            }
            XCTAssertEqual(try client.peerAddress(), address)
            server.close()
            client.close()
            await echo.value
        }
    }

    func testSegmentedSendsArriveAsTheirDatagramsWithAndWithoutReceiveOffload() throws {
        try runReactor { reactor in
            for offload in [false, true] {
                let (server, address) = try await boundSocket(reactor)
                if offload { try server.setOption(.udpReceiveOffload, 1) }
                let (client, _) = try await boundSocket(reactor)
                // Ten datagrams of 100 bytes and one of 40, in one send.
                let bytes = (0..<1040).map { UInt8(truncatingIfNeeded: $0 / 100 &+ $0) }
                let outgoing = DatagramBatch(capacity: 1, slotSize: 65536)
                try outgoing.append(bytes, to: address, segmentSize: 100)
                try await reactor.sockSendto(client, outgoing)

                let incoming = DatagramBatch(capacity: 16, slotSize: 65536)
                var datagrams: [[UInt8]] = []
                var coalesced = false
                while datagrams.reduce(0, { $0 + $1.count }) < bytes.count {
                    let received = try await reactor.sockRecvfrom(server, into: incoming)
                    for slot in 0..<received {
                        let message = incoming[slot]
                        if message.segmentSize != nil { coalesced = true }
                        let size = message.segmentSize ?? message.bytes.count
                        for start in stride(from: 0, to: message.bytes.count, by: max(size, 1)) {
                            datagrams.append(Array(message.bytes[start..<min(start + size, message.bytes.count)]))
                        }
                    }
                }
                XCTAssertEqual(datagrams.map(\.count), Array(repeating: 100, count: 10) + [40], "offload \(offload)")
                XCTAssertEqual(Array(datagrams.joined()), bytes)
                // Loopback hands a segmented send to a receiver with UDP_GRO whole.
                XCTAssertEqual(coalesced, offload, "offload \(offload)")
                server.close()
                client.close()
            }
        }
    }

    func testTheNonBlockingPrimitivesAnswerNilUntilADatagramIsThere() throws {
        try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            let (client, clientAddress) = try await boundSocket(reactor)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
            defer { buffer.deallocate() }
            XCTAssertNil(try server.tryRecvfrom(into: buffer))
            let sent = try [UInt8]([5, 6, 7]).withUnsafeBytes { try client.trySendto($0, to: address) }
            XCTAssertEqual(sent, 3)
            try await server.waitUntilReadable()
            let received = try server.tryRecvfrom(into: buffer)
            XCTAssertEqual(received?.count, 3)
            XCTAssertEqual(received?.address, clientAddress)
            XCTAssertEqual(Array(buffer.prefix(3)), [5, 6, 7])
            XCTAssertNil(try server.tryRecvfrom(into: buffer))
            // A stream socket is refused: recvfrom with MSG_TRUNC would discard its bytes.
            let (tcpClient, tcpServer) = try await connectedPair(reactor)
            XCTAssertThrowsError(try tcpServer.tryRecvfrom(into: buffer))
            tcpClient.close()
            tcpServer.close()
            server.close()
            client.close()
        }
    }

    func testABatchSendSkipsTheMessageTheKernelRefusesAndSendsTheRest() throws {
        try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            let (client, _) = try await boundSocket(reactor)
            let batch = DatagramBatch(capacity: 4, slotSize: 2048)
            try batch.append([1], to: address)
            try batch.append([2], to: try SocketAddress(ipAddress: "127.0.0.1", port: 0))  // port 0: EINVAL
            try batch.append([3], to: address)
            let sent = try await reactor.sockSendto(client, batch)
            XCTAssertEqual(sent, 2)
            XCTAssertEqual(batch.refusals.map(\.index), [1])
            XCTAssertEqual(batch.refusals.first?.error.errno, EINVAL)
            let first = try await reactor.sockRecvfrom(server, maxBytes: 10)
            let second = try await reactor.sockRecvfrom(server, maxBytes: 10)
            XCTAssertEqual([first.bytes, second.bytes], [[1], [3]])
            server.close()
            client.close()
        }
    }

    func testAFloodNobodyReadsIsDroppedByTheKernelNotBuffered() throws {
        try runReactor { reactor in
            let (server, address) = try await boundSocket(reactor)
            try server.setOption(.receiveBufferSize, 4096)
            let (client, _) = try await boundSocket(reactor)
            let payload = [UInt8](repeating: 9, count: 512)
            for _ in 0..<5000 { try await reactor.sockSendto(client, payload, to: address) }
            // What was kept is what the receive buffer held; the rest is gone.
            var kept = 0
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 1)
            defer { buffer.deallocate() }
            while try server.tryRead(into: buffer) != nil { kept += 1 }
            XCTAssertGreaterThan(kept, 0)
            XCTAssertLessThan(kept, 100)
            server.close()
            client.close()
        }
    }

    func testDatagramCallsRefuseAStreamSocket() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            do {
                _ = try await reactor.sockRecvfrom(server, maxBytes: 10)
                XCTFail("sockRecvfrom took a TCP socket")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .invalidArgument)
            }
            client.close()
            server.close()
        }
    }
}

/// A UDP socket bound to a free port on `host`.
private func boundSocket(_ reactor: Reactor, _ host: String = "127.0.0.1") async throws -> (Socket, SocketAddress) {
    let address = try SocketAddress(ipAddress: host, port: 0)
    let socket = try await reactor.makeSocket(family: address.family, kind: .datagram)
    try socket.bind(to: address)
    return (socket, try socket.localAddress())
}

/// Echoes every datagram back to its sender, one at a time, until the socket closes.
private func echoOneByOne(_ reactor: Reactor, _ socket: Socket) async {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { buffer.deallocate() }
    while let (count, sender) = try? await reactor.sockRecvfrom(socket, into: buffer) {
        _ = try? await reactor.sockSendto(socket, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)), to: sender)
    }
}

/// Echoes batches back as they came (each datagram to its sender), until the socket closes.
private func echoInBatches(_ reactor: Reactor, _ socket: Socket) async {
    let batch = DatagramBatch(capacity: 64, slotSize: 2048)
    while (try? await reactor.sockRecvfrom(socket, into: batch)) != nil {
        _ = try? await reactor.sockSendto(socket, batch)
    }
}

/// The datagram numbered `index`: its number, then bytes from it, 0 to 1,400 bytes long.
private func datagram(_ index: Int) -> [UInt8] {
    let length = index % 7 == 0 ? 0 : 8 + (index * 131) % 1392
    guard length > 0 else { return [] }
    var bytes = withUnsafeBytes(of: UInt64(index).littleEndian) { Array($0) }
    bytes += (8..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
    return bytes
}

/// Sends `count` datagrams from `client` to `server` with `window` in flight, and checks
/// that every echo is the datagram it answers (in order: loopback neither loses nor
/// reorders within the window).
private func exchange(_ reactor: Reactor, _ client: Socket, _ server: SocketAddress, count: Int, window: Int) async throws -> Int {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { buffer.deallocate() }
    var sent = 0
    var matched = 0
    while matched < count {
        while sent < count && sent - matched < window {
            try await reactor.sockSendto(client, datagram(sent), to: server)
            sent += 1
        }
        let (length, sender) = try await reactor.sockRecvfrom(client, into: buffer)
        XCTAssertEqual(sender, server)
        guard Array(buffer.prefix(length)) == datagram(matched) else { throw TestFailure("echo \(matched) differs") }
        matched += 1
    }
    return matched
}
