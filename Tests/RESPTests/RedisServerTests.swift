import Glibc
import XCTest

@testable import RESP
import Reactor
import ReactorStreams

/// The RESP server in this process, over loopback, byte for byte.
final class RedisServerTests: XCTestCase {
    /// Starts a server on the reactor, connects to it, and runs `body` with the connection.
    private func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (StreamReader, StreamWriter, RedisServer) async throws -> T
    ) throws -> T {
        try runReactor { reactor in
            let redis = try await RedisServer.start(port: 0)
            defer { redis.server.close() }
            let (reader, writer) = try await openConnection(host: "127.0.0.1", port: redis.server.port!)
            defer { writer.close() }
            return try await body(reader, writer, redis)
        }
    }

    func testTenThousandPipelinedCommandsInOneWriteGetTheirRepliesInOrder() throws {
        var requests: [UInt8] = []
        var expected: [UInt8] = []
        for index in 0..<10_000 {
            switch index % 4 {
            case 0:
                requests += request("SET", "key:\(index)", "value:\(index)")
                expected += Array("+OK\r\n".utf8)
            case 1:
                requests += request("GET", "key:\(index - 1)")
                expected += Array("$\("value:\(index - 1)".utf8.count)\r\nvalue:\(index - 1)\r\n".utf8)
            case 2:
                requests += request("INCR", "counter")
                expected += Array(":\(index / 4 + 1)\r\n".utf8)
            default:
                requests += Array("PING\r\n".utf8)  // inline, between multibulk requests
                expected += Array("+PONG\r\n".utf8)
            }
        }
        let (allRequests, allExpected) = (requests, expected)
        let (replies, keys) = try withConnection { reader, writer, redis in
            let expected = allExpected
            try writer.write(allRequests)
            let replies = try await readBytes(reader, count: expected.count)
            return (replies, redis.database.count)
        }
        XCTAssertEqual(replies.count, expected.count)
        XCTAssertTrue(replies == expected, "the replies differ from the expected bytes")
        XCTAssertEqual(keys, 2_501)
    }

    func testErrorsGetRedisRepliesAndTheConnectionStaysUsable() throws {
        let exchanges: [([UInt8], String)] = [
            (request("NOSUCH", "a", "b"), "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"),
            (request("GET"), "-ERR wrong number of arguments for 'get' command\r\n"),
            (request("LPUSH", "list", "x"), ":1\r\n"),
            (request("GET", "list"), "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            (request("INCR", "list"), "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            (request("SET", "n", "x"), "+OK\r\n"),
            (request("INCR", "n"), "-ERR value is not an integer or out of range\r\n"),
            (request("SET", "k", "v", "EX", "0"), "-ERR invalid expire time in 'set' command\r\n"),
            (request("SET", "k", "v", "BOGUS"), "-ERR syntax error\r\n"),
            (request("SELECT", "1"), "-ERR DB index is out of range\r\n"),
            (request("PING"), "+PONG\r\n"),
        ]
        let replies = try withConnection { reader, writer, _ in
            var replies: [String] = []
            for (request, expected) in exchanges {
                try writer.write(request)
                replies.append(text(try await readBytes(reader, count: expected.utf8.count)))
            }
            return replies
        }
        XCTAssertEqual(replies, exchanges.map(\.1))
    }

    func testAMalformedFrameGetsAProtocolErrorAndTheConnectionIsClosed() throws {
        for (frame, error) in [
            ("*1\r\n+PING\r\n", "expected '$', got '+'"),
            ("*x\r\n", "invalid multibulk length"),
            ("*1048577\r\n", "invalid multibulk length"),
            ("*1\r\n$536870913\r\n", "invalid bulk length"),
            ("SET k \"unbalanced\r\n", "unbalanced quotes in request"),
        ] {
            let received = try withConnection { reader, writer, _ in
                try writer.write(Array(frame.utf8))
                return text(try await reader.read())  // until the server closes
            }
            XCTAssertEqual(received, "-ERR Protocol error: \(error)\r\n", frame)
        }
    }

    func testQuitRepliesThenCloses() throws {
        let received = try withConnection { reader, writer, _ in
            try writer.write(request("QUIT") + request("PING"))
            return text(try await reader.read())
        }
        XCTAssertEqual(received, "+OK\r\n", "nothing after QUIT is answered")
    }

    func testARequestSplitAcrossManyWritesIsAnsweredOnce() throws {
        let value = String(repeating: "v", count: 300_000)
        let bytes = request("SET", "big", value) + request("STRLEN", "big")
        let received = try withConnection { reader, writer, _ in
            for start in stride(from: 0, to: bytes.count, by: 7_919) {
                try writer.write(Array(bytes[start..<min(start + 7_919, bytes.count)]))
                try await writer.drain()
            }
            return text(try await readBytes(reader, count: "+OK\r\n:300000\r\n".utf8.count))
        }
        XCTAssertEqual(received, "+OK\r\n:300000\r\n")
    }

    func testKeysExpireWhenReadAndBySweepWhenNot() throws {
        let (read, swept) = try withConnection { reader, writer, redis in
            try writer.write(request("SET", "read", "v", "PX", "30") + request("SET", "unread", "v", "PX", "30"))
            _ = try await readBytes(reader, count: 10)
            var read = ""
            // Bounded polls of the state that changes with time (a TTL), not of another task.
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                try writer.write(request("GET", "read"))
                read = text(try await reader.readLine())
                if read == "$-1\r\n" { break }
                _ = try await reader.readLine()
            }
            while redis.database.count > 0 && ContinuousClock.now < deadline {
                try await redis.server.reactor.sleep(for: .milliseconds(20))
            }
            return (read, redis.database.count)
        }
        XCTAssertEqual(read, "$-1\r\n", "an expired key reads as missing")
        XCTAssertEqual(swept, 0, "the sweep dropped the key nobody read")
    }
}
