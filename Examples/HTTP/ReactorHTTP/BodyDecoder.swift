/// A message body as it is read, for the server's requests and the client's responses: how
/// much of a Content-Length body is left, or where a chunked one is, and how much was read.
struct BodyDecoder: Sendable {
    private enum State: Sendable {
        case done
        case length(remaining: Int)
        case chunked(ChunkedDecoder)
    }

    private var state: State
    private var bytesRead = 0
    /// The most a chunked body may hold: its chunks' declared sizes are checked against it
    /// before they are waited for.
    private let limit: Int

    /// A body of `framing` (a close-delimited one is not read through a decoder: it is done).
    init(_ framing: BodyFraming, limit: Int = .max) {
        switch framing {
        case .none, .untilClose: state = .done
        case .length(let length): state = length == 0 ? .done : .length(remaining: length)
        case .chunked: state = .chunked(ChunkedDecoder())
        }
        self.limit = limit
    }

    static let done = BodyDecoder(.none)

    var isDone: Bool {
        if case .done = state { true } else { false }
    }

    /// The next piece of the body in `bytes` (at most `maxBytes`): how many bytes it used,
    /// and the piece; nil when more bytes are needed, empty at the body's end. A malformed
    /// chunked body throws 400, one past the limit 413.
    mutating func next(_ bytes: UnsafeRawBufferPointer, maxBytes: Int) throws(HTTPError) -> (consumed: Int, value: [UInt8]?) {
        switch state {
        case .done:
            return (0, [])
        case .length(let remaining):
            let count = min(remaining, bytes.count, maxBytes)
            if count == 0 { return (0, nil) }
            state = count == remaining ? .done : .length(remaining: remaining - count)
            return (count, Array(UnsafeRawBufferPointer(rebasing: bytes[0..<count])))
        case .chunked(var decoder):
            let step = decoder.decode(bytes, maxData: maxBytes)
            state = .chunked(decoder)
            switch step {
            case .data(let range, let used):
                guard bytesRead + range.count + decoder.remainingInChunk <= limit else {
                    state = .done
                    throw HTTPError(.contentTooLarge, "a chunked body over \(limit) bytes")
                }
                bytesRead += range.count
                return (used, Array(UnsafeRawBufferPointer(rebasing: bytes[range])))
            case .needMore(let used):
                return (used, nil)
            case .end(let used):
                state = .done
                return (used, [])
            case .error(let message):
                state = .done
                throw HTTPError(.badRequest, message)
            }
        }
    }
}
