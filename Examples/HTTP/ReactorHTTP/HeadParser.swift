import Glibc
import HTTPTypes

/// Parses HTTP/1.x message heads (RFC 9112) where they were received: a request's line and
/// fields, or a response's, as offsets into the bytes given, nothing copied. A head that has
/// not fully arrived is searched for its end from where the last search stopped, so a head
/// arriving a byte at a time is not scanned again from its start.
///
/// It is strict where leniency lets a request be read two ways (request smuggling, RFC 9112
/// section 6.3 and 11.2): lines end in CRLF, a field name is a token with no space before its
/// colon, no obsolete line folding, no control bytes in a value, one Host, Content-Length is
/// digits (repeated only with the same value), and never beside Transfer-Encoding.
public struct HeadParser: Sendable {
    /// The most a head (start line and fields) may hold: more is 431.
    public var maxHeadSize: Int
    /// The most fields a head may have: more is 431.
    public var maxFieldCount: Int

    /// The fields of the heads parsed since ``removeAllFields()``; a head's ``RequestHead/fields``
    /// are indexes into it.
    public private(set) var fields: [FieldRange] = []
    /// How far the search for the end of the head that has not fully arrived got.
    private var searched = 0

    public init(maxHeadSize: Int = 16 * 1024, maxFieldCount: Int = 100) {
        self.maxHeadSize = maxHeadSize
        self.maxFieldCount = maxFieldCount
        fields.reserveCapacity(32)
    }

