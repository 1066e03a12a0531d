import Glibc
import HTTPTypes
import Reactor
import ReactorStreams

/// One connection's side of HTTP/1.1: reads the requests' heads in batches (every complete
/// head buffered, so pipelined requests are parsed in one pass and answered in one write),
/// runs the handler for each in order, and writes the responses.
///
/// A head is parsed where it was received, then its bytes are moved out of the reader, into
/// the connection's own buffer, so that the handler can suspend and read the body while the
/// head stays readable, and the reader holds no memory between requests.
final class HTTPConnection: @unchecked Sendable {
    let reader: StreamReader
    let writer: StreamWriter
    let loop: HTTPLoop
    let handler: HTTPHandler
    let isSecure: Bool
    private var configuration: HTTPServer.Configuration { loop.configuration }

    /// The batch: the heads' bytes, what the parser found in them, and the next to serve.
    @exclusivity(unchecked) private var parser: HeadParser
    @exclusivity(unchecked) private(set) var heads: [UInt8] = []
    @exclusivity(unchecked) private var batch: [RequestHead] = []
    @exclusivity(unchecked) private var next = 0
    /// A head past the batch's that was refused: answered once the batch is.
    @exclusivity(unchecked) private var refusal: HTTPError?

    /// The responses not yet handed to the writer.
    @exclusivity(unchecked) private var out = OutputBuffer()

    /// The request being served.
    @exclusivity(unchecked) private(set) var current: RequestHead?
    @exclusivity(unchecked) private var body = BodyDecoder.done
        @exclusivity(unchecked) private var continueSent = false
    @exclusivity(unchecked) private(set) var response = ResponseState.none
    @exclusivity(unchecked) private var closeAfterResponse = false
    /// The response has no body on the wire (HEAD, 1xx, 204, 304): what the handler writes is dropped.
    @exclusivity(unchecked) private var bodySuppressed = false

    /// What the connection waits for, and until when (the loop's seconds).
    @exclusivity(unchecked) var deadline = Int64.max
    @exclusivity(unchecked) private var waitingForHead = false
    @exclusivity(unchecked) private var slot = -1

    enum ResponseState: Equatable {
        case none
        /// The head is written; `remaining` bytes of a declared length are still to come, or
        /// nil for a chunked or close-delimited body.
        case body(chunked: Bool, remaining: Int?)
        case done
    }

    init(reader: StreamReader, writer: StreamWriter, loop: HTTPLoop, handler: @escaping HTTPHandler, isSecure: Bool) {
        self.reader = reader
        self.writer = writer
        self.loop = loop
        self.handler = handler
        self.isSecure = isSecure
        parser = HeadParser(maxHeadSize: loop.configuration.maxHeadSize, maxFieldCount: loop.configuration.maxFieldCount)
    }

    // MARK: - Serving

    nonisolated(nonsending) func serve() async throws {
        slot = loop.register(self)
        defer { loop.unregister(slot: slot) }
        while true {
            if next == batch.count {
                if let refusal {
                    // Answered as a request of its own, after those of the batch.
                    response = .none
                    current = nil
                    try await refuse(refusal)
                    return
                }
                try flush()
                if closeAfterResponse || loop.isStopping { return }
                deadline = loop.now + loop.idleTimeout
                // Waits only while the client is not reading.
                if writer.bufferedCount > 0 { try await writer.drain() }
                if loop.isStopping { return }
                guard try await readBatch() else { return }
                continue
            }
            let head = batch[next]
            next += 1
            try await serve(head)
            if closeAfterResponse {
                try flush()
                return
            }
        }
    }

