import Foundation
import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams
import ReactorTLS

/// Upgrading a live plain connection in place (STARTTLS): a line in the clear, "GO", then
/// TLS on the same socket.
final class StartTLSTests: XCTestCase {
    /// The server side of the STARTTLS exchange, then an echo of one line over TLS.
    static func startTLSServer(_ context: TLSContext, on reactor: Reactor) async throws -> Server {
        try await startServer(host: "127.0.0.1", port: 0, on: reactor) { reader, writer in
            guard text(try await reader.readLine()) == "STARTTLS\n" else { return }
            try writer.write(Array("GO\n".utf8))
            try await writer.drain()
            try await writer.startTLS(context)
            try writer.write(try await reader.readLine())
            try await writer.drain()
        }
    }

    func testBothSidesOurs() throws {
        let serverContext = try PKI.serverContext()
        let clientContext = try PKI.clientContext()
        try runReactor { reactor in
            let server = try await Self.startTLSServer(serverContext, on: reactor)
            defer { server.close() }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!, on: reactor)
            XCTAssertNil(writer.tls)
            try writer.write(Array("STARTTLS\n".utf8))
            let go = text(try await reader.readLine())
            XCTAssertEqual(go, "GO\n")
            try await writer.startTLS(clientContext, serverName: "localhost")
            XCTAssertEqual(writer.tls?.protocolVersion, "TLSv1.3")
            XCTAssertTrue(reader.transport is TLSSession)
            try writer.write(Array("secret\n".utf8))
            let echoed = text(try await reader.readLine())
            XCTAssertEqual(echoed, "secret\n")
            let afterClose = try await reader.read()
            XCTAssertEqual(afterClose, [], "the server's close_notify ends the stream")
            XCTAssertEqual(writer.tls?.receivedCloseNotify, true)
            writer.close()
            await writer.waitClosed()
        }
    }

    func testPythonsStartTLSAgainstOurServer() throws {
        let python = try requireProgram("python3")
        let context = try PKI.serverContext()
        try runReactor(timeout: .seconds(60)) { reactor in
            let server = try await Self.startTLSServer(context, on: reactor)
            defer { server.close() }
            let (status, output) = try await runPeer(
                python, ["\(PKI.testsDirectory)/tls_peers.py", "starttls", "\(server.port!)", PKI.path("ca.pem")], on: reactor)
            XCTAssertEqual(status, 0, output)
            XCTAssertTrue(output.contains("start_tls upgraded to TLSv1.3"), output)
        }
    }

    func testOurStartTLSAgainstPythonsServer() throws {
        let python = try requireProgram("python3")
        let client = try PKI.clientContext()
        try runReactor(timeout: .seconds(60)) { reactor in
            let peer = try await createSubprocessExec(
                python, ["\(PKI.testsDirectory)/tls_peers.py", "serve-starttls", PKI.path("server.pem"), PKI.path("server-key.pem")],
                stdout: .pipe, stderr: .stdout, on: reactor)
            let portLine = text(try await peer.stdout!.readLine())
            let port = try XCTUnwrap(Int(portLine.trimmingCharacters(in: .whitespacesAndNewlines)), portLine)
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port, on: reactor)
            try writer.write(Array("STARTTLS\n".utf8))
            let go = text(try await reader.readLine())
            XCTAssertEqual(go, "GO\n")
            try await writer.startTLS(client, serverName: "localhost")
            try writer.write(Array("over python's tls\n".utf8))
            let echoed = text(try await reader.readLine())
            XCTAssertEqual(echoed, "over python's tls\n")
            writer.close()
            await writer.waitClosed()
            let rest = text(try await peer.stdout!.read())
            let status = try await peer.wait()
            XCTAssertEqual(status, 0, rest)
            XCTAssertTrue(rest.contains("served one STARTTLS client"), rest)
        }
    }

    func testStartTLSRefusesBytesReceivedBeforeTheLayerStarted() throws {
        let clientContext = try PKI.clientContext()
        try runReactor { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0, on: reactor) { reader, writer in
                // "GO" and, at once, bytes that are not TLS: a server that did not wait.
                try writer.write(Array("GO\nearly".utf8))
                try await writer.drain()
                _ = try? await reader.read()
            }
            defer { server.close() }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!, on: reactor)
            defer { writer.abort() }
            let go = text(try await reader.readLine())
            XCTAssertEqual(go, "GO\n")
            try await waitUntil(reactor, "the early bytes arrived") { reader.bufferedCount > 0 }
            do {
                try await writer.startTLS(clientContext, serverName: "localhost")
                XCTFail("started TLS over buffered plaintext")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .invalidState)
                XCTAssertTrue(error.message.contains("5 bytes were received before the layer started"), error.message)
            }
            XCTAssertNil(writer.tls)
        }
    }

    func testAVerifyingClientNeedsTheServersName() throws {
        let clientContext = try PKI.clientContext()
        try runReactor { reactor in
            let server = try await startServer(host: "127.0.0.1", port: 0, on: reactor) { reader, _ in _ = try await reader.read() }
            defer { server.close() }
            let (_, writer) = try await openConnection(host: "127.0.0.1", port: server.port!, on: reactor)
            defer { writer.abort() }
            do {
                try await writer.startTLS(clientContext)
                XCTFail("started TLS with no name to check the certificate against")
            } catch let error as TLSError {
                XCTAssertEqual(error.code, .configuration)
                XCTAssertEqual(error.reason, "a client that verifies the server needs the server's name")
            }
        }
    }

    func testPlainReadsAndWritesAreRefusedWhileTheHandshakeRuns() throws {
        let clientContext = try PKI.clientContext()
        try runReactor { reactor in
            // A server that never answers the ClientHello: once it has it, the handshake waits.
            let hello = Future<[UInt8]>(on: reactor)
            let server = try await startServer(host: "127.0.0.1", port: 0, on: reactor) { reader, _ in
                try hello.setResult(try await reader.read(5))
                _ = try await reader.read()
            }
            defer { server.close() }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: server.port!, on: reactor)
            let handshake = Task(executorPreference: reactor) { try await writer.startTLS(clientContext, serverName: "localhost") }
            let record = try await hello.value()
            XCTAssertEqual(record.first, 0x16, "a handshake record")
            XCTAssertThrowsError(try writer.write(Array("plain".utf8))) { error in
                XCTAssertEqual((error as? ReactorError)?.code, .invalidState, "\(error)")
            }
            do {
                _ = try await reader.read(1)
                XCTFail("read plain bytes during the handshake")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .busy, "\(error)")
            }
            // Closing the connection ends the handshake (EBADF).
            writer.abort()
            await assertThrows(SystemCallError.self, handshake)
        }
    }

    func testHalfClosingATLSStreamIsRefusedAsAsyncioDoes() throws {
        let serverContext = try PKI.serverContext()
        let clientContext = try PKI.clientContext()
        try runReactor { reactor in
            let server = try await startTLSEchoServer(serverContext, on: reactor)
            defer { server.close() }
            let (_, writer) = try await openConnection(host: "localhost", port: server.port!, tls: clientContext, on: reactor)
            XCTAssertThrowsError(try writer.writeEOF()) { error in
                XCTAssertEqual((error as? ReactorError)?.code, .invalidState)
            }
            writer.close()
            await writer.waitClosed()
        }
    }
}
