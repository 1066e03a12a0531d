/// Decodes a chunked body (RFC 9112 section 7.1) where it was received: each call says which
/// of the bytes given are body data, and how many bytes it used. Chunk extensions and
/// trailer fields are read past; a size line or the trailers past their limits, a size that
/// is not hex, or a chunk not followed by CRLF is an error.
public struct ChunkedDecoder: Sendable {
    /// The most a chunk-size line (with extensions) or one trailer line may hold.
    public static let maxLineLength = 4096
    /// The most the trailer section may hold.
    public static let maxTrailersLength = 16 * 1024

    private enum State: Sendable {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers(length: Int)
        case done
    }

    private var state = State.size

    public init() {}

    /// How much of the current chunk's data is still to come, as its size line declared.
    public var remainingInChunk: Int {
        if case .data(let remaining) = state { remaining } else { 0 }
    }

    /// True once the last chunk and the trailers were read.
    public var isDone: Bool {
        if case .done = state { true } else { false }
    }

    public enum Step: Sendable, Equatable {
        /// Body data: `bytes[data]`; `consumed` bytes were used (through the data).
        case data(Range<Int>, consumed: Int)
        /// More bytes are needed; `consumed` were used (framing read past).
        case needMore(consumed: Int)
        /// The body ended; `consumed` bytes were used (through the trailers' blank line).
        case end(consumed: Int)
        case error(String)
    }

    /// The next step over `bytes`, giving at most `maxData` bytes of data: call again with
    /// the bytes after what was consumed.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer, maxData: Int = .max) -> Step {
        var index = 0
        while true {
            switch state {
            case .done:
                return .end(consumed: index)
            case .size:
                guard let lineEnd = lineEnd(bytes, from: index) else {
                    return bytes.count - index > Self.maxLineLength ? .error("a chunk-size line over \(Self.maxLineLength) bytes") : .needMore(consumed: index)
                }
                guard lineEnd >= 0 else { return .error("a bare CR or LF in a chunk-size line") }
                guard lineEnd - index <= Self.maxLineLength else { return .error("a chunk-size line over \(Self.maxLineLength) bytes") }
                var size = 0
                var digits = 0
                var cursor = index
                while cursor < lineEnd, let digit = hexValue(bytes[cursor]) {
                    guard digits < 15 else { return .error("a chunk size too large") }
                    size = size << 4 | digit
                    digits += 1
                    cursor += 1
                }
                guard digits > 0 else { return .error("a chunk size that is not hex") }
                // Whitespace, then extensions (";name=value"), are allowed after the size.
                while cursor < lineEnd && (bytes[cursor] == 0x20 || bytes[cursor] == 0x09) { cursor += 1 }
                guard cursor == lineEnd || bytes[cursor] == UInt8(ascii: ";") else { return .error("a malformed chunk size") }
                index = lineEnd + 2
                state = size == 0 ? .trailers(length: 0) : .data(remaining: size)
            case .data(let remaining):
                guard index < bytes.count else { return .needMore(consumed: index) }
                let count = min(remaining, bytes.count - index, maxData)
                state = count == remaining ? .dataEnd : .data(remaining: remaining - count)
                return .data(index..<(index + count), consumed: index + count)
            case .dataEnd:
                guard bytes.count - index >= 2 else { return .needMore(consumed: index) }
                guard bytes[index] == 0x0D && bytes[index + 1] == 0x0A else { return .error("a chunk not followed by CRLF") }
                index += 2
                state = .size
            case .trailers(let length):
                guard let lineEnd = lineEnd(bytes, from: index) else {
                    return bytes.count - index > Self.maxLineLength ? .error("a trailer line over \(Self.maxLineLength) bytes") : .needMore(consumed: index)
                }
                guard lineEnd >= 0 else { return .error("a bare CR or LF in the trailers") }
                let total = length + lineEnd - index + 2
                guard total <= Self.maxTrailersLength else { return .error("trailers over \(Self.maxTrailersLength) bytes") }
                let blank = lineEnd == index
                index = lineEnd + 2
                state = blank ? .done : .trailers(length: total)
            }
        }
    }

    /// Where the CRLF ending the line at `start` is; nil if it has not arrived, -1 for a CR
    /// or LF that is not a CRLF.
    private func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        let limit = min(bytes.count, start + Self.maxLineLength + 2)
        while index < limit {
            let byte = bytes[index]
            if byte == 0x0A { return -1 }
            if byte == 0x0D {
                guard index + 1 < bytes.count else { return nil }
                return bytes[index + 1] == 0x0A ? index : -1
            }
            index += 1
        }
        return nil
    }

    private func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        default: nil
        }
    }
}