    /// The fields `indexes` as swift-http-types' `HTTPFields` (a string made for each);
    /// `bytes` are those the heads were parsed from. A name HTTPTypes refuses is left out.
    public func headerFields(_ indexes: Range<Int>, in bytes: UnsafeRawBufferPointer) -> HTTPFields {
        var result = HTTPFields()
        result.reserveCapacity(indexes.count)
        for index in indexes {
            let field = fields[index]
            if let name = HTTPField.Name(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[field.name]), as: UTF8.self)) {
                result.append(HTTPField(name: name, value: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[field.value]), as: UTF8.self)))
            }
        }
        return result
    }

    /// Forgets the fields of the heads parsed so far (their heads are done with).
    public mutating func removeAllFields() {
        fields.removeAll(keepingCapacity: true)
    }

    public enum Outcome<Head: Sendable>: Sendable {
        /// A head, of `head.length` bytes from where parsing started.
        case head(Head)
        /// The head has not fully arrived: call again from the same start with more bytes.
        case needMore
        /// The bytes are not a head this parser takes: answer `status` (400, 431, 501, 505),
        /// then close.
        case error(HTTPResponse.Status, String)
    }

    // MARK: - Requests

    /// Parses the request head that starts at `start` in `bytes`.
    public mutating func parseRequest(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Outcome<RequestHead> {
        let (skipped, end) = findEnd(bytes, from: start)
        guard skipped <= maxHeadSize else { return .error(.badRequest, "too many empty lines before the request") }
        guard let end else {
            return bytes.count - start - skipped > maxHeadSize
                ? .error(.requestHeaderFieldsTooLarge, "the request head is over \(maxHeadSize) bytes") : .needMore
        }
        guard end >= 0 else { return .error(.badRequest, "a line ending in a bare LF") }
        let head = UnsafeRawBufferPointer(rebasing: bytes[(start + skipped)..<end])
        guard head.count <= maxHeadSize else {
            return .error(.requestHeaderFieldsTooLarge, "the request head is over \(maxHeadSize) bytes")
        }
        // request-line = method SP request-target SP HTTP-version CRLF
        let classes = ByteClass.table
        var index = 0
        while index < head.count && classes[Int(head[index])] & ByteClass.token != 0 { index += 1 }
        guard index > 0, index < head.count, head[index] == 0x20 else { return .error(.badRequest, "a malformed request line") }
        let method = KnownMethod(UnsafeRawBufferPointer(rebasing: head[0..<index]))
        let methodRange = (start + skipped)..<(start + skipped + index)
        index += 1
        let targetStart = index
        while index < head.count && classes[Int(head[index])] & ByteClass.target != 0 { index += 1 }
        guard index > targetStart, index < head.count, head[index] == 0x20 else { return .error(.badRequest, "a malformed request target") }
        let target = (start + skipped + targetStart)..<(start + skipped + index)
        index += 1
        guard index + 10 <= head.count, head[index + 8] == 0x0D, head[index + 9] == 0x0A else {
            return .error(.badRequest, "a malformed HTTP version")
        }
        guard let minor = Self.version(UnsafeRawBufferPointer(rebasing: head[index..<(index + 8)])) else {
            return .error(.badRequest, "a malformed HTTP version")
        }
        guard minor >= 0 else { return .error(.httpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served") }
        var facts = FieldFacts()
        let firstField = fields.count
        if let (status, message) = parseFields(head, from: index + 10, offset: start + skipped, into: &facts) {
            return .error(status, message)
        }
        // RFC 9112 section 3.2: a 1.1 request has exactly one Host.
        guard facts.hostCount == 1 || (minor == 0 && facts.hostCount == 0) else {
            return .error(.badRequest, facts.hostCount == 0 ? "no Host field" : "more than one Host field")
        }
        let body: BodyFraming
        switch facts.framing(isRequest: true, minor: minor) {
        case .success(let framing): body = framing
        case .failure(let failure): return .error(failure.status, failure.message)
        }
        if facts.otherExpectation { return .error(.expectationFailed, "an expectation other than 100-continue") }
        let keepAlive = minor == 1 ? !facts.connectionClose : facts.connectionKeepAlive && !facts.connectionClose
        return .head(
            RequestHead(
                length: skipped + head.count, knownMethod: method, methodRange: methodRange, target: target, minorVersion: minor, fields: firstField..<fields.count,
                body: body, keepAlive: keepAlive, expectsContinue: facts.expectsContinue && minor == 1))
    }

    // MARK: - Responses

    /// Parses the response head that starts at `start` in `bytes`, the answer to a request
    /// with `method` (a HEAD's response has no body).
    public mutating func parseResponse(
        _ bytes: UnsafeRawBufferPointer, from start: Int, method: HTTPRequest.Method
    ) -> Outcome<ResponseHead> {
        let (skipped, end) = findEnd(bytes, from: start)
        guard skipped <= maxHeadSize else { return .error(.badGateway, "too many empty lines before the response") }
        guard let end else {
            return bytes.count - start - skipped > maxHeadSize ? .error(.badGateway, "the response head is over \(maxHeadSize) bytes") : .needMore
        }
        guard end >= 0 else { return .error(.badGateway, "a line ending in a bare LF") }
        let head = UnsafeRawBufferPointer(rebasing: bytes[(start + skipped)..<end])
        guard head.count <= maxHeadSize else { return .error(.badGateway, "the response head is over \(maxHeadSize) bytes") }
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
        guard head.count >= 14, let minor = Self.version(UnsafeRawBufferPointer(rebasing: head[0..<8])), minor >= 0, head[8] == 0x20
        else { return .error(.badGateway, "a malformed status line") }
        var code = 0
        for index in 9..<12 {
            guard head[index] >= 0x30 && head[index] <= 0x39 else { return .error(.badGateway, "a malformed status code") }
            code = code * 10 + Int(head[index] - 0x30)
        }
        guard code >= 100, head[12] == 0x20 || head[12] == 0x0D else { return .error(.badGateway, "a malformed status line") }
        var index = 12
        while index < head.count && head[index] != 0x0D { index += 1 }
        let reason = min(13, index)..<index
        guard index + 1 < head.count, head[index + 1] == 0x0A else { return .error(.badGateway, "a malformed status line") }
        var facts = FieldFacts()
        let firstField = fields.count
        if let (_, message) = parseFields(head, from: index + 2, offset: start + skipped, into: &facts) {
            return .error(.badGateway, message)
        }
        let body: BodyFraming
        if method == .head || code < 200 || code == 204 || code == 304 {
            body = .none
        } else {
            switch facts.framing(isRequest: false, minor: minor) {
            case .success(let framing): body = framing
            case .failure(let failure): return .error(.badGateway, failure.message)
            }
        }
        let keepAlive = (minor == 1 ? !facts.connectionClose : facts.connectionKeepAlive && !facts.connectionClose)
            && body != .untilClose
        return .head(
            ResponseHead(
                length: skipped + head.count, status: code, reason: (start + skipped + reason.lowerBound)..<(start + skipped + reason.upperBound),
                minorVersion: minor, fields: firstField..<fields.count, body: body, keepAlive: keepAlive))
    }

    // MARK: - The parts both share

    /// Skips the empty lines before a head (RFC 9112 section 2.2) and finds the blank line
    /// that ends it: how many bytes were skipped, and the end (after the blank line's CRLF)
    /// if it is there, or -1 at a bare LF. The search resumes where the last one stopped.
    private mutating func findEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (skipped: Int, end: Int?) {
        var first = start
        while first + 1 < bytes.count && bytes[first] == 0x0D && bytes[first + 1] == 0x0A { first += 2 }
        let skipped = first - start
        let from = max(first, start + searched - 3)
        let limit = min(bytes.count, first + maxHeadSize + 1)
        guard from < limit, let base = bytes.baseAddress else { return (skipped, nil) }
        var index = from
        while index < limit {
            guard let found = memchr(base + index, 0x0A, limit - index) else { break }
            let newline = base.distance(to: UnsafeRawPointer(found))
            // A line ends in CRLF: a bare LF is refused at once (end -1), not waited past.
            guard newline > first, bytes[newline - 1] == 0x0D else {
                searched = 0
                return (skipped, -1)
            }
            if newline >= first + 3 && bytes[newline - 2] == 0x0A && bytes[newline - 3] == 0x0D {
                searched = 0
                return (skipped, newline + 1)
            }
            index = newline + 1
        }
        searched = limit - start
        return (skipped, nil)
    }

    /// Parses the fields from `from` to the head's blank line, recording them (as offsets
    /// from the head's start plus `offset`) and what they say of the message.
    private mutating func parseFields(
        _ head: UnsafeRawBufferPointer, from: Int, offset: Int, into facts: inout FieldFacts
    ) -> (HTTPResponse.Status, String)? {
        var index = from
        let firstField = fields.count
        let classes = ByteClass.table
        let base = head.baseAddress!
        // The head ends in CRLF CRLF: the last CRLF is the blank line.
        while index < head.count - 2 {
            let nameStart = index
            while classes[Int(head[index])] & ByteClass.token != 0 { index += 1 }
            guard index > nameStart, head[index] == UInt8(ascii: ":") else {
                if index == nameStart && (head[index] == 0x20 || head[index] == 0x09) {
                    return (.badRequest, "an obsolete line folding")
                }
                return (.badRequest, "a malformed field name")
            }
            let nameEnd = index
            index += 1
            while head[index] == 0x20 || head[index] == 0x09 { index += 1 }
            let valueStart = index
            // Every line ends in CR (the head's end is CRLF CRLF): the value is up to the next.
            let lineEnd = base.distance(to: UnsafeRawPointer(memchr(base + index, 0x0D, head.count - index)!))
            while index < lineEnd {
                guard classes[Int(head[index])] & ByteClass.value != 0 else { return (.badRequest, "a control byte in a field value") }
                index += 1
            }
            var valueEnd = lineEnd
            while valueEnd > valueStart && (head[valueEnd - 1] == 0x20 || head[valueEnd - 1] == 0x09) { valueEnd -= 1 }
            guard head[index + 1] == 0x0A else { return (.badRequest, "a bare CR in a field") }
            index += 2
            guard fields.count - firstField < maxFieldCount else { return (.requestHeaderFieldsTooLarge, "more than \(maxFieldCount) fields") }
            fields.append(FieldRange(name: (offset + nameStart)..<(offset + nameEnd), value: (offset + valueStart)..<(offset + valueEnd)))
            if let failure = facts.note(
                name: UnsafeRawBufferPointer(rebasing: head[nameStart..<nameEnd]), value: UnsafeRawBufferPointer(rebasing: head[valueStart..<valueEnd]))
            {
                return (failure.status, failure.message)
            }
        }
        return nil
    }

    /// `HTTP/1.0` or `HTTP/1.1`: the minor version; another `HTTP/d.d`: -1; else nil.
    private static func version(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard equals(UnsafeRawBufferPointer(rebasing: bytes[0..<5]), "HTTP/"), bytes[6] == UInt8(ascii: "."),
            (0x30...0x39).contains(bytes[5]), (0x30...0x39).contains(bytes[7])
        else { return nil }
        guard bytes[5] == UInt8(ascii: "1"), bytes[7] <= UInt8(ascii: "1") else { return -1 }
        return Int(bytes[7] - 0x30)
    }
}

/// A header field of a parsed head: where its name and value lie in the bytes parsed (the
/// value without its surrounding whitespace).
public struct FieldRange: Sendable, Equatable {
    public var name: Range<Int>
    public var value: Range<Int>
}

/// How a message's body is delimited (RFC 9112 section 6.3).
public enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int)
    case chunked
    /// A response without a length: its body ends when the connection does.
    case untilClose
}

