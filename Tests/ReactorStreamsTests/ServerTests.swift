import Foundation
import Glibc
import TestSupport
import XCTest

import CReactor
@testable import Reactor
@testable import ReactorStreams

/// startServer / openConnection end to end over loopback, and reactor-echo as a process.
final class ServerTests: XCTestCase {
    /// Echoes with the streams: read what is there, write it back, drain; "boom" throws.
    private static let echoHandler: ConnectionHandler = { reader, writer in
        while true {
            let bytes = try await reader.read(65536)
            if bytes.isEmpty { return }
            if bytes == Array("boom".utf8) { throw TestFailure("boom") }
            try writer.write(bytes)
            try await writer.drain()
        }
    }

    func testAHundredConcurrentClientsAreEachEchoedByteExact() throws {
        let mismatches = try runReactor { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0, handler: Self.echoHandler)
            let port = server.port!
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<100 {
                    group.addTask {
                        try await echoesByteExact(port: port, randomBytes(20_000 + index * 97, seed: UInt64(1000 + index))) ? 0 : 1
                    }
                }
                return try await group.reduce(0, +)
            }
            server.close()
            await server.waitClosed()
            return mismatches
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testHalfCloseTheServerRepliesAfterTheClientsEOF() throws {
        try runReactor { reactor in
            // Counts the bytes until EOF, then answers with the count.
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                let all = try await reader.read()
                try writer.write(Array("got \(all.count) bytes\n".utf8))
                try await writer.drain()
            }
            defer { server.close() }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { writer.close() }
            try writer.write([UInt8](repeating: 7, count: 300_000))
            try writer.writeEOF()
            let line = try await reader.readLine()
            XCTAssertEqual(text(line), "got 300000 bytes\n")
            let rest = try await reader.read(10)
            XCTAssertEqual(rest, [])
        }
    }

    func testAClientThatNeverReadsMakesTheServerWaitWithBoundedMemory() throws {
        try runReactor(timeout: .seconds(60)) { reactor in
            let handlers = Shared(0)
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                handlers.value += 1
                try await Self.echoHandler(reader, writer)
            }
            defer { server.close() }
            let client = try await reactor.connect(to: server.addresses[0])
            defer { client.close() }
            let residentBefore = residentMemory()
            // Offer 256 MiB and read nothing back.
            let chunk = [UInt8](repeating: 9, count: 1 << 20)
            let sender = Task(executorPreference: reactor) {
                for _ in 0..<256 { try await reactor.sockSendall(client, chunk) }
            }
            // Every buffer fills: the server's writer waits in drain, its reader stops
            // reading, the kernel's windows close, and the client's send parks.
            try await waitUntil(reactor, timeout: .seconds(20), "the client's send parks") {
                reactor.isWaiting(client, .write)
            }
            let growth = residentMemory() - residentBefore
            XCTAssertLessThan(growth, 32 << 20, "the server buffered what the client did not read")
            XCTAssertEqual(server.connectionCount, 1)
            // Reading resumes the flow: all 256 MiB come back.
            var received = 0
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 1)
            defer { buffer.deallocate() }
            while received < 256 << 20 {
                let count = try await reactor.sockRecv(client, into: buffer)
                if count == 0 { break }
                received += count
            }
            try await sender.value
            XCTAssertEqual(received, 256 << 20)
            XCTAssertEqual(handlers.value, 1)
        }
    }

    func testAThrowingHandlerIsLoggedAndDoesNotDisturbTheOthers() throws {
        let logs = LogCapture()
        try runReactor(configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0, handler: Self.echoHandler)
            defer { server.close() }
            let (steadyReader, steadyWriter) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { steadyWriter.close() }
            let (doomedReader, doomedWriter) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { doomedWriter.close() }
            try doomedWriter.write(Array("boom".utf8))
            let rest = try await doomedReader.read(10)
            XCTAssertEqual(rest, [], "the failed connection was not closed")
            XCTAssertTrue(logs.contains(.error, "threw: boom"))
            try steadyWriter.write(Array("still here".utf8))
            let echoed = try await steadyReader.readExactly(10)
            XCTAssertEqual(text(echoed), "still here")
        }
    }

    func testAHandlersErrorGoesToTheExceptionHandlerWithItsPeer() throws {
        let contexts = LockedValue<[ErrorContext]>([])
        let logs = LogCapture()
        let configuration = Reactor.Configuration(logger: logs.logger, exceptionHandler: { _, context in
            contexts.withLock { $0.append(context) }
        })
        try runReactor(configuration: configuration) { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, _ in
                _ = try await reader.readLine()
                throw TestFailure("boom")
            }
            defer { server.close() }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!)
            defer { writer.close() }
            try writer.write(Array("go\n".utf8))
            let rest = try await reader.read()
            XCTAssertEqual(rest, [], "the failed connection was not closed")
            try await waitUntil(reactor, "the handler gets the error") { contexts.withLock { !$0.isEmpty } }
            let context = contexts.withLock { $0[0] }
            XCTAssertEqual("\(context.error)", "boom")
            XCTAssertEqual(context.peer, writer.localAddress)
            XCTAssertTrue(context.message.hasPrefix("connection handler for 127.0.0.1:"), context.message)
            XCTAssertFalse(logs.contains(.error, "boom"), "an error given to the handler was logged too")
        }
    }

    func testDebugModeIsItsOwnSetting() throws {
        for (debugMode, expected) in [(true, true), (false, false)] {
            let isDebugMode = try runReactor(configuration: Reactor.Configuration(debugMode: debugMode, slowJobThreshold: .seconds(5))) { reactor in
                reactor.isDebugMode
            }
            XCTAssertEqual(isDebugMode, expected)
        }
    }

    func testHandlersShareLoopBoundStateWithoutALock() throws {
        // 20 clients × 50 lines each, every handler counting into one dictionary: the counts
        // are exact, with no lock, because every handler runs on the loop thread.
        let counts = try runReactor { reactor -> [String: Int] in
            let seen = LoopBound([String: Int](), on: reactor)
            let server = try await startServer(host: "127.0.0.1", port: 0) { reader, writer in
                for try await line in reader.lines {
                    seen.value[line, default: 0] += 1
                    try writer.write(Array("\(seen.value[line]!)\n".utf8))
                }
            }
            defer { server.close() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<20 {
                    group.addTask(executorPreference: reactor) {
                        let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!)
                        defer { writer.close() }
                        for round in 0..<50 {
                            try writer.write(Array("key\((client + round) % 7)\n".utf8))
                            _ = try await reader.readLine()
                        }
                    }
                }
                try await group.waitForAll()
            }
            return seen.value
        }
        XCTAssertEqual(counts.values.reduce(0, +), 1000)
        XCTAssertEqual(counts.count, 7)
    }

    func testAPeerThatResetsIsLoggedAtDebugWhicheverSideSeesIt() throws {
        let logs = LogCapture()
        try runReactor(configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let ended = AtomicCount()
            // One handler meets the reset in a read, the other in a write.
            let reading = try await startServer(host: "127.0.0.1", port: 0) { reader, _ in
                defer { ended.increment() }
                _ = try await reader.read()
            }
            defer { reading.close() }
            let writing = try await startServer(host: "127.0.0.1", port: 0) { _, writer in
                defer { ended.increment() }
                while true {
                    try writer.write([UInt8](repeating: 0, count: 1024))
                    try await writer.drain()
                }
            }
            defer { writing.close() }
            for (server, waitForBytes) in [(reading, false), (writing, true)] {
                let socket = try await reactor.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: server.port!))
                if waitForBytes { _ = try await reactor.sockRecv(socket, maxBytes: 1) }
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(socket.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                socket.close()
            }
            try await waitUntil(reactor, "both handlers ended") { ended.value == 2 }
            let threw = logs.messages.withLock { $0 }.filter { $0.1.contains("threw") }
            XCTAssertEqual(threw.count, 2, "\(threw)")
            XCTAssertTrue(threw.allSatisfy { $0.0 == .debug }, "a peer's reset was logged above debug: \(threw)")
            XCTAssertTrue(threw.contains { $0.1.contains("recv failed") }, "\(threw)")
            XCTAssertTrue(threw.contains { $0.1.contains("connection lost") }, "\(threw)")
        }
    }

    func testCloseAndWaitClosedEndEveryConnectionAndFreeEveryFd() throws {
        let before = openFileDescriptorCount()
        try runReactor { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0, handler: Self.echoHandler)
            var clients: [(StreamReader, StreamWriter)] = []
            for _ in 0..<10 {
                clients.append(try await openConnection(host: "127.0.0.1", port: server.port!))
            }
            try await waitUntil(reactor, "the server serves all ten") { server.connectionCount == 10 }
            server.close()
            XCTAssertFalse(server.isServing)
            // New connections are refused; the accepted ones carry on until cut.
            do {
                _ = try await openConnection(host: "127.0.0.1", port: server.port!)
                XCTFail("connected to a closed server")
            } catch let error as SystemCallError {
                XCTAssertEqual(error.errno, ECONNREFUSED)
            }
            server.abortClients()
            await server.waitClosed()
            XCTAssertEqual(server.connectionCount, 0)
            for (reader, writer) in clients {
                let rest = try await reader.read(10)
                XCTAssertEqual(rest, [])
                writer.close()
            }
        }
        XCTAssertEqual(openFileDescriptorCount(), before)
    }

    func testOpenConnectionResolvesNamesAndTimesOut() throws {
        try runReactor { reactor in
            let server = try await startServer(host: "localhost", port: 0, handler: Self.echoHandler)
            defer { server.close() }
            XCTAssertFalse(server.addresses.isEmpty)
            XCTAssertTrue(server.addresses.allSatisfy { $0.port == server.port }, "\(server.addresses)")
            let (reader, writer) = try await openConnection(host: "localhost", port: server.port!, connectTimeout: .seconds(5))
            defer { writer.close() }
            try writer.write(Array("by name".utf8))
            let echoed = try await reader.readExactly(7)
            XCTAssertEqual(text(echoed), "by name")
            do {
                _ = try await openConnection(host: "no-such-host.invalid", port: 80)
                XCTFail("resolved an .invalid name")
            } catch is AddressResolutionError {
            }
            // A full backlog drops the SYN: the connect times out.
            let (listener, address) = try await loopbackListener(reactor, backlog: 0)
            defer { listener.close() }
            let queued = try await reactor.connect(to: address)
            defer { queued.close() }
            do {
                _ = try await openConnection(host: "127.0.0.1", port: address.port!, connectTimeout: .milliseconds(100))
                XCTFail("connected past a full backlog")
            } catch let error as ReactorError where error.code == .timedOut {
            }
        }
    }

    func testAServerWithoutAHostListensOnEveryInterface() throws {
        try runReactor { reactor in
            let server = try await startServer(port: 0, handler: Self.echoHandler)
            XCTAssertTrue(server.addresses.contains { $0.host == "0.0.0.0" }, "\(server.addresses)")
            let port = try XCTUnwrap(server.port)
            XCTAssertTrue(server.addresses.allSatisfy { $0.port == port }, "the addresses got different ports")
            var hosts = ["127.0.0.1"]
            if server.addresses.contains(where: { $0.host == "::" }) { hosts.append("::1") }
            for host in hosts {
                let (reader, writer) = try await openConnection(host: host, port: port)
                try writer.write(Array("via \(host)\n".utf8))
                let line = try await reader.readLine()
                XCTAssertEqual(text(line), "via \(host)\n")
                writer.close()
            }
            server.close()
            await server.waitClosed()
        }
    }

    func testAUnixConnectToAFullBacklogWaitsForRoom() throws {
        try runReactor { reactor in
            let path = "/tmp/swift-reactor-backlog-\(getpid()).sock"
            unlink(path)
            defer { unlink(path) }
            let address = try SocketAddress(unixPath: path)
            let listener = try await reactor.listen(on: address, backlog: 1)
            defer { listener.close() }
            // Fill the backlog: connects that nobody accepts.
            var queued: [Socket] = []
            defer { for socket in queued { socket.close() } }
            var waiting: Task<Socket, any Error>?
            while waiting == nil {
                let socket = try await reactor.makeSocket(family: .unix)
                let result = address.withSockAddr { cr_connect(socket.fileDescriptor, $0, $1) }
                if result == 0 {
                    queued.append(socket)
                } else {
                    XCTAssertEqual(-result, EAGAIN)
                    socket.close()
                    waiting = Task(executorPreference: reactor) { try await reactor.connect(to: address) }
                }
                XCTAssertLessThan(queued.count, 64, "the backlog never filled")
            }
            // Make room: the waiting connect goes through.
            let (accepted, _) = try await reactor.sockAccept(listener)
            accepted.close()
            let connecting = waiting!
            let connected = try await reactor.withTimeout(.seconds(10)) { try await connecting.value }
            connected.close()
        }
    }

    func testUnixDomainServerAndClient() throws {
        try runReactor { reactor in
            let path = "/tmp/swift-reactor-server-\(getpid()).sock"
            let server = try await startUnixServer(path: path, handler: Self.echoHandler)
            let (reader, writer) = try await openUnixConnection(path: path)
            try writer.write(Array("over a unix socket\n".utf8))
            let line = try await reader.readLine()
            XCTAssertEqual(text(line), "over a unix socket\n")
            writer.close()
            server.close()
            await server.waitClosed()
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "close() left the socket file")
        }
    }

    func testReactorEchoHoldsUnderAbuse() throws {
        for mode in ["streams", "sock"] {
            let echo = try ServerProcess.echo(mode: mode)
            let port = echo.port
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
            let baselineMemory = echo.residentMemory
            let peakMemory = try runReactor(timeout: .seconds(60)) { reactor in
                /// The server still echoes to a newcomer.
                func stillEchoes(_ note: String) async throws {
                    let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
                    defer { writer.close() }
                    try writer.write(Array("alive \(note)\n".utf8))
                    let line = try await reader.readLine()
                    XCTAssertEqual(text(line), "alive \(note)\n", mode)
                }
                // The baseline of a server that has served: the runtime may start threads (and
                // their fds) for the first connection.
                try await stillEchoes("before the abuse")
                let baselineFDs = echo.openFileDescriptors
                // Hundreds of idle connections.
                var idle: [Socket] = []
                for _ in 0..<300 { idle.append(try await reactor.connect(to: address)) }
                try await stillEchoes("with 300 idle peers")
                // A storm of connect/close.
                for _ in 0..<300 { try await reactor.connect(to: address).close() }
                // Peers that send, then reset.
                for _ in 0..<50 {
                    let socket = try await reactor.connect(to: address)
                    try await reactor.sockSendall(socket, [UInt8](repeating: 1, count: 10_000))
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(socket.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    socket.close()
                }
                // A peer that sends 64 MiB and never reads: its send parks once every buffer
                // between it and the server is full.
                let stubborn = try await reactor.connect(to: address)
                let chunk = [UInt8](repeating: 2, count: 1 << 20)
                let flood = Task(executorPreference: reactor) {
                    for _ in 0..<64 { try await reactor.sockSendall(stubborn, chunk) }
                }
                try await waitUntil(reactor, timeout: .seconds(20), "the stubborn peer's send parks") {
                    reactor.isWaiting(stubborn, .write)
                }
                try await stillEchoes("beside a peer that never reads")
                let peakMemory = echo.residentMemory
                flood.cancel()
                _ = try? await flood.value
                stubborn.close()
                for socket in idle { socket.close() }
                try await stillEchoes("after the abuse")
                // Every abuser's descriptor is given back.
                try await waitUntil(reactor, timeout: .seconds(10), "the server's fds return to baseline") {
                    echo.openFileDescriptors <= baselineFDs
                }
                return peakMemory
            }
            XCTAssertLessThan(peakMemory - baselineMemory, 64 << 20, "\(mode): memory grew with the abuse")
            XCTAssertEqual(echo.stop(), 0, mode)
        }
    }

    func testReactorEchoStopsGracefullyOnSIGTERM() throws {
        for mode in ["streams", "sock"] {
            let echo = try ServerProcess.echo(mode: mode)
            let port = echo.port
            // A client is echoed, and a few idle ones stay connected through the SIGTERM.
            let echoed = try runReactor { reactor in
                let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
                defer { writer.close() }
                try writer.write(Array("ping\n".utf8))
                let echoed = try await reader.readLine()
                var idle: [StreamWriter] = []
                for _ in 0..<5 { idle.append(try await openConnection(host: "127.0.0.1", port: port).1) }
                kill(echo.pid, SIGTERM)
                // The server cuts the connections after its grace period: the client reads EOF.
                let rest = try await reader.read(10)
                XCTAssertEqual(rest, [], mode)
                for writer in idle { writer.close() }
                return echoed
            }
            XCTAssertEqual(text(echoed), "ping\n", mode)
            echo.process.waitUntilExit()
            XCTAssertEqual(echo.process.terminationReason, .exit, mode)
            XCTAssertEqual(echo.process.terminationStatus, 0, mode)
        }
    }
}

