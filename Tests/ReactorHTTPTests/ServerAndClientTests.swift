import Foundation
import Glibc
import HTTPTypes
import TestSupport
import XCTest

import Reactor
import ReactorHTTP
import ReactorStreams
import ReactorTLS

/// Runs `body` on a fresh reactor, bounded by `timeout`.
func runReactor<T: Sendable>(timeout: Duration = .seconds(60), _ body: @escaping @Sendable (Reactor) async throws -> T) throws -> T {
    try Reactor.run { reactor in try await reactor.withTimeout(timeout) { try await body(reactor) } }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The library's server, in this process, with handlers of the tests' own, and its client
/// against it, against reactor-http, and against nginx (plain and TLS).
final class ServerAndClientTests: XCTestCase {
    /// A handler with a route per behaviour the tests look at.
    @Sendable static func routes(_ request: HTTPServerRequest, _ response: HTTPResponseWriter) async throws {
        switch request.path {
        case "/peer":
            try response.respond(body: "\(request.remoteAddress?.port ?? -1)")
        case "/request":
            // The head as swift-http-types sees it.
            let converted = request.httpRequest
            let fields = converted.headerFields
            try response.respond(
                body: "\(converted.method) \(converted.scheme ?? "-") \(converted.authority ?? "-") \(converted.path ?? "-") "
                    + "\(fields[.userAgent] ?? "-") \(request[.userAgent] ?? "-") \(request.fieldCount)")
        case "/chunks":
            try response.writeHead(headerFields: [.contentType: "text/plain"])
            for index in 0..<5 {
                try await response.write(Array("chunk \(index)\n".utf8))
                try await Reactor.current!.sleep(for: .milliseconds(10))
            }
            try response.end(trailers: [HTTPField.Name("X-Checksum")!: "5"])
        case "/nocontent":
            // A body given with 204 is not sent: the next response on the connection stays framed.
            try response.respond(.noContent, body: "dropped")
        case "/redirect":
            try response.respond(.found, headerFields: [.location: "/peer"])
        case "/slow":
            try await Reactor.current!.sleep(for: .seconds(30))
            try response.respond(body: "late")
        case "/throws":
            throw CancellationError()
        case "/sum":
            var total = 0
            for try await chunk in request.body { total += chunk.reduce(0) { $0 + Int($1) } }
            try response.respond(body: "\(total)")
        default:
            try response.respond(.notFound)
        }
    }

    func testClientReusesItsConnection() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            var ports: Set<String> = []
            for _ in 0..<3 {
                let response = try await client.get("http://127.0.0.1:\(server.port)/peer")
                XCTAssertEqual(response.status, .ok)
                let body = try await response.body.collect(upTo: 100)
                ports.insert(text(body))
                XCTAssertEqual(client.idleConnectionCount, 1)
            }
            XCTAssertEqual(ports.count, 1, "three requests, \(ports.count) connections")
            client.shutdown()
            await server.shutdownGracefully()
        }
    }

    func testNoContentAndHeadResponsesKeepTheConnection() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            let empty = try await client.get("http://127.0.0.1:\(server.port)/nocontent")
            XCTAssertEqual(empty.status, .noContent)
            XCTAssertEqual(client.idleConnectionCount, 1, "a 204 kept its connection from the pool")
            let head = try await client.execute(.head, "http://127.0.0.1:\(server.port)/chunks")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(client.idleConnectionCount, 1)
            let after = try await client.get("http://127.0.0.1:\(server.port)/peer")
            let port = try await after.body.collect(upTo: 100)
            XCTAssertNotNil(Int(text(port)), text(port))
            await server.shutdownGracefully()
        }
    }

    func testRequestHeadConvertsToHTTPTypes() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            let response = try await client.get("http://127.0.0.1:\(server.port)/request?x=1", headerFields: [.userAgent: "tests/1"])
            let answer = try await response.body.collect(upTo: 1000)
            XCTAssertEqual(text(answer), "GET http 127.0.0.1:\(server.port) /request?x=1 tests/1 tests/1 2")
            await server.shutdownGracefully()
        }
    }

    /// A chunked response arrives chunk by chunk, its trailers read past.
    func testChunkedResponseStreams() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            let response = try await client.get("http://127.0.0.1:\(server.port)/chunks")
            XCTAssertEqual(response.headerFields[.transferEncoding], "chunked")
            var chunks: [String] = []
            for try await chunk in response.body { chunks.append(text(chunk)) }
            XCTAssertEqual(chunks, (0..<5).map { "chunk \($0)\n" })
            XCTAssertEqual(client.idleConnectionCount, 1)
            await server.shutdownGracefully()
        }
    }

    func testStreamedRequestBody() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
            let response = try await client.post("http://127.0.0.1:\(server.port)/sum", body: body)
            let answer = try await response.body.collect(upTo: 100)
            XCTAssertEqual(text(answer), "\(body.reduce(0) { $0 + Int($1) })")
            await server.shutdownGracefully()
        }
    }

    func testRedirectsAreOffUnlessAsked() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            let response = try await client.get("http://127.0.0.1:\(server.port)/redirect")
            XCTAssertEqual(response.status, .found)
            XCTAssertEqual(response.headerFields[.location], "/peer")
            var configuration = HTTPClient.Configuration()
            configuration.followRedirects = true
            let following = try HTTPClient(configuration: configuration)
            let followed = try await following.get("http://127.0.0.1:\(server.port)/redirect")
            XCTAssertEqual(followed.status, .ok)
            let answer = try await followed.body.collect(upTo: 100)
            XCTAssertNotNil(Int(text(answer)))
            await server.shutdownGracefully()
        }
    }

    func testRequestTimeout() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            var configuration = HTTPClient.Configuration()
            configuration.requestTimeout = .milliseconds(300)
            let client = try HTTPClient(configuration: configuration)
            do {
                _ = try await client.get("http://127.0.0.1:\(server.port)/slow")
                XCTFail("a request the server never answered returned")
            } catch let error as HTTPClientError {
                XCTAssertTrue(error.description.contains("timed out"), error.description)
            }
            server.close()
        }
    }

    /// A handler that throws before answering gets a 500, and the connection closes.
    func testFailingHandlerIs500() throws {
        try runReactor { reactor in
            let server = try await HTTPServer.start(port: 0, handler: Self.routes)
            let client = try HTTPClient()
            let response = try await client.get("http://127.0.0.1:\(server.port)/throws")
            XCTAssertEqual(response.status, .internalServerError)
            XCTAssertEqual(response.headerFields[.connection], "close")
            _ = try await response.body.collect(upTo: 1000)
            XCTAssertEqual(client.idleConnectionCount, 0)
            await server.shutdownGracefully()
        }
    }

    /// The library's server over TLS with ALPN, and the client verifying it.
    func testHTTPSBothWays() throws {
        try runReactor { reactor in
            var serverTLS = TLSConfiguration.server(
                certificateChain: .file(TestPKI.path("server.pem")), privateKey: .file(TestPKI.path("server-key.pem")))
            serverTLS.applicationProtocols = ["http/1.1"]
            let server = try await HTTPServer.start(port: 0, tls: try TLSContext(serverTLS), handler: Self.routes)
            var configuration = HTTPClient.Configuration()
            configuration.tls = try TLSContext(.client(trustRoots: .certificates(.file(TestPKI.path("ca.pem"))), applicationProtocols: ["http/1.1"]))
            let client = try HTTPClient(configuration: configuration)
            let response = try await client.get("https://localhost:\(server.port)/request")
            let answer = try await response.body.collect(upTo: 1000)
            XCTAssertTrue(text(answer).hasPrefix("GET https localhost:\(server.port) /request"))
            // The system's trust store does not know the test CA: verification fails.
            let unverified = try HTTPClient()
            do {
                _ = try await unverified.get("https://localhost:\(server.port)/request")
                XCTFail("a certificate of an unknown CA was accepted")
            } catch let error as TLSError {
                XCTAssertTrue("\(error)".contains("certificate"), "\(error)")
            }
            await server.shutdownGracefully()
        }
    }

    /// The README's example, run.
    func testReadmeExample() throws {
        let printed = LockedText()
        @Sendable func print(_ items: any Sendable...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }
        try Reactor.run { reactor in
            let server = try await HTTPServer.start(port: 0) { request, response in
                switch (request.method, request.path) {
                case (.get, "/hello"):
                    try response.respond(headerFields: [.contentType: "text/plain"], body: "Hello\n")
                case (.post, "/upload"):                          // the body streams in as it is read
                    var size = 0
                    for try await chunk in request.body { size += chunk.count }
                    try response.respond(body: "\(size) bytes\n")
                default:
                    try response.respond(.notFound)
                }
            }
            let client = try HTTPClient()                           // aiohttp's ClientSession
            let reply = try await client.get("http://127.0.0.1:\(server.port)/hello")
            print(reply.status, String(decoding: try await reply.body.collect(upTo: 1 << 20), as: UTF8.self))
            let upload = try await client.post("http://127.0.0.1:\(server.port)/upload", body: Array(repeating: 1, count: 100_000))
            let uploaded = try await upload.body.collect(upTo: 100)
            XCTAssertEqual(text(uploaded), "100000 bytes\n")
            await server.shutdownGracefully()
        }
        XCTAssertEqual(printed.text, "200 OK Hello\n")
    }

    // MARK: - Against reactor-http and nginx

    func testClientAgainstReactorHTTP() throws {
        let process = try ServerProcess("reactor-http", ["--port", "0"])
        try runReactor { reactor in
            let client = try HTTPClient()
            let plaintext = try await client.get("http://127.0.0.1:\(process.port)/plaintext")
            let answer = try await plaintext.body.collect(upTo: 100)
            XCTAssertEqual(text(answer), "Hello, World!")
            let payload = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let echo = try await client.post("http://127.0.0.1:\(process.port)/echo", body: payload)
            var received: [UInt8] = []
            var pieces = 0
            for try await chunk in echo.body {
                received += chunk
                pieces += 1
            }
            XCTAssertEqual(received, payload)
            XCTAssertGreaterThan(pieces, 1, "the body came in one piece: not streamed")
            XCTAssertEqual(client.idleConnectionCount, 1)
        }
    }

    func testClientAgainstNginx() throws {
        let nginx = try NginxProcess()
        try runReactor { reactor in
            let client = try HTTPClient()
            for _ in 0..<3 {
                let response = try await client.get("http://127.0.0.1:\(nginx.port)/plaintext")
                XCTAssertEqual(response.status, .ok)
                let answer = try await response.body.collect(upTo: 100)
                XCTAssertEqual(text(answer), "Hello, World!")
            }
            XCTAssertEqual(client.idleConnectionCount, 1)
            let file = try await client.get("http://127.0.0.1:\(nginx.port)/file")
            XCTAssertEqual(file.status, .ok)
            let fileBytes = try await file.body.collect(upTo: 1 << 20)
            XCTAssertEqual(fileBytes.count, NginxProcess.fileSize)
            let missing = try await client.get("http://127.0.0.1:\(nginx.port)/missing")
            XCTAssertEqual(missing.status, .notFound)
            _ = try await missing.body.collect(upTo: 1 << 20)

            var configuration = HTTPClient.Configuration()
            configuration.tls = try TLSContext(.client(trustRoots: .certificates(.file(TestPKI.path("ca.pem")))))
            let secure = try HTTPClient(configuration: configuration)
            for _ in 0..<2 {
                let response = try await secure.get("https://localhost:\(nginx.tlsPort)/plaintext")
                let answer = try await response.body.collect(upTo: 100)
                XCTAssertEqual(text(answer), "Hello, World!")
            }
            XCTAssertEqual(secure.idleConnectionCount, 1)
        }
    }
}

