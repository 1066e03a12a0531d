import HTTPTypes
import Reactor
import ReactorStreams

/// One connection of the client's pool: writes a request, reads its response's head, then its
/// body as it is asked for.
final class ClientConnection: @unchecked Sendable {
    let key: HTTPClient.PoolKey
    let reader: StreamReader
    let writer: StreamWriter
    @exclusivity(unchecked) private var parser = HeadParser(maxHeadSize: 64 * 1024, maxFieldCount: 256)
    @exclusivity(unchecked) private var body = BodyDecoder.done
    @exclusivity(unchecked) private var untilClose = false
    /// Whether the connection may carry another request once the body is read.
    @exclusivity(unchecked) private(set) var reusable = false
    /// Whether any byte of the last request's response came (a connection that fails before
    /// may have been closed by the server while idle).
    @exclusivity(unchecked) private(set) var receivedResponseBytes = false

    init(key: HTTPClient.PoolKey, reader: StreamReader, writer: StreamWriter) {
        self.key = key
        self.reader = reader
        self.writer = writer
    }

    /// Whether the body was read to its end.
    var isBodyDone: Bool { body.isDone && !untilClose }

    /// Writes the request, and reads the head of its final response (past any 1xx).
    nonisolated(nonsending) func send(
        method: HTTPRequest.Method, url: ClientURL, fields: HTTPFields, body: [UInt8]?
    ) async throws -> (HTTPResponse, HTTPVersion) {
        receivedResponseBytes = false
        var head = "\(method.rawValue) \(url.target) HTTP/1.1\r\n"
        if fields[HTTPField.Name("Host")!] == nil { head += "Host: \(url.authority)\r\n" }
        for field in fields where field.name != .contentLength && field.name != .transferEncoding {
            head += "\(field.name.rawName): \(field.value)\r\n"
        }
        if let body, !body.isEmpty || method == .post || method == .put { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try writer.write(Array(head.utf8) + (body ?? []))
        try await writer.drain()
        while true {
            parser.removeAllFields()
            let (response, version, framing, keepAlive): (HTTPResponse, HTTPVersion, BodyFraming, Bool) =
                try await reader.withBufferedBytes(upTo: Int.max) { bytes, atEOF in
                    if !bytes.isEmpty { receivedResponseBytes = true }
                    switch parser.parseResponse(bytes, from: 0, method: method) {
                    case .needMore:
                        if atEOF { throw HTTPClientError("the connection closed before a response") }
                        return (0, nil)
                    case .error(_, let message):
                        throw HTTPClientError("a malformed response: \(message)")
                    case .head(let head):
                        let fields = parser.headerFields(head.fields, in: bytes)
                        let reason = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.reason]), as: UTF8.self)
                        let response = HTTPResponse(status: HTTPResponse.Status(code: head.status, reasonPhrase: reason), headerFields: fields)
                        return (head.length, (response, HTTPVersion(major: 1, minor: head.minorVersion), head.body, head.keepAlive))
                    }
                }
            // 100 Continue and other interim responses come before the final one (101 is not
            // asked for, and ends the exchange).
            if response.status.code >= 100 && response.status.code < 200 && response.status.code != 101 { continue }
            // After 101 the connection speaks another protocol.
            reusable = keepAlive && response.status.code != 101
            untilClose = framing == .untilClose
            self.body = BodyDecoder(framing)
            return (response, version)
        }
    }

    /// The next piece of the response body, or nil after its end.
    nonisolated(nonsending) func readBody(maxBytes: Int) async throws -> [UInt8]? {
        if untilClose {
            let chunk = try await reader.read(maxBytes)
            if chunk.isEmpty { untilClose = false }
            return chunk.isEmpty ? nil : chunk
        }
        if body.isDone { return nil }
        let chunk: [UInt8] = try await reader.withBufferedBytes(upTo: Int.max) { bytes, _ in
            do {
                return try body.next(bytes, maxBytes: maxBytes)
            } catch let error as HTTPError {
                reusable = false
                throw HTTPClientError("a malformed chunked body: \(error.message)")
            }
        }
        if chunk.isEmpty && body.isDone { return nil }
        return chunk
    }
}
