import Foundation
import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams
import ReactorTLS

/// Our client against servers nobody here wrote: `openssl s_server` and redis-server's TLS
/// port, with verification on against a CA made at test time.
final class TLSClientTests: XCTestCase {
    /// `openssl s_server -rev` (each line back reversed) on a free port, ready once it prints
    /// ACCEPT; stopped when `body` returns.
    private static func withOpenSSLServer(
        certificate: String = "server", _ extra: [String] = [], on reactor: Reactor, _ body: (Int) async throws -> Void
    ) async throws {
        let openssl = try requireProgram("openssl")
        let port = try freePort()
        let server = try await createSubprocessExec(
            openssl,
            ["s_server", "-accept", "\(port)", "-cert", PKI.path("\(certificate).pem"), "-key", PKI.path("\(certificate)-key.pem"), "-rev"]
                + extra,
            stdin: .devNull, stdout: .pipe, stderr: .stdout, on: reactor)
        while true {
            let line = try await server.stdout!.readLine()
            if line.isEmpty { throw TestFailure("s_server exited before it accepted") }
            if text(line).hasPrefix("ACCEPT") { break }
        }
        do {
            try await body(port)
        } catch {
            _ = try? await server.waitOrKill()
            throw error
        }
        try server.terminate()
        _ = try await server.wait()
    }

    private static func reverseEcho(_ reader: StreamReader, _ writer: StreamWriter) async throws -> String {
        try writer.write(Array("hello\n".utf8))
        return text(try await reader.readLine())
    }

    func testVerifiesOpenSSLServerAgainstTheTestCAAndSendsSNI() throws {
        let client = try PKI.clientContext()
        try runReactor(timeout: .seconds(30)) { reactor in
            try await Self.withOpenSSLServer(on: reactor) { port in
                let (reader, writer) = try await openConnection(host: "localhost", port: port, tls: client, on: reactor)
                let reversed = try await Self.reverseEcho(reader, writer)
                XCTAssertEqual(reversed, "olleh\n")
                XCTAssertEqual(writer.tls?.protocolVersion, "TLSv1.3")
                XCTAssertEqual(writer.tls?.serverName, "localhost")
                XCTAssertEqual(writer.tls?.peerCertificate?.subject, "CN=localhost")
                writer.close()
                await writer.waitClosed()
            }
        }
    }

