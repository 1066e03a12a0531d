import Glibc

/// RESP2 replies, appended to one growing buffer that a connection reuses: a batch of
/// pipelined replies goes out in one write.
public struct Reply: Sendable {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 16 * 1024) {
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    /// `+OK`, `+PONG`.
    public mutating func simple(_ text: StaticString) {
        bytes.append(UInt8(ascii: "+"))
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        crlf()
    }

    public mutating func ok() { simple("OK") }

    /// `-ERR ...`: `message` with its code (`ERR`, `WRONGTYPE`); line breaks become blanks, as
    /// Redis makes them.
    public mutating func error(_ message: String) {
        bytes.append(UInt8(ascii: "-"))
        for byte in message.utf8 { bytes.append(byte == 13 || byte == 10 ? 32 : byte) }
        crlf()
    }

    public mutating func integer(_ value: Int) {
        bytes.append(UInt8(ascii: ":"))
        decimal(value)
        crlf()
    }

    public mutating func bulk(_ value: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "$"))
        decimal(value.count)
        crlf()
        bytes.append(contentsOf: value)
        crlf()
    }

    public mutating func bulk(_ value: [UInt8]) {
        value.withUnsafeBytes { bulk($0) }
    }

    public mutating func bulk(_ text: String) {
        var text = text
        text.withUTF8 { bulk(UnsafeRawBufferPointer($0)) }
    }

    /// A score, as Redis 7.0 prints a double: `%.17g` (`0.10000000000000001`, `1e+20`,
    /// `inf`).
    public mutating func bulk(score: Double) {
        var text = (0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8,
                    0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8,
                    0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8,
                    0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8, 0 as UInt8)
        withUnsafeMutableBytes(of: &text) { raw in
            let count = withVaList([score]) { vsnprintf(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, "%.17g", $0) }
            bulk(UnsafeRawBufferPointer(rebasing: raw.prefix(Int(count))))
        }
    }

    /// `$-1`: no value.
    public mutating func null() {
        bytes.append(contentsOf: [UInt8(ascii: "$"), UInt8(ascii: "-"), UInt8(ascii: "1"), 13, 10])
    }

    public mutating func arrayHeader(_ count: Int) {
        bytes.append(UInt8(ascii: "*"))
        decimal(count)
        crlf()
    }

    /// `*-1`: no array.
    public mutating func nullArray() {
        bytes.append(contentsOf: [UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "1"), 13, 10])
    }

    @inline(__always)
    private mutating func crlf() {
        bytes.append(13)
        bytes.append(10)
    }

    /// The decimal digits of `value`, without an intermediate String.
    private mutating func decimal(_ value: Int) {
        if value >= 0 && value < 10 {
            bytes.append(UInt8(48 + value))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let start = bytes.count
        while magnitude > 0 {
            bytes.append(UInt8(48 + magnitude % 10))
            magnitude /= 10
        }
        bytes[start...].reverse()
    }
}