/// reactor-echo's UDP echo and its reactor groups, checked from outside: Python's socket
/// and asyncio are the clients.
final class EchoExampleUDPAndGroupTests: XCTestCase {
    /// Each mode in turn, on one reactor and on two: TCP clients byte-exact, and UDP datagrams of
    /// every size from empty to the largest IPv4 allows, each back to its sender unchanged.
    func testReactorEchoEchoesUDPDatagramsOnTheSamePortInEveryModeAndOnAGroup() throws {
        guard let python = findExecutable("python3") else { throw XCTSkip("no python3") }
        let script = """
            import asyncio, socket, sys
            port = int(sys.argv[1])
            sizes = [0, 1, 64, 1472, 1500, 9000, 32768, 65507]
            # Plain sockets: several senders, each gets its own datagrams back.
            for sender in range(4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(5)
                for size in sizes:
                    payload = bytes((i * 7 + size + sender) % 256 for i in range(size))
                    s.sendto(payload, ("127.0.0.1", port))
                    data, address = s.recvfrom(70000)
                    assert data == payload, (sender, size, len(data))
                    assert address == ("127.0.0.1", port), address
                s.close()
            # asyncio's datagram endpoint: 500 datagrams, 50 in flight at a time (more could
            # overflow a receive buffer: UDP may drop, and that is not what is tested here).
            class Client(asyncio.DatagramProtocol):
                def __init__(self):
                    self.received, self.round = set(), None
                def datagram_received(self, data, address):
                    self.received.add(data)
                    if len(self.received) % 50 == 0: self.round.set_result(True)
            async def main():
                loop = asyncio.get_running_loop()
                transport, client = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
                for first in range(0, 500, 50):
                    client.round = loop.create_future()
                    for i in range(first, first + 50): transport.sendto(b"datagram %d" % i)
                    await asyncio.wait_for(client.round, 10)
                assert client.received == {b"datagram %d" % i for i in range(500)}
                transport.close()
            asyncio.run(main())
            # And TCP still echoes.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"x" * 100000)
                c.shutdown(socket.SHUT_WR)
                got = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk: break
                    got += chunk
                assert got == b"x" * 100000
            print("ok")
            """
        let runs = [("streams", "batched", "1", "epoll"), ("sock", "plain", "2", "io_uring"), ("streams", "offload", "2", "io_uring"), ("sock", "batched", "0", "epoll")]
        for (mode, udpMode, reactors, backend) in runs {
            let echo = try ServerProcess(
                "reactor-echo",
                ["--port", "0", "--mode", mode, "--udp", "--udp-mode", udpMode, "--reactors", reactors, "--backend", backend, "--grace-period", "500"])
            XCTAssertTrue(echo.banner.contains(backend), "reactor-echo fell back from \(backend): \(echo.banner)")
            let (status, output) = try runProgram(python, ["-c", script, "\(echo.port)"])
            XCTAssertEqual(status, 0, "\(mode) \(udpMode) on \(reactors) reactors, \(backend): \(output)")
            XCTAssertEqual(echo.stop(), 0)
        }
    }
}

extension ServerProcess {
    /// reactor-echo in `mode`, on a free port.
    static func echo(mode: String) throws -> ServerProcess {
        try ServerProcess("reactor-echo", ["--port", "0", "--mode", mode, "--grace-period", "500"])
    }
}