/// What a request head says; its offsets are from where parsing started.
public struct RequestHead: Sendable {
    /// The head's bytes, with the empty lines before it.
    public var length: Int
    /// The method, if it is one of the common ones; else `.other`, and its bytes are at
    /// ``methodRange``.
    public var knownMethod: KnownMethod
    public var methodRange: Range<Int>
    public var target: Range<Int>
    /// 0 or 1: HTTP/1.0 or HTTP/1.1.
    public var minorVersion: Int
    /// Indexes into the parser's ``HeadParser/fields``.
    public var fields: Range<Int>
    public var body: BodyFraming
    /// Whether the client keeps the connection after this request (1.1 unless `Connection:
    /// close`; 1.0 only with `Connection: keep-alive`).
    public var keepAlive: Bool
    /// `Expect: 100-continue`: the client waits for 100 before it sends the body.
    public var expectsContinue: Bool
}

/// The methods a server mostly sees, told apart without making a string.
public enum KnownMethod: UInt8, Sendable {
    case get, head, post, put, delete, options, patch, connect, other

    init(_ bytes: UnsafeRawBufferPointer) {
        switch bytes.count {
        case 3: self = equals(bytes, "GET") ? .get : equals(bytes, "PUT") ? .put : .other
        case 4: self = equals(bytes, "POST") ? .post : equals(bytes, "HEAD") ? .head : .other
        case 5: self = equals(bytes, "PATCH") ? .patch : .other
        case 6: self = equals(bytes, "DELETE") ? .delete : .other
        case 7: self = equals(bytes, "OPTIONS") ? .options : equals(bytes, "CONNECT") ? .connect : .other
        default: self = .other
        }
    }

