import Foundation
import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams
import ReactorTLS

/// The TLS echo server against peers nobody here wrote: Python's ssl and asyncio, and
/// `openssl s_client`; and against clients that misbehave.
final class TLSServerTests: XCTestCase {
    private func python() throws -> String {
        try requireProgram("python3")
    }

    func testPythonEchoesEightMegabytesBothWaysAtTLS13AndTLS12AndGetsCloseNotifyAnswered() throws {
        let python = try python()
        let context = try PKI.serverContext()
        try runReactor(timeout: .seconds(120)) { reactor in
            let server = try await startTLSEchoServer(context, on: reactor)
            defer { server.close() }
            for version in ["1.3", "1.2"] {
                let (status, output) = try await runPeer(
                    python, ["\(PKI.testsDirectory)/tls_peers.py", "echo", "\(server.port!)", PKI.path("ca.pem"), version], on: reactor)
                XCTAssertEqual(status, 0, output)
                XCTAssertTrue(output.contains("8 MiB echoed byte-exact"), output)
                XCTAssertTrue(output.contains("close_notify answered"), output)
            }
            try await waitUntilNoConnections(server)
        }
    }

    func testTwoHundredConcurrentAsyncioClients() throws {
        let python = try python()
        let context = try PKI.serverContext()
        try runReactor(timeout: .seconds(120)) { reactor in
            let server = try await startTLSEchoServer(context, on: reactor)
            defer { server.close() }
            let (status, output) = try await runPeer(
                python, ["\(PKI.testsDirectory)/tls_peers.py", "concurrent", "\(server.port!)", PKI.path("ca.pem"), "200"], on: reactor)
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.contains("200 concurrent clients echoed byte-exact"), output)
            try await waitUntilNoConnections(server)
        }
    }

    func testOpenSSLClientAtEachVersionGetsTheEchoAndTheAgreedALPN() throws {
        let openssl = try requireProgram("openssl")
        let context = try PKI.serverContext { $0.applicationProtocols = ["redis", "http/1.1"] }
        try runReactor(timeout: .seconds(60)) { reactor in
            // One line back, then the server closes (with its close_notify), which ends s_client.
            let server = try await startServer(host: "127.0.0.1", port: 0, tls: context, on: reactor) { reader, writer in
                try writer.write(try await reader.readLine())
            }
            defer { server.close() }
            for version in ["-tls1_3", "-tls1_2"] {
                let (status, output) = try await runPeer(
                    openssl,
                    ["s_client", "-connect", "127.0.0.1:\(server.port!)", version, "-CAfile", PKI.path("ca.pem"), "-verify_return_error",
                     "-servername", "localhost", "-alpn", "http/1.1", "-ign_eof"],
                    input: Array("hello over tls\n".utf8), on: reactor)
                XCTAssertEqual(status, 0, output)
                XCTAssertTrue(output.contains("hello over tls"), output)
                XCTAssertTrue(output.contains("ALPN protocol: http/1.1"), output)
                XCTAssertTrue(output.contains("Verify return code: 0 (ok)"), output)
                XCTAssertTrue(output.contains(version == "-tls1_3" ? "TLSv1.3" : "TLSv1.2"), output)
            }
        }
    }

    func testTheServerSeesWhatTheHandshakeAgreed() throws {
        let serverContext = try PKI.serverContext {
            $0.applicationProtocols = ["h2", "redis"]
            $0.peerVerification = .required
            $0.trustRoots = .certificates(.file(PKI.path("ca.pem")))
        }
        let clientContext = try PKI.clientContext {
            $0.applicationProtocols = ["redis"]
            $0.certificateChain = .file(PKI.path("client.pem"))
            $0.privateKey = .file(PKI.path("client-key.pem"))
        }
        try runReactor { reactor in
            let seen = Future<String>(on: reactor)
            let server = try await startServer(host: "127.0.0.1", port: 0, tls: serverContext, on: reactor) { reader, writer in
                let tls = try XCTUnwrap(writer.tls)
                try seen.setResult(
                    "\(tls.protocolVersion) \(tls.applicationProtocol ?? "-") \(tls.serverName ?? "-") \(tls.peerCertificate?.subject ?? "-")")
                _ = try await reader.read(1)
            }
            defer { server.close() }
            let (_, writer) = try await openConnection(host: "localhost", port: server.port!, tls: clientContext, on: reactor)
            let agreed = try await seen.value()
            XCTAssertEqual(agreed, "TLSv1.3 redis localhost CN=test client")
            let tls = try XCTUnwrap(writer.tls)
            XCTAssertEqual(tls.applicationProtocol, "redis")
            XCTAssertEqual(tls.peerCertificate?.subject, "CN=localhost")
            XCTAssertEqual(tls.peerCertificate?.issuer, "CN=swift-reactor test CA")
            XCTAssertEqual(tls.peerCertificate?.subjectAlternativeNames, ["localhost", "127.0.0.1"])
            XCTAssertFalse(tls.peerCertificate?.der.isEmpty ?? true)
            XCTAssertEqual(tls.cipherSuite, "TLS_AES_256_GCM_SHA384")
            writer.close()
            await writer.waitClosed()
        }
    }

    func testOptionalClientCertificatesAreVerifiedWhenSentAndNotRequired() throws {
        let context = try PKI.serverContext {
            $0.peerVerification = .optional
            $0.trustRoots = .certificates(.file(PKI.path("ca.pem")))
        }
        let withCertificate = try PKI.clientContext {
            $0.certificateChain = .file(PKI.path("client.pem"))
            $0.privateKey = .file(PKI.path("client-key.pem"))
        }
        let without = try PKI.clientContext()
        try runReactor { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0, tls: context, on: reactor) { reader, writer in
                _ = try await reader.readLine()
                try writer.write(Array("\(writer.tls?.peerCertificate?.subject ?? "none")\n".utf8))
            }
            defer { server.close() }
            for (client, expected) in [(withCertificate, "CN=test client\n"), (without, "none\n")] {
                let (reader, writer) = try await openConnection(host: "localhost", port: server.port!, tls: client, on: reactor)
                try writer.write(Array("who am I?\n".utf8))
                let answer = text(try await reader.readLine())
                XCTAssertEqual(answer, expected)
                writer.close()
                await writer.waitClosed()
            }
        }
    }

    func testRenegotiationIsRefused() throws {
        let openssl = try requireProgram("openssl")
        let context = try PKI.serverContext()
        let logs = LogCapture()
        try runReactor(timeout: .seconds(30), configuration: Reactor.Configuration(logger: logs.logger)) { reactor in
            let server = try await startTLSEchoServer(context, on: reactor)
            defer { server.close() }
            // s_client's "R", alone in a read of its stdin, asks a TLS 1.2 server to renegotiate:
            // sent once the echo of a first line shows the connection up.
            let peer = try await createSubprocessExec(
                openssl, ["s_client", "-connect", "127.0.0.1:\(server.port!)", "-tls1_2", "-CAfile", PKI.path("ca.pem")],
                stdin: .pipe, stdout: .pipe, stderr: .stdout, on: reactor)
            try peer.stdin!.write(Array("hello\n".utf8))
            var output = ""
            while !output.hasSuffix("hello\n") {
                let line = text(try await peer.stdout!.readLine())
                if line.isEmpty { return XCTFail("s_client ended before the echo: \(output)") }
                output += line
            }
            try peer.stdin!.write(Array("R\n".utf8))
            output += text(try await peer.stdout!.read())
            _ = try await peer.waitOrKill()
            XCTAssertTrue(output.contains("RENEGOTIATING"), output)
            XCTAssertTrue(output.contains("no renegotiation"), output)
            try await waitUntilNoConnections(server)
        }
        // The client's alert ended the handler: the peer's doing, logged at debug.
        let threw = logs.messages.withLock { $0 }.filter { $0.1.contains("threw") }
        XCTAssertEqual(threw.map(\.0), [.debug], "\(threw)")
        XCTAssertTrue(threw.first?.1.contains("TLS protocol error") ?? false, "\(threw)")
    }

    func testAPeerThatClosesWithoutCloseNotifyEndsTheStreamAsAnEOF() throws {
        let context = try PKI.serverContext()
        let client = try PKI.clientContext()
        try runReactor { reactor in
            let ended = Future<(Int, Bool)>(on: reactor)
            let server = try await startServer(host: "127.0.0.1", port: 0, tls: context, on: reactor) { reader, writer in
                let bytes = try await reader.read()
                try ended.setResult((bytes.count, writer.tls!.receivedCloseNotify))
            }
            defer { server.close() }
            let (_, writer) = try await openConnection(host: "localhost", port: server.port!, tls: client, on: reactor)
            try writer.write(Array("cut short".utf8))
            try await writer.drain()
            // The socket closes with no close_notify before it: a truncation, as asyncio reads it.
            writer.handle.close()
            let (count, sawCloseNotify) = try await ended.value()
            XCTAssertEqual(count, 9)
            XCTAssertFalse(sawCloseNotify)
            writer.abort()
        }
    }

    func testCloseGivesUpOnAPeerThatNeverAnswersCloseNotify() throws {
        let context = try PKI.serverContext { $0.shutdownTimeout = .milliseconds(300) }
        let client = try PKI.clientContext()
        try runReactor { reactor in
            // The handler returns at once: the server sends close_notify and waits for the
            // client's, which never reads, so never answers.
            let server = try await startServer(host: "127.0.0.1", port: 0, tls: context, on: reactor) { _, _ in }
            defer { server.close() }
            let (_, writer) = try await openConnection(host: "localhost", port: server.port!, tls: client, on: reactor)
            try await waitUntilNoConnections(server)
            XCTAssertFalse(writer.isClosing, "the client is still open: the server gave up waiting")
            writer.abort()
        }
    }

    // MARK: - Bad input

    /// Each misbehaving client is closed with nothing leaked, its failure logged at debug with
    /// a reason that names it (`reason`), and a good client is served meanwhile and after.
    private func assertServedDespite(
        reason: String, handshakeTimeout: Duration = .seconds(60), file: StaticString = #filePath, line: UInt = #line,
        _ misbehave: @escaping @Sendable (Reactor, Int) async throws -> Void
    ) throws {
        let context = try PKI.serverContext { $0.handshakeTimeout = handshakeTimeout }
        let client = try PKI.clientContext()
        let logs = LogCapture()
        try runReactor(timeout: .seconds(60), configuration: Reactor.Configuration(logger: logs.logger), file: file, line: line) { reactor in
            let server = try await startTLSEchoServer(context, on: reactor)
            defer { server.close() }
            let port = server.port!
            let misbehaving = Task(executorPreference: reactor) { try await misbehave(reactor, port) }
            let (reader, writer) = try await openConnection(host: "localhost", port: port, tls: client, on: reactor)
            try writer.write(Array("still served\n".utf8))
            let echoed = try await reader.readLine()
            XCTAssertEqual(text(echoed), "still served\n", file: file, line: line)
            writer.close()
            await writer.waitClosed()
            try await misbehaving.value
            try await waitUntilNoConnections(server)
        }
        let failures = logs.messages.withLock { $0 }.filter { $0.1.contains("transport failed") }
        XCTAssertTrue(failures.allSatisfy { $0.0 == .debug }, "\(failures)", file: file, line: line)
        XCTAssertTrue(failures.contains { $0.1.contains(reason) }, "no failure says \(reason): \(failures)", file: file, line: line)
    }

    /// Reads until EOF or a reset: what a client the server closed on sees.
    private static func readUntilClosed(_ socket: Socket, _ reactor: Reactor) async throws -> [UInt8] {
        var received: [UInt8] = []
        do {
            while true {
                let chunk = try await reactor.sockRecv(socket, maxBytes: 4096)
                if chunk.isEmpty { break }
                received += chunk
            }
        } catch let error as SystemCallError where error.errno == ECONNRESET {}
        return received
    }

    func testPlaintextWhereTheClientHelloBelongsIsClosed() throws {
        try assertServedDespite(reason: "http request") { reactor, port in
            let socket = try await reactor.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: port))
            defer { socket.close() }
            try await reactor.sockSendall(socket, Array("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
            // OpenSSL sends no alert to what is not TLS at all.
            let reply = try await Self.readUntilClosed(socket, reactor)
            XCTAssertEqual(reply, [])
        }
    }

    func testGarbageWhereTheClientHelloBelongsIsRefusedWithAnAlert() throws {
        try assertServedDespite(reason: "packet length too long") { reactor, port in
            let socket = try await reactor.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: port))
            defer { socket.close() }
            // A handshake record that claims 64 KiB, past TLS's limit: refused from its header.
            try await reactor.sockSendall(socket, [0x16, 0x03, 0x01, 0xFF, 0xFF] + [UInt8](repeating: 0xAB, count: 1000))
            let reply = try await Self.readUntilClosed(socket, reactor)
            // An alert record (content type 21).
            XCTAssertEqual(reply.first, 21, "an alert record: \(reply)")
        }
    }

    func testAStalledHandshakeTimesOutAndDelaysNoOther() throws {
        try assertServedDespite(reason: "TLS handshake timed out", handshakeTimeout: .seconds(2)) { reactor, port in
                // Half a ClientHello, then nothing: the good client is served meanwhile, and
                // the server closes this one at its handshake timeout.
                let socket = try await reactor.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: port))
                defer { socket.close() }
                try await reactor.sockSendall(socket, [0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                let received = try await reactor.sockRecv(socket, maxBytes: 4096)
                XCTAssertEqual(received, [], "closed at the handshake timeout")
        }
    }

    func testAClientThatVanishesMidHandshakeOrMidStreamIsClosed() throws {
        let openssl = try requireProgram("openssl")
        try assertServedDespite(reason: "recv failed: Connection reset by peer") { reactor, port in
            // Mid-handshake: openssl's client gives up once it has the server's first flight
            // (its -brief connection to a server it can not verify), and a client that sends
            // the start of a ClientHello resets its connection.
            _ = try await runPeer(openssl, ["s_client", "-connect", "127.0.0.1:\(port)", "-verify_return_error", "-brief"], on: reactor)
            let socket = try await reactor.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: port))
            try await reactor.sockSendall(socket, Self.clientHelloPrefix)
            Self.reset(socket)
            // Mid-stream: a TLS client whose socket is reset while the server has replies queued.
            let (reader, writer) = try await openConnection(host: "localhost", port: port, tls: try PKI.clientContext(), on: reactor)
            try writer.write([UInt8](repeating: 7, count: 1 << 20))
            _ = try await reader.read(1)
            Self.reset(writer.handle)
            writer.abort()
        }
    }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN.
    private static func reset(_ handle: IOHandle) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(handle.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        handle.close()
    }

    /// The first bytes of a TLS 1.2 ClientHello record.
    static let clientHelloPrefix: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xC8, 0x01, 0x00, 0x00, 0xC4, 0x03, 0x03]
}