    /// Reads every complete head buffered (waiting for one if none is), up to one with a
    /// body, which is read by its handler. False at EOF between requests.
    private nonisolated(nonsending) func readBatch() async throws -> Bool {
        batch.removeAll(keepingCapacity: true)
        parser.removeAllFields()
        next = 0
        waitingForHead = true
        defer {
            waitingForHead = false
            deadline = .max
        }
        let eof: Bool = try await reader.withBufferedBytes(upTo: Int.max) { bytes, atEOF in
            var offset = 0
            parsing: while offset < bytes.count && batch.count < Self.maxBatch {
                switch parser.parseRequest(bytes, from: offset) {
                case .head(let head):
                    batch.append(head)
                    offset += head.length
                    if head.body != .none { break parsing }
                case .needMore:
                    break parsing
                case .error(let status, let message):
                    refusal = HTTPError(status, message)
                    offset = bytes.count
                    break parsing
                }
            }
            if !batch.isEmpty || refusal != nil {
                heads.removeAll(keepingCapacity: true)
                heads.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<offset]))
                return (offset, false)
            }
            // A head that never completes closes the connection (slowloris), counted from
            // its first byte; an idle connection waits for the keep-alive timeout.
            if !bytes.isEmpty && deadline > loop.now + loop.headerTimeout {
                deadline = loop.now + loop.headerTimeout
            }
            return atEOF ? (bytes.count, true) : (0, nil)
        }
        return !eof
    }

    /// Serves one request: its handler, then whatever the handler left: a response it did
    /// not finish, a body it did not read.
    private nonisolated(nonsending) func serve(_ head: RequestHead) async throws {
        current = head
        continueSent = false
        response = .none
        defer { current = nil }
        if case .length(let length) = head.body, length > configuration.maxBodySize {
            return try await refuse(HTTPError(.contentTooLarge, "a body of \(length) bytes, over \(configuration.maxBodySize)"))
        }
        body = BodyDecoder(head.body, limit: configuration.maxBodySize)
        if !head.keepAlive { closeAfterResponse = true }
        do {
            try await handler(HTTPServerRequest(connection: self, head: head), HTTPResponseWriter(connection: self))
        } catch let error as HTTPError {
            guard response == .none else {
                // Refused after the response started: it is cut short, and the connection ends.
                closeAfterResponse = true
                return
            }
            return try await refuse(error)
        } catch {
            if response == .none {
                loop.reactor.logger.debug("HTTP handler for \(HTTPServerRequest(connection: self, head: head).method) failed: \(error)")
                return try await refuse(HTTPError(.internalServerError, "the handler failed"))
            }
            // The response is cut short: the client sees the connection end before the body does.
            throw error
        }
        switch response {
        case .none:
            try respond(.internalServerError, fields: [:], body: UnsafeRawBufferPointer(start: nil, count: 0))
        case .body:
            try end(trailers: nil)
        case .done: break
        }
        if body.isDone { return }
        // An unread body is read past if it is small, else the connection closes; the
        // response goes out first.
        try flush()
        if !(head.expectsContinue && !continueSent) {
            do {
                var discarded = 0
                while let chunk = try await readBody(maxBytes: StreamReader.defaultLimit) {
                    discarded += chunk.count
                    if discarded > Self.maxDiscard { break }
                }
            } catch {}
            if body.isDone && !closeAfterResponse { return }
        }
        try await closeReadingPast()
    }

    /// Answers a refused request with its status and closes, reading what the client still
    /// sends for a moment, so that the response is not lost to a reset.
    private nonisolated(nonsending) func refuse(_ error: HTTPError) async throws {
        closeAfterResponse = true
        if response == .none {
            let message = Array("\(error.message)\n".utf8)
            try message.withUnsafeBytes { try respond(error.status, fields: Self.textFields, body: $0) }
        }
        try await closeReadingPast()
    }

    /// Ends the connection after what was written: half-closes, then reads what the client
    /// still sends for a moment (at most 2 s and 256 KiB), so that the response is not lost
    /// to the reset a close with unread bytes sends.
    private nonisolated(nonsending) func closeReadingPast() async throws {
        closeAfterResponse = true
        try flush()
        guard !isSecure else { return }
        try writer.writeEOF()
        deadline = loop.now + 2
        var discarded = 0
        while discarded < Self.maxDiscard {
            let count: Int = try await reader.withBufferedBytes { bytes, _ in (bytes.count, bytes.count) }
            if count == 0 { break }
            discarded += count
        }
    }

    // MARK: - The request body

    /// The next piece of the body (at most `maxBytes`), or nil after its end. Sends 100
    /// Continue first if the client waits for it.
    nonisolated(nonsending) func readBody(maxBytes: Int) async throws -> [UInt8]? {
        if body.isDone { return nil }
        if let current, current.expectsContinue, !continueSent, response == .none {
            continueSent = true
            out.append("HTTP/1.1 100 Continue\r\n\r\n")
            try flush()
        }
        deadline = loop.now + loop.idleTimeout
        defer { deadline = .max }
        let chunk: [UInt8]
        do {
            chunk = try await reader.withBufferedBytes(upTo: Int.max) { bytes, _ in try body.next(bytes, maxBytes: maxBytes) }
        } catch {
            // Where the body ends is unknown now: nothing more is read as a request.
            closeAfterResponse = true
            throw error
        }
        if chunk.isEmpty && body.isDone { return nil }
        return chunk
    }

    // MARK: - The response

    /// Writes a whole response: head and body, with its Content-Length.
    func respond(_ status: HTTPResponse.Status, fields: HTTPFields, body: UnsafeRawBufferPointer) throws {
        try respond(status, fields: .fields(fields), body: body)
    }

    func respond(_ status: HTTPResponse.Status, fields: ResponseFields, body: UnsafeRawBufferPointer) throws {
        guard response == .none else { throw HTTPResponseError("the response was already started") }
        writeHead(status, fields: fields, length: body.count)
        if !bodySuppressed { out.append(body) }
        response = .done
        if out.count >= Self.flushThreshold { try flush() }
    }

    /// Writes the head of a response whose body follows: of the length the fields declare, else
    /// chunked (close-delimited to an HTTP/1.0 client).
    func writeHead(_ status: HTTPResponse.Status, fields: HTTPFields) throws {
        guard response == .none else { throw HTTPResponseError("the response was already started") }
        var length: Int?
        if let declared = fields[.contentLength] {
            guard let value = Int(declared), value >= 0 else { throw HTTPResponseError("a malformed Content-Length: \(declared)") }
            length = value
        }
        let chunked = writeHead(status, fields: .fields(fields), length: length)
        response = .body(chunked: chunked, remaining: length)
    }

    /// Adds a piece of the body and hands it to the writer; true when there is one to drain.
    func appendBody(_ bytes: UnsafeRawBufferPointer) throws -> Bool {
        guard case .body(let chunked, let remaining) = response else {
            throw HTTPResponseError(response == .none ? "write before writeHead" : "write after the response ended")
        }
        if let remaining {
            guard bytes.count <= remaining else { throw HTTPResponseError("more body than the Content-Length declared") }
            response = .body(chunked: false, remaining: remaining - bytes.count)
        }
        guard !bytes.isEmpty, !bodySuppressed else { return false }
        if chunked {
            out.appendHex(bytes.count)
            out.append("\r\n")
            out.append(bytes)
            out.append("\r\n")
        } else {
            out.append(bytes)
        }
        // A streamed body goes out as it is written (a pipelined batch's whole responses wait
        // for the batch's end instead).
        try flush()
        return true
    }

    /// Waits while the writer's buffer is over its high-water mark (the client not reading).
    nonisolated(nonsending) func drain() async throws {
        deadline = loop.now + loop.idleTimeout
        defer { deadline = .max }
        try await writer.drain()
    }

    /// The `index`-th field of the batch's heads.
    func fieldRange(_ index: Int) -> FieldRange { parser.fields[index] }

    /// The fields `indexes` of the batch's heads, as swift-http-types' `HTTPFields`.
    func headerFields(_ indexes: Range<Int>) -> HTTPFields {
        heads.withUnsafeBytes { parser.headerFields(indexes, in: $0) }
    }

    /// Ends the body (the last chunk, with `trailers` if given).
    func end(trailers: HTTPFields?) throws {
        guard case .body(let chunked, let remaining) = response else {
            throw HTTPResponseError(response == .none ? "end before writeHead" : "end after the response ended")
        }
        response = .done
        if bodySuppressed {
            return
        } else if chunked {
            out.append("0\r\n")
            if let trailers { appendFields(trailers) }
            out.append("\r\n")
        } else if let remaining, remaining > 0 {
            // The client would wait for bytes that never come: the connection ends instead.
            closeAfterResponse = true
        } else if remaining == nil {
            closeAfterResponse = true
        }
    }

    /// Hands the responses to the writer.
    func flush() throws {
        guard !out.isEmpty else { return }
        try writer.write(out.bytes)
        out.removeAll()
    }

    /// The status line and fields, with the framing, Date, Server and Connection fields the
    /// server adds. Returns whether the body is chunked.
    @discardableResult
    private func writeHead(_ status: HTTPResponse.Status, fields: ResponseFields, length: Int?) -> Bool {
        let head = current
        if loop.isStopping || (head?.expectsContinue == true && !continueSent && !body.isDone) { closeAfterResponse = true }
        if status.code == 200 {
            out.append("HTTP/1.1 200 OK\r\n")
        } else {
            out.append("HTTP/1.1 ")
            out.appendDecimal(status.code)
            out.append(0x20)
            out.append(string: status.reasonPhrase)
            out.append("\r\n")
        }
        var chunked = false
        let hasBody = status.code >= 200 && status.code != 204 && status.code != 304
        bodySuppressed = !hasBody || head?.knownMethod == .head
        if let length {
            if hasBody || status.code == 304 {
                out.append("Content-Length: ")
                out.appendDecimal(length)
                out.append("\r\n")
            }
        } else if hasBody {
            if head?.minorVersion == 0 {
                closeAfterResponse = true
            } else {
                chunked = true
                out.append("Transfer-Encoding: chunked\r\n")
            }
        }
        switch fields {
        case .fields(let fields): appendFields(fields, skippingFraming: true)
        case .rendered(let fields):
            out.append(fields.bytes)
            if fields.closesConnection { closeAfterResponse = true }
        }
        out.append("Date: ")
        out.append(loop.date.bytes)
        out.append("\r\n")
        out.append(loop.serverField)
        if closeAfterResponse {
            out.append("Connection: close\r\n")
        } else if head?.minorVersion == 0 {
            out.append("Connection: keep-alive\r\n")
        }
        out.append("\r\n")
        return chunked
    }

    /// The fields; with `skippingFraming`, those the server writes itself (a `Connection:
    /// close` among them is honoured).
    private func appendFields(_ fields: HTTPFields, skippingFraming: Bool = false) {
        for field in fields {
            if skippingFraming && Self.isFraming(field) {
                if field.name == .connection && field.value.lowercased().contains("close") { closeAfterResponse = true }
                continue
            }
            out.append(string: field.name.rawName)
            out.append(": ")
            out.append(string: field.value)
            out.append("\r\n")
        }
    }

    /// Content-Length, Transfer-Encoding or Connection: told apart by their lengths first.
    private static func isFraming(_ field: HTTPField) -> Bool {
        switch field.name.canonicalName.utf8.count {
        case 14: field.name == .contentLength
        case 17: field.name == .transferEncoding
        case 10: field.name == .connection
        default: false
        }
    }

    // MARK: - Deadlines and stopping (the loop's tick)

    /// The deadline passed: an idle connection ends as at EOF; one stalled in a head, a body
    /// or a write is cut.
    func expire() {
        deadline = .max
        if !closeIfIdle() { writer.abort() }
    }

    /// Ends the connection as at EOF if it waits for a request with nothing of one received;
    /// says whether it did.
    @discardableResult
    func closeIfIdle() -> Bool {
        guard waitingForHead && reader.bufferedCount == 0, let socket = reader.handle as? Socket else { return false }
        try? socket.shutdown(.read)
        return true
    }

    static let maxBatch = 64
    static let flushThreshold = 64 * 1024
    static let maxDiscard = 256 * 1024
    static let textFields: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
}