    /// As swift-http-types' method; `.other` from its bytes (a token, so always a method).
    func method(_ bytes: UnsafeRawBufferPointer) -> HTTPRequest.Method {
        switch self {
        case .get: .get
        case .head: .head
        case .post: .post
        case .put: .put
        case .delete: .delete
        case .options: .options
        case .patch: .patch
        case .connect: .connect
        case .other: HTTPRequest.Method(String(decoding: bytes, as: UTF8.self))!
        }
    }
}

/// What a response head says; its offsets are from where parsing started.
public struct ResponseHead: Sendable {
    public var length: Int
    public var status: Int
    public var reason: Range<Int>
    public var minorVersion: Int
    public var fields: Range<Int>
    public var body: BodyFraming
    /// Whether the connection may carry another request after this response.
    public var keepAlive: Bool
}

/// What the fields of a head say of the message, gathered as they are parsed.
private struct FieldFacts {
    struct Failure: Error {
        var status: HTTPResponse.Status
        var message: String
    }

    var contentLength: Int?
    var transferEncodings = 0
    var chunked = false
    var unknownCoding = false
    var hostCount = 0
    var connectionClose = false
    var connectionKeepAlive = false
    var expectsContinue = false
    var otherExpectation = false

    mutating func note(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Failure? {
        switch name.count {
        case 4:
            if equalsIgnoringCase(name, "host") { hostCount += 1 }
        case 6:
            if equalsIgnoringCase(name, "expect") {
                if equalsIgnoringCase(value, "100-continue") { expectsContinue = true } else { otherExpectation = true }
            }
        case 10:
            if equalsIgnoringCase(name, "connection") {
                forEachListItem(value) { item in
                    if equalsIgnoringCase(item, "close") { connectionClose = true }
                    if equalsIgnoringCase(item, "keep-alive") { connectionKeepAlive = true }
                }
            }
        case 14:
            if equalsIgnoringCase(name, "content-length") {
                // "42, 42" or a repeated field with the same value is one length (RFC 9110
                // section 8.6); anything else is refused.
                var failure: Failure?
                var items = 0
                forEachListItem(value) { item in
                    items += 1
                    guard failure == nil else { return }
                    guard let length = decimal(item) else {
                        failure = Failure(status: .badRequest, message: "a malformed Content-Length")
                        return
                    }
                    if let contentLength, contentLength != length {
                        failure = Failure(status: .badRequest, message: "conflicting Content-Lengths")
                    }
                    contentLength = length
                }
                if items == 0 { return Failure(status: .badRequest, message: "an empty Content-Length") }
                return failure
            }
        case 17:
            if equalsIgnoringCase(name, "transfer-encoding") {
                // An empty list is still a Transfer-Encoding: it is refused, never ignored.
                transferEncodings += 1
                unknownCoding = unknownCoding || value.allSatisfy { $0 == UInt8(ascii: ",") || $0 == 0x20 || $0 == 0x09 }
                forEachListItem(value) { item in
                    transferEncodings += 1
                    // chunked must be the last coding, and only once.
                    if chunked { unknownCoding = true }
                    if equalsIgnoringCase(item, "chunked") { chunked = true } else { unknownCoding = true }
                }
            }
        default: break
        }
        return nil
    }

    func framing(isRequest: Bool, minor: Int) -> Result<BodyFraming, Failure> {
        if transferEncodings > 0 {
            if contentLength != nil {
                return .failure(Failure(status: .badRequest, message: "both Content-Length and Transfer-Encoding"))
            }
            if isRequest && minor == 0 { return .failure(Failure(status: .badRequest, message: "Transfer-Encoding in an HTTP/1.0 request")) }
            if !chunked || unknownCoding {
                // A request whose body's end cannot be found is refused; a response's runs to the close.
                if !isRequest && !chunked { return .success(.untilClose) }
                return .failure(Failure(status: chunked ? .badRequest : .notImplemented, message: "a transfer coding other than chunked"))
            }
            return .success(.chunked)
        }
        if let contentLength { return .success(contentLength == 0 ? .none : .length(contentLength)) }
        return .success(isRequest ? .none : .untilClose)
    }
}

// MARK: - Bytes

/// What each byte may be, as bits of a table looked up once per byte.
enum ByteClass {
    /// tchar (RFC 9110 section 5.6.2): a method, a field name.
    static let token: UInt8 = 1
    /// A field value's byte: HTAB, SP, VCHAR, obs-text.
    static let value: UInt8 = 2
    /// A request-target's byte: VCHAR and obs-text.
    static let target: UInt8 = 4