/// What a test's `print` printed.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

/// nginx with a config written at test time: `/plaintext`, a static file, plain and TLS.
final class NginxProcess: @unchecked Sendable {
    static let fileSize = 300_000
    let process: ServerProcess
    let port: Int
    let tlsPort: Int
    let directory: String

    init() throws {
        guard let nginx = findExecutable("nginx") else { throw XCTSkip("nginx is not installed (.ci/run installs nginx-light)") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-http-nginx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory + "/html", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/html/file", contents: Data(repeating: 65, count: Self.fileSize)))
        port = try freePort()
        tlsPort = try freePort()
        let config = """
            worker_processes 1;
            master_process off;
            daemon off;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(directory);
                proxy_temp_path \(directory);
                fastcgi_temp_path \(directory);
                uwsgi_temp_path \(directory);
                scgi_temp_path \(directory);
                gzip off;
                server {
                    listen 127.0.0.1:\(port);
                    listen 127.0.0.1:\(tlsPort) ssl;
                    ssl_certificate \(TestPKI.path("server.pem"));
                    ssl_certificate_key \(TestPKI.path("server-key.pem"));
                    root \(directory)/html;
                    chunked_transfer_encoding on;
                    location /plaintext { default_type text/plain; return 200 "Hello, World!"; }
                }
            }
            """
        try config.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        process = try ServerProcess(program: nginx, ["-c", directory + "/nginx.conf", "-p", directory, "-e", directory + "/error.log"], port: port)
    }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
