import Foundation
import TestSupport
import XCTest

import Reactor
import ReactorStreams
import ReactorTLS

/// The TLS examples of the README and of the ReactorTLS catalog (DocumentationExamplesTests
/// checks that each is quoted here). The ones on a fixed port or the network are compiled and
/// not run; the STARTTLS one runs.
final class TLSDocumentationExamples: XCTestCase {
    /// README, "TLS".
    static func serverExample() throws {
        try Reactor.run { reactor in
            // asyncio.start_server(ssl=context): each connection's handshake runs in its own task.
            let tls = try TLSContext(.server(certificateChain: .file("cert.pem"), privateKey: .file("key.pem")))
            let server = try await startServer(host: "127.0.0.1", port: 8443, tls: tls) { reader, writer in
                for try await line in reader.lines { try writer.write(Array("\(line)\n".utf8)) }
            }
            try await server.serveForever()
        }
    }

    /// The catalog's overview: a client of a server on the internet (no network here).
    static func clientExample() throws {
        try Reactor.run { reactor in
            // A client: verified against the system's trust store; SNI and the name checked are the host.
            let (reader, writer) = try await openConnection(host: "example.com", port: 443, tls: .defaultClient)
            try writer.write(Array("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".utf8))
            let response = try await reader.read()                 // to the server's close_notify
            print(writer.tls!.protocolVersion, writer.tls!.cipherSuite, response.count)
        }
    }

    /// The catalog's STARTTLS example, against a server that answers "GO" then starts TLS.
    func testTheCatalogsStartTLSExample() throws {
        let serverContext = try PKI.serverContext()
        let client = try PKI.clientContext()
        let upgraded = AtomicCount()
        try runReactor { reactor in
            let server = try await StartTLSTests.startTLSServer(serverContext, on: reactor)
            defer { server.close() }
            let port = server.port!
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
            defer { writer.close() }
            try writer.write(Array("STARTTLS\n".utf8))
            guard try await reader.readLine() == Array("GO\n".utf8) else { return }
            try await writer.startTLS(client, serverName: "localhost")   // the same streams, now over TLS
            XCTAssertEqual(writer.tls?.protocolVersion, "TLSv1.3")
            upgraded.increment()
        }
        XCTAssertEqual(upgraded.value, 1, "the server did not answer GO")
    }
}