    /// Written once, then only read.
    nonisolated(unsafe) static let table: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        for byte in 0..<256 {
            let byte = UInt8(byte)
            var classes: UInt8 = 0
            if isToken(byte) { classes |= token }
            if byte == 0x09 || (byte >= 0x20 && byte != 0x7F) { classes |= value }
            if byte > 0x20 && byte != 0x7F { classes |= target }
            table[Int(byte)] = classes
        }
        return UnsafePointer(table)
    }()
}

/// tchar (RFC 9110 section 5.6.2).
@inline(__always)
func isToken(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x21, 0x23...0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E...0x60, 0x7C, 0x7E: true
    default: false
    }
}

@inline(__always)
func equals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
    bytes.count == text.utf8CodeUnitCount && memcmp(bytes.baseAddress!, text.utf8Start, bytes.count) == 0
}

/// Compares with `lowercase`, which is lowercase ASCII.
func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
    equalsIgnoringCase(bytes, UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount))
}

/// Compares with `lowercase`, which is lowercase ASCII.
func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: UnsafeRawBufferPointer) -> Bool {
    guard bytes.count == lowercase.count else { return false }
    for index in 0..<bytes.count where bytes[index] | 0x20 != lowercase[index] && bytes[index] != lowercase[index] {
        return false
    }
    return true
}

/// A non-negative decimal of digits only, or nil (also past 2^62).
func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
    guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
    var value = 0
    for byte in bytes {
        guard byte >= 0x30 && byte <= 0x39 else { return nil }
        value = value * 10 + Int(byte - 0x30)
    }
    return value
}

/// Calls `body` with each item of a comma-separated list, trimmed of whitespace, skipping
/// empty items.
func forEachListItem(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
    var start = 0
    while start <= value.count {
        var end = start
        while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
        var first = start
        var last = end
        while first < last && (value[first] == 0x20 || value[first] == 0x09) { first += 1 }
        while last > first && (value[last - 1] == 0x20 || value[last - 1] == 0x09) { last -= 1 }
        if last > first { body(UnsafeRawBufferPointer(rebasing: value[first..<last])) }
        start = end + 1
    }
}