    func testAnAddressIsCheckedAgainstTheCertificatesIPNames() throws {
        let client = try PKI.clientContext()
        try runReactor(timeout: .seconds(30)) { reactor in
            try await Self.withOpenSSLServer(on: reactor) { port in
                let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port, tls: client, on: reactor)
                let reversed = try await Self.reverseEcho(reader, writer)
                XCTAssertEqual(reversed, "olleh\n")
                XCTAssertNil(writer.tls?.serverName, "an address is sent as no SNI")
                writer.close()
                await writer.waitClosed()
            }
        }
    }

    /// Each refusal names its reason, and leaves no fd behind (runReactor counts them).
    private func assertRefused(
        certificate: String = "server", trusting authority: String = "ca.pem", serverName: String = "localhost", reason: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let client = try PKI.clientContext(trusting: authority)
        try runReactor(timeout: .seconds(30), file: file, line: line) { reactor in
            try await Self.withOpenSSLServer(certificate: certificate, on: reactor) { port in
                do {
                    _ = try await openConnection(host: "127.0.0.1", port: port, tls: client, serverName: serverName, on: reactor)
                    XCTFail("connected", file: file, line: line)
                } catch let error as TLSError {
                    XCTAssertEqual(error.code, .certificateVerificationFailed, "\(error)", file: file, line: line)
                    XCTAssertEqual(error.reason, reason, file: file, line: line)
                }
            }
        }
    }

    func testAWrongHostnameIsRefused() throws {
        try assertRefused(serverName: "wrong.example", reason: "hostname mismatch")
    }

    func testAnUnknownCAIsRefused() throws {
        try assertRefused(trusting: "other-ca.pem", reason: "unable to get local issuer certificate")
    }

    func testAnExpiredCertificateIsRefused() throws {
        try assertRefused(certificate: "expired", reason: "certificate has expired")
    }

    func testTheSystemStoreDoesNotTrustTheTestCA() throws {
        try runReactor(timeout: .seconds(30)) { reactor in
            try await Self.withOpenSSLServer(on: reactor) { port in
                do {
                    _ = try await openConnection(host: "localhost", port: port, tls: .defaultClient, on: reactor)
                    XCTFail("connected")
                } catch let error as TLSError {
                    XCTAssertEqual(error.code, .certificateVerificationFailed)
                }
            }
        }
    }

    func testALPNIsAgreed() throws {
        let client = try PKI.clientContext { $0.applicationProtocols = ["h2", "http/1.1"] }
        try runReactor(timeout: .seconds(30)) { reactor in
            try await Self.withOpenSSLServer(["-alpn", "http/1.1,redis"], on: reactor) { port in
                let (_, writer) = try await openConnection(host: "localhost", port: port, tls: client, on: reactor)
                XCTAssertEqual(writer.tls?.applicationProtocol, "http/1.1")
                writer.close()
                await writer.waitClosed()
            }
        }
    }

    func testMutualTLSWithAndWithoutAClientCertificate() throws {
        let withCertificate = try PKI.clientContext {
            $0.certificateChain = .file(PKI.path("client.pem"))
            $0.privateKey = .file(PKI.path("client-key.pem"))
        }
        let without = try PKI.clientContext()
        try runReactor(timeout: .seconds(30)) { reactor in
            try await Self.withOpenSSLServer(["-Verify", "1", "-CAfile", PKI.path("ca.pem")], on: reactor) { port in
                let (reader, writer) = try await openConnection(host: "localhost", port: port, tls: withCertificate, on: reactor)
                let reversed = try await Self.reverseEcho(reader, writer)
                XCTAssertEqual(reversed, "olleh\n")
                writer.close()
                await writer.waitClosed()
            }
            try await Self.withOpenSSLServer(["-Verify", "1", "-CAfile", PKI.path("ca.pem")], on: reactor) { port in
                // TLS 1.3: the client's handshake ends before the server checks its certificate,
                // so the refusal comes as an alert, on the first read.
                do {
                    let (reader, writer) = try await openConnection(host: "localhost", port: port, tls: without, on: reactor)
                    defer { writer.abort() }
                    _ = try await Self.reverseEcho(reader, writer)
                    XCTFail("served without a client certificate")
                } catch let error as TLSError {
                    XCTAssertEqual(error.reason, "tlsv13 alert certificate required", "\(error)")
                } catch let error as ReactorError where error.code == .connectionLost {
                    // Its reset, when it came before the request was written.
                    XCTAssertEqual(error.cause?.errno, ECONNRESET, "\(error)")
                }
            }
        }
    }

    // MARK: - redis-server's TLS

    private func redisServerWithTLS(authenticatingClients: Bool) throws -> ServerProcess {
        let path = try requireProgram("redis-server")
        let port = try freePort()
        return try ServerProcess(
            program: path,
            ["--port", "0", "--tls-port", "\(port)", "--tls-cert-file", PKI.path("server.pem"), "--tls-key-file", PKI.path("server-key.pem"),
             "--tls-ca-cert-file", PKI.path("ca.pem"), "--tls-auth-clients", authenticatingClients ? "yes" : "no",
             "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            port: port)
    }

    private static func ping(port: Int, _ client: TLSContext, on reactor: Reactor) async throws -> String {
        let (reader, writer) = try await openConnection(host: "localhost", port: port, tls: client, on: reactor)
        defer { writer.close() }
        try writer.write(Array("*1\r\n$4\r\nPING\r\n".utf8))
        return text(try await reader.readLine())
    }

    func testOurClientAgainstRedisServersTLSPort() throws {
        let redis = try redisServerWithTLS(authenticatingClients: false)
        let client = try PKI.clientContext()
        try runReactor(timeout: .seconds(30)) { reactor in
            let reply = try await Self.ping(port: redis.port, client, on: reactor)
            XCTAssertEqual(reply, "+PONG\r\n")
        }
        XCTAssertEqual(redis.stop(), 0)
    }

    func testMutualTLSWithRedisServer() throws {
        let redis = try redisServerWithTLS(authenticatingClients: true)
        let withCertificate = try PKI.clientContext {
            $0.certificateChain = .file(PKI.path("client.pem"))
            $0.privateKey = .file(PKI.path("client-key.pem"))
        }
        let without = try PKI.clientContext()
        try runReactor(timeout: .seconds(30)) { reactor in
            let reply = try await Self.ping(port: redis.port, withCertificate, on: reactor)
            XCTAssertEqual(reply, "+PONG\r\n")
            // The server's alert, or its reset when it came before the request was written.
            do {
                let refused = try await Self.ping(port: redis.port, without, on: reactor)
                XCTFail("redis-server answered a client without a certificate: \(refused)")
            } catch let error as TLSError {
                XCTAssertEqual(error.reason, "tlsv13 alert certificate required", "\(error)")
            } catch let error as ReactorError where error.code == .connectionLost {
                // With io_uring's receives in completion mode, the receive may take the reset
                // first, and the request's send then meets EPIPE.
                let resets = reactor.backend == .ioUring ? [ECONNRESET, EPIPE] : [ECONNRESET]
                XCTAssertTrue(resets.contains(error.cause?.errno ?? 0), "\(error)")
            }
        }
        XCTAssertEqual(redis.stop(), 0)
    }
}
