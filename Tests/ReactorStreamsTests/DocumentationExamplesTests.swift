import Foundation
import Logging
import Reactor
import ReactorServiceLifecycle
import ReactorStreams
import ServiceLifecycle
import TestSupport
import XCTest

/// Every Swift block of the README and of the DocC articles is compiled as part of a test:
/// a test quotes it, its lines in order (an assertion may stand between two of them). The
/// examples that serve forever on a fixed port are compiled here and not run; the others run
/// here or in the tests that quote them (AsyncioMappingTests, SubprocessTests).
final class DocumentationExamplesTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The lines that must be quoted: not blank, no import (a test file imports at its top).
    private static func codeLines(_ text: Substring) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("import ") }
    }

    /// Whether `block` appears in `file` in order, with at most `gap` other lines between two
    /// of its lines.
    private static func quotes(_ file: [String], _ block: [String], gap: Int = 3) -> Bool {
        file.indices.contains { start in
            guard file[start] == block[0] else { return false }
            var position = start
            for line in block.dropFirst() {
                guard let next = file[(position + 1)..<min(file.count, position + 2 + gap)].firstIndex(of: line) else { return false }
                position = next
            }
            return true
        }
    }

    func testEverySwiftBlockOfTheReadmeAndTheArticlesIsQuotedByATest() throws {
        let files = FileManager.default
        func swiftFiles(under folder: String) -> [URL] {
            let enumerator = files.enumerator(at: Self.root.appendingPathComponent(folder), includingPropertiesForKeys: nil)
            return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "swift" }
        }
        let tests = try swiftFiles(under: "Tests").map { try Self.codeLines(Substring(String(contentsOf: $0, encoding: .utf8))) }
        let articles = ["Sources/Reactor/Reactor.docc", "Sources/ReactorStreams/ReactorStreams.docc", "Sources/ReactorTLS/ReactorTLS.docc"].flatMap { folder in
            (try? files.contentsOfDirectory(atPath: Self.root.appendingPathComponent(folder).path))?.filter { $0.hasSuffix(".md") }.map { "\(folder)/\($0)" } ?? []
        }
        var checked = 0
        for document in ["README.md"] + articles.sorted() {
            let text = try String(contentsOf: Self.root.appendingPathComponent(document), encoding: .utf8)
            for block in text.components(separatedBy: "```swift\n").dropFirst().map({ $0.components(separatedBy: "```")[0] }) {
                let lines = Self.codeLines(Substring(block))
                // A manifest fragment says so in its first line: it is Package.swift's, not a test's.
                if lines.isEmpty || lines[0].contains("Package.swift") { continue }
                checked += 1
                XCTAssertTrue(tests.contains { Self.quotes($0, lines) }, "\(document): no test quotes the block that begins \"\(lines[0])\"")
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 14, "the blocks were not found")
    }

    // MARK: - Compiled, not run: they serve forever on a fixed port

    /// README, "Streams"; and the ReactorStreams catalog's overview.
    static func streamsExample() throws {
        try Reactor.run { reactor in
            // asyncio.start_server: one task per connection, on the reactor's thread.
            let server = try await startServer(host: "127.0.0.1", port: 8888) { reader, writer in
                for try await line in reader.lines {          // or readLine(), readUntil(_:), readExactly(_:), read(_:)
                    try writer.write(Array("you said: \(line)\n".utf8))
                    try await writer.drain()                  // back-pressure: waits above the high-water mark
                }
            }
            try await server.serveForever()
        }
    }

    /// README, "The sock level"; and the Reactor catalog's overview.
    static func sockLevelExample() throws {
        // asyncio.run(main()): the loop runs on this thread until the body returns.
        try Reactor.run { reactor in
            let listener = try await reactor.listen(on: SocketAddress(ipAddress: "127.0.0.1", port: 8888))
            while true {
                let (connection, _) = try await reactor.sockAccept(listener)      // loop.sock_accept
                Task(executorPreference: reactor) {                               // runs on the loop thread
                    defer { connection.close() }
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
                    defer { buffer.deallocate() }
                    while true {
                        let count = try await reactor.sockRecv(connection, into: buffer)  // sock_recv_into; 0 = EOF
                        if count == 0 { return }
                        try await reactor.sockSendall(connection, UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
                    }
                }
            }
        }
    }

    /// The ReactorStreams catalog's overview, "State shared by the connections".
    static func loopBoundExample() throws {
        try Reactor.run { reactor in
            let hits = LoopBound([String: Int](), on: reactor)      // the loop thread's: no lock
            let server = try await startServer(host: "127.0.0.1", port: 8888) { reader, writer in
                for try await line in reader.lines {
                    hits.value[line, default: 0] += 1
                    try writer.write(Array("\(line): \(hits.value[line]!)\n".utf8))
                }
            }
            try await server.serveForever()
        }
    }

    /// The ReactorStreams catalog's overview, "Every core"; and README, "Every core".
    static func groupServerExample() throws {
        try ReactorGroup.run { group in          // a reactor per CPU, each on a thread of its own
            let server = try await startServer(host: "127.0.0.1", port: 8888, group: group) { reader, writer in
                for try await line in reader.lines {          // on the reactor that accepted the connection
                    try writer.write(Array("you said: \(line)\n".utf8))
                }
            }
            try await server.serveForever()
        }
    }

    /// The ReactorStreams catalog's overview, "Seeing inside a running server".
    static func monitorExample() throws {
        try Reactor.run { reactor in
            let server = try await startServer(port: 8080) { reader, writer in
                for try await line in reader.lines { try writer.write(Array("\(line)\n".utf8)) }
            }
            let monitor = try await ReactorMonitor.start(path: "/tmp/echo.monitor", reactors: [reactor])
            try await server.serveForever()                 // meanwhile: nc -U /tmp/echo.monitor, then ps
            await monitor.stop()
        }
    }

    /// The ReactorStreams catalog's overview, "Bounds for a public server".
    static func publicServerBoundsExample() throws {
        try Reactor.run { reactor in
            let options = ServerOptions(idleTimeout: .seconds(60), maxConnections: 10_000)
            let server = try await startServer(port: 8080, options: options) { reader, writer in
                while true {
                    // Each request line within 10 s, however slowly the client sends it.
                    let line = try await reader.withTimeout(.seconds(10)) { try await reader.readLine() }
                    if line.isEmpty { return }
                    try writer.write(line)
                }
            }
            try await server.serveForever()
        }
    }

    /// README, "Graceful shutdown".
    static func gracefulShutdownExample() throws {
        try Reactor.run { reactor in
            let logger = Logger(label: "echo")
            let server = try await startServer(port: 8080) { reader, writer in
                for try await line in reader.lines { try writer.write(Array("\(line)\n".utf8)) }
            }
            server.gracePeriod = .seconds(5)
            let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger)
            try await group.run()    // SIGTERM: stop accepting, let handlers finish for 5 s, cut the rest
        }
    }

    // MARK: - Run

    /// The ReactorStreams catalog's overview, "Parsing in place": frames larger than the
    /// reader's line limit are parsed in place, a declared size past the frame limit is refused
    /// before its bytes are waited for, and the line limit still holds for lines.
    func testTheNetstringReader() throws {
        try runReactor { reactor in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            let reader = StreamReader(readEnd)
            let writer = StreamWriter(writeEnd)
            defer { readEnd.close(); writer.abort() }
            let big = randomBytes(1 << 20, seed: 9)
            let writing = Task(executorPreference: reactor) {
                try writer.write(Array("5:hello,".utf8) + Array("\(big.count):".utf8) + big + Array(",".utf8))
                // 2 MB declared, none of it sent: the parser must refuse it from its header.
                try writer.write(Array("2000000:".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 70_000) + Array("\n".utf8))
                try await writer.drain()
            }
            let hello = try await readNetstring(reader)
            XCTAssertEqual(hello, Array("hello".utf8))
            let payload = try await readNetstring(reader)
            XCTAssertTrue(payload == big, "the 1 MiB netstring came back different")
            do {
                _ = try await readNetstring(reader)
                XCTFail("a 2 MB netstring was accepted")
            } catch NetstringError.tooLarge {
            }
            // Its bytes stay buffered; as a line they are past the reader's 64 KiB limit.
            do {
                _ = try await reader.readLine()
                XCTFail("a line of 70,009 bytes passed the 64 KiB line limit")
            } catch is LimitOverrunError {
            }
            try await writing.value
        }
    }

    /// The ReactorStreams catalog's "Streams over any handle".
    func testTheActorIsolatedToTheLoop() throws {
        actor Session {
            let reactor: Reactor
            nonisolated var unownedExecutor: UnownedSerialExecutor { reactor.asUnownedSerialExecutor() }
            init(reactor: Reactor) { self.reactor = reactor }

            func echo(_ socket: Socket) async throws {
                while true {
                    let bytes = try await reactor.sockRecv(socket, maxBytes: 4096)
                    if bytes.isEmpty { return }
                    try await reactor.sockSendall(socket, bytes)
                }
            }
        }
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close() }
            let session = Session(reactor: reactor)
            let echoing = Task {
                defer { server.close() }
                try await session.echo(server)
            }
            let payload = randomBytes(100_000, seed: 21)
            let hopsBefore = reactor.statistics().hops
            try await reactor.sockSendall(client, payload)
            try client.shutdown(.write)
            let echoed = try await receive(reactor, client, count: payload.count + 1)
            try await echoing.value
            XCTAssertTrue(echoed == payload)
            XCTAssertEqual(reactor.statistics().hops, hopsBefore, "the session's calls hopped")
        }
    }

    func testStreamsOverAPipe() throws {
        let text = try Reactor.run { reactor -> String in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            let reader = StreamReader(readEnd)
            let writer = StreamWriter(writeEnd)

            let writing = Task(executorPreference: reactor) {
                for number in 1...3 {
                    try writer.write(Array("line \(number)\n".utf8))
                    try await writer.drain()
                }
                writer.close()              // flushes, then closes the write end
                await writer.waitClosed()
            }

            var lines: [String] = []
            for try await line in reader.lines {   // ends at EOF, once the write end is closed
                lines.append(line)
            }
            try await writing.value
            readEnd.close()
            return lines.joined(separator: ", ")
        }
        // text == "line 1, line 2, line 3"
        XCTAssertEqual(text, "line 1, line 2, line 3")
    }
}

// The ReactorStreams catalog's overview, "Parsing in place".
enum NetstringError: Error { case badLength, tooLarge, noComma }

/// One netstring's payload, parsed where it was received.
func readNetstring(_ reader: StreamReader) async throws -> [UInt8] {
    try await reader.withBufferedBytes(upTo: (1 << 20) + 9) { bytes, atEOF in
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            if bytes.count > 7 { throw NetstringError.badLength }  // 8 digits or more
            return (0, nil)                                        // more, please
        }
        guard let length = Int(String(decoding: bytes[..<colon], as: UTF8.self)) else { throw NetstringError.badLength }
        guard length <= 1 << 20 else { throw NetstringError.tooLarge }   // refused before it is waited for
        let end = colon + 1 + length
        guard end < bytes.count else { return (0, nil) }           // the payload and its ',' are not all here
        guard bytes[end] == UInt8(ascii: ",") else { throw NetstringError.noComma }
        return (end + 1, Array(bytes[(colon + 1)..<end]))
    }
}

