import HTTPTypes
import Reactor

/// A request as the handler sees it: a view of its head where the connection keeps it (the
/// method, the target, the fields read without a copy), convertible to swift-http-types'
/// `HTTPRequest` and `HTTPFields`, and its body as an `AsyncSequence` of byte chunks.
///
/// It is valid until the handler returns: the connection reuses the head's storage for the
/// next request.
public struct HTTPServerRequest: Sendable {
    let connection: HTTPConnection
    let head: RequestHead

    init(connection: HTTPConnection, head: RequestHead) {
        self.connection = connection
        self.head = head
    }

    public var method: HTTPRequest.Method {
        connection.heads.withUnsafeBytes { head.knownMethod.method(UnsafeRawBufferPointer(rebasing: $0[head.methodRange])) }
    }

    public var version: HTTPVersion { HTTPVersion(major: 1, minor: head.minorVersion) }

    /// The request-target as sent: a path and query (`/search?q=1`), or an absolute URL.
    public var target: String { string(head.target) }

    /// The target's path: up to its `?`.
    public var path: String {
        withTarget { target in
            let end = target.firstIndex(of: UInt8(ascii: "?")) ?? target.count
            return String(decoding: UnsafeRawBufferPointer(rebasing: target[0..<end]), as: UTF8.self)
        }
    }

    /// Calls `body` with the target's bytes where they lie.
    public func withTarget<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try connection.heads.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[head.target])) }
    }

    /// Whether the client keeps the connection for another request.
    public var keepAlive: Bool { head.keepAlive }

    /// The body's declared length; nil for a chunked body. 0 without a body.
    public var contentLength: Int? {
        switch head.body {
        case .none, .untilClose: 0
        case .length(let length): length
        case .chunked: nil
        }
    }

    /// How many fields the head has.
    public var fieldCount: Int { head.fields.count }

    /// The value of the first field called `name` (compared without regard to case), if any.
    public subscript(_ name: HTTPField.Name) -> String? {
        var wanted = name.canonicalName
        return wanted.withUTF8 { wanted in
            connection.heads.withUnsafeBytes { bytes in
                for index in head.fields {
                    let field = connection.fieldRange(index)
                    if equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: bytes[field.name]), UnsafeRawBufferPointer(wanted)) {
                        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[field.value]), as: UTF8.self)
                    }
                }
                return nil
            }
        }
    }

    /// The fields as swift-http-types' `HTTPFields` (strings made for each).
    public var headerFields: HTTPFields { connection.headerFields(head.fields) }

    /// The request as swift-http-types' `HTTPRequest`: scheme from the connection, authority
    /// from the Host field, path from the target.
    public var httpRequest: HTTPRequest {
        var fields = headerFields
        let host = HTTPField.Name("Host")!
        let authority = fields[host]
        fields[host] = nil
        return HTTPRequest(method: method, scheme: connection.isSecure ? "https" : "http", authority: authority, path: target, headerFields: fields)
    }

    /// The body, read as it arrives; empty for a request without one. Reading it sends 100
    /// Continue first when the client waits for it. A malformed chunked body throws
    /// ``HTTPError`` (400), and so does one past the server's maximum (413).
    public var body: HTTPRequestBody { HTTPRequestBody(connection: connection) }

    /// The client's address.
    public var remoteAddress: SocketAddress? { connection.writer.peerAddress }

    private func string(_ range: Range<Int>) -> String {
        connection.heads.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }
}

/// A request's body as an `AsyncSequence` of chunks, each at most ``HTTPRequestBody/maxChunk``
/// bytes, read from the connection as the handler asks for them (the client is not read from
/// faster than the handler reads).
public struct HTTPRequestBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public static let maxChunk = 64 * 1024

    let connection: HTTPConnection

    public struct AsyncIterator: AsyncIteratorProtocol {
        let connection: HTTPConnection

        public nonisolated(nonsending) mutating func next() async throws -> [UInt8]? {
            try await connection.readBody(maxBytes: HTTPRequestBody.maxChunk)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(connection: connection) }

    /// The whole body, refused with ``HTTPError`` (413) past `maxBytes`.
    public nonisolated(nonsending) func collect(upTo maxBytes: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = makeAsyncIterator()
        while let chunk = try await iterator.next() {
            guard bytes.count + chunk.count <= maxBytes else { throw HTTPError(.contentTooLarge, "a body over \(maxBytes) bytes") }
            bytes += chunk
        }
        return bytes
    }
}
