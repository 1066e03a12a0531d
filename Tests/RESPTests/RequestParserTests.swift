import XCTest

@testable import RESP

/// The request parser on its own: Redis's framing, its errors, and resuming a request that
/// arrives in pieces.
final class RequestParserTests: XCTestCase {
    /// The arguments of the request at the start of `bytes`, or the outcome when it is not one.
    private func parse(_ text: String, parser: inout RequestParser) -> ([String]?, RequestParser.Outcome) {
        parse(Array(text.utf8), parser: &parser)
    }

    private func parse(_ bytes: [UInt8], parser: inout RequestParser) -> ([String]?, RequestParser.Outcome) {
        return bytes.withUnsafeBytes { raw in
            let outcome = parser.parse(raw, from: 0)
            guard case .request = outcome else { return (nil, outcome) }
            let base = parser.isInline ? nil : raw.baseAddress
            let arguments = parser.arguments.map { range -> String in
                if let base { return String(decoding: UnsafeRawBufferPointer(start: base + range.offset, count: range.count), as: UTF8.self) }
                return String(decoding: parser.inlineStorage[range.offset..<range.offset + range.count], as: UTF8.self)
            }
            return (arguments, outcome)
        }
    }

    private func arguments(_ text: String) -> [String]? {
        var parser = RequestParser()
        return parse(text, parser: &parser).0
    }

    private func outcome(_ text: String) -> RequestParser.Outcome {
        var parser = RequestParser()
        return parse(text, parser: &parser).1
    }

    func testAMultibulkRequest() {
        var parser = RequestParser()
        let (parsed, outcome) = parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n", parser: &parser)
        XCTAssertEqual(parsed, ["SET", "k", ""])
        XCTAssertEqual(outcome, .request(length: 26))
    }

    func testABinaryBulkMayHoldCRLF() {
        XCTAssertEqual(arguments("*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n"), ["ECHO", "a\r\nb"])
    }

    func testInlineRequestsWithRedisQuoting() {
        XCTAssertEqual(arguments("PING\r\n"), ["PING"])
        XCTAssertEqual(arguments("set  key   value\n"), ["set", "key", "value"])
        XCTAssertEqual(arguments("SET k \"a b\\n\\x41\"\r\n"), ["SET", "k", "a b\nA"])
        XCTAssertEqual(arguments("SET k 'it\\'s'\r\n"), ["SET", "k", "it's"])
        XCTAssertEqual(outcome("SET k \"open\r\n"), .error("unbalanced quotes in request"))
        XCTAssertEqual(outcome("SET k \"a\"b\r\n"), .error("unbalanced quotes in request"))
        XCTAssertEqual(outcome("\r\n"), .empty(length: 2))
    }

    func testEveryPrefixOfARequestAsksForMore() {
        let request = Array("*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nworld\r\n".utf8)
        for length in 0..<request.count {
            var parser = RequestParser()
            XCTAssertEqual(parse(Array(request.prefix(length)), parser: &parser).1, .needMore, "prefix of \(length) bytes")
        }
        var parser = RequestParser()
        XCTAssertEqual(parse(request, parser: &parser).0, ["SET", "hello", "world"])
        XCTAssertEqual(outcome("PING"), .needMore)
    }

    func testARequestThatArrivesInPiecesResumesWhereItStopped() {
        var parser = RequestParser()
        let request = Array("*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$5\r\nworld\r\n".utf8)
        for length in [10, 20, 27, 30] {
            XCTAssertEqual(parse(Array(request.prefix(length)), parser: &parser).1, .needMore)
        }
        XCTAssertEqual(parse(request, parser: &parser).0, ["SET", "hello", "world"])
        XCTAssertEqual(parse("*1\r\n$4\r\nPING\r\n", parser: &parser).0, ["PING"], "the next request starts afresh")
    }

    func testEmptyMultibulks() {
        XCTAssertEqual(outcome("*0\r\n"), .empty(length: 4))
        XCTAssertEqual(outcome("*-1\r\n"), .empty(length: 5))
    }

    func testProtocolErrorsAreRedisOwn() {
        XCTAssertEqual(outcome("*x\r\n"), .error("invalid multibulk length"))
        XCTAssertEqual(outcome("*1\r\n+PING\r\n"), .error("expected '$', got '+'"))
        XCTAssertEqual(outcome("*1\r\n$x\r\n"), .error("invalid bulk length"))
        XCTAssertEqual(outcome("*1\r\n$-1\r\n"), .error("invalid bulk length"))
    }

    func testDeclaredSizesOverTheLimitsAreRefusedBeforeTheyArrive() {
        XCTAssertEqual(outcome("*1048577\r\n"), .error("invalid multibulk length"))
        XCTAssertEqual(outcome("*1048576\r\n"), .needMore, "the largest count allowed")
        XCTAssertEqual(outcome("*1\r\n$536870913\r\n"), .error("invalid bulk length"))
        XCTAssertEqual(outcome("*1\r\n$536870912\r\n"), .needMore, "512 MiB is allowed, and waited for")
        XCTAssertEqual(outcome("*1\r\n$99999999999999999999999\r\n"), .error("invalid bulk length"))
        let longLine = String(repeating: "a", count: RequestParser.maxInlineLength + 1)
        XCTAssertEqual(outcome(longLine), .error("too big inline request"))
        XCTAssertEqual(outcome("*" + String(repeating: "1", count: RequestParser.maxInlineLength + 1)), .error("too big mbulk count string"))
        XCTAssertEqual(outcome("*1\r\n$" + String(repeating: "1", count: RequestParser.maxInlineLength + 1)), .error("too big bulk count string"))
    }

    func testIntegersAreReadStrictly() {
        for (text, value) in [("0", 0), ("-12", -12), ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min)] {
            XCTAssertEqual(Array(text.utf8).withUnsafeBytes { integer($0) }, value, text)
        }
        for text in ["", "-", "+1", " 1", "1 ", "01", "9223372036854775808", "1.0", "-0"] {
            XCTAssertNil(Array(text.utf8).withUnsafeBytes { integer($0) }, text)
        }
    }
}
