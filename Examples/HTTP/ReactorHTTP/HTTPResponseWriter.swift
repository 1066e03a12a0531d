import HTTPTypes

/// Writes the response to one request: whole, with ``respond(_:headerFields:body:)``, or as a
/// head and a body that streams (``writeHead(_:headerFields:)``, ``write(_:)``, ``end(trailers:)``),
/// chunked unless the fields declare a Content-Length. The server adds `Date`, `Content-Length`
/// or `Transfer-Encoding`, `Connection` and, if configured, `Server`.
///
/// Responses to pipelined requests are collected and written together; a streamed body is
/// handed to the connection as it grows, and ``write(_:)`` waits while the client is not
/// reading (back-pressure). A HEAD request's response is sent without its body.
public struct HTTPResponseWriter: Sendable {
    let connection: HTTPConnection

    init(connection: HTTPConnection) {
        self.connection = connection
    }

    /// Whether the response was started (its head written).
    public var isStarted: Bool { connection.response != .none }

    /// Writes the whole response.
    public func respond(_ status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], body: UnsafeRawBufferPointer) throws {
        try connection.respond(status, fields: headerFields, body: body)
    }

    /// Writes the whole response.
    public func respond(_ status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], body: [UInt8] = []) throws {
        try body.withUnsafeBytes { try connection.respond(status, fields: headerFields, body: $0) }
    }

    /// Writes the whole response, the body as UTF-8.
    public func respond(_ status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], body: String) throws {
        var body = body
        try body.withUTF8 { try connection.respond(status, fields: headerFields, body: UnsafeRawBufferPointer($0)) }
    }

    /// Writes the whole response, with fields rendered ahead.
    public func respond(_ status: HTTPResponse.Status = .ok, renderedFields: RenderedFields, body: [UInt8]) throws {
        try body.withUnsafeBytes { try connection.respond(status, fields: .rendered(renderedFields), body: $0) }
    }

    /// Writes the head of a response whose body follows with ``write(_:)``.
    public func writeHead(_ status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:]) throws {
        try connection.writeHead(status, fields: headerFields)
    }

    /// Writes a piece of the body; waits while the client is not reading.
    public nonisolated(nonsending) func write(_ bytes: UnsafeRawBufferPointer) async throws {
        if try connection.appendBody(bytes) { try await connection.drain() }
    }

    /// Writes a piece of the body; waits while the client is not reading.
    public nonisolated(nonsending) func write(_ bytes: [UInt8]) async throws {
        if try bytes.withUnsafeBytes({ try connection.appendBody($0) }) { try await connection.drain() }
    }

    /// Ends the body; a chunked one with `trailers`, if given.
    public func end(trailers: HTTPFields? = nil) throws {
        try connection.end(trailers: trailers)
    }
}
