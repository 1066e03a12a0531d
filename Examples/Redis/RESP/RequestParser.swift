import Glibc

/// Parses RESP2 requests where they were received, as Redis does (networking.c): a multibulk
/// request (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or an inline one (`PING\r\n`, as telnet and
/// redis-benchmark's PING_INLINE send).
///
/// A multibulk request's arguments are ranges of the bytes given to `parse`, so nothing is
/// copied; an inline request's are decoded into storage of the parser's (quotes and escapes
/// change them). A request that has not fully arrived is resumed where it stopped when more
/// bytes come, so a large request arriving slowly is not parsed again from its start each time.
///
/// Limits are checked on the declared sizes, before anything is waited for or allocated: a
/// bulk over 512 MiB, a multibulk count over 1,048,576, and a count line or inline request
/// over 64 KiB without its end are protocol errors.
public struct RequestParser: Sendable {
    public static let maxBulkLength = 512 * 1024 * 1024
    public static let maxArgumentCount = 1_048_576
    public static let maxInlineLength = 64 * 1024

    public enum Outcome: Equatable, Sendable {
        /// A request of `length` bytes: its arguments are in ``arguments``.
        case request(length: Int)
        /// An empty request (a blank inline line, `*0`): skip `length` bytes.
        case empty(length: Int)
        /// The request has not fully arrived; call again, from the same start, with more.
        case needMore
        /// A protocol error (Redis's `Protocol error: ...` text): the connection must close.
        case error(String)
    }

    /// The last request's arguments: offsets from its start (in the bytes parsed, or in
    /// ``inlineStorage`` when ``isInline``) and lengths.
    public private(set) var arguments: [(offset: Int, count: Int)] = []
    /// True when the last request was inline: its arguments are in ``inlineStorage``.
    public private(set) var isInline = false
    public private(set) var inlineStorage: [UInt8] = []

    /// A multibulk request in progress: how many arguments it declared, and where (from the
    /// request's start) the next one begins.
    private var declaredCount = 0
    private var position = 0

    public init() {
        arguments.reserveCapacity(16)
    }

    /// Parses the request that starts at `start` in `bytes`. After `.needMore`, call again
    /// with the same request at `start` (and more bytes after it).
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Outcome {
        guard start < bytes.count else { return .needMore }
        if position > 0 { return parseArguments(bytes, start) }
        if bytes[start] != UInt8(ascii: "*") { return parseInline(bytes, start) }
        guard let lineEnd = find(UInt8(ascii: "\r"), in: bytes, from: start + 1) else {
            return bytes.count - start > Self.maxInlineLength ? .error("too big mbulk count string") : .needMore
        }
        guard lineEnd + 1 < bytes.count else { return .needMore }
        guard let count = integer(bytes, start + 1, lineEnd), count <= Self.maxArgumentCount else {
            return .error("invalid multibulk length")
        }
        if count <= 0 { return .empty(length: lineEnd + 2 - start) }
        isInline = false
        arguments.removeAll(keepingCapacity: true)
        declaredCount = count
        position = lineEnd + 2 - start
        return parseArguments(bytes, start)
    }

    private mutating func parseArguments(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> Outcome {
        while arguments.count < declaredCount {
            let header = start + position
            guard header < bytes.count else { return .needMore }
            guard bytes[header] == UInt8(ascii: "$") else {
                return fail("expected '$', got '\(Character(Unicode.Scalar(bytes[header])))'")
            }
            guard let lineEnd = find(UInt8(ascii: "\r"), in: bytes, from: header + 1) else {
                return bytes.count - header > Self.maxInlineLength ? fail("too big bulk count string") : .needMore
            }
            guard lineEnd + 1 < bytes.count else { return .needMore }
            guard let length = integer(bytes, header + 1, lineEnd), length >= 0, length <= Self.maxBulkLength else {
                return fail("invalid bulk length")
            }
            let body = lineEnd + 2
            guard body + length + 2 <= bytes.count else { return .needMore }
            arguments.append((offset: body - start, count: length))
            position = body + length + 2 - start
        }
        let length = position
        position = 0
        return .request(length: length)
    }

    private mutating func fail(_ message: String) -> Outcome {
        position = 0
        return .error(message)
    }

    /// An inline request: a line, split on blanks, with Redis's quoting (sdssplitargs).
    private mutating func parseInline(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> Outcome {
        guard let newline = find(UInt8(ascii: "\n"), in: bytes, from: start) else {
            return bytes.count - start > Self.maxInlineLength ? .error("too big inline request") : .needMore
        }
        var end = newline
        if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        isInline = true
        arguments.removeAll(keepingCapacity: true)
        inlineStorage.removeAll(keepingCapacity: true)
        guard splitArguments(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) else {
            return .error("unbalanced quotes in request")
        }
        return arguments.isEmpty ? .empty(length: newline + 1 - start) : .request(length: newline + 1 - start)
    }

    /// sdssplitargs: blanks separate arguments; "double quotes" take \n \r \t \b \a \\ \" and
    /// \xHH escapes, 'single quotes' take \'; a closing quote must be followed by a blank.
    private mutating func splitArguments(_ line: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 10 || byte == 13 || byte == 11 || byte == 12 }
        while true {
            while index < line.count && isBlank(line[index]) { index += 1 }
            if index == line.count { return true }
            let begin = inlineStorage.count
            var inDouble = false
            var inSingle = false
            while true {
                if inDouble {
                    guard index < line.count else { return false }
                    let byte = line[index]
                    if byte == UInt8(ascii: "\\") && index + 3 < line.count && line[index + 1] == UInt8(ascii: "x"),
                        let high = hexValue(line[index + 2]), let low = hexValue(line[index + 3])
                    {
                        inlineStorage.append(high << 4 | low)
                        index += 3
                    } else if byte == UInt8(ascii: "\\") && index + 1 < line.count {
                        index += 1
                        switch line[index] {
                        case UInt8(ascii: "n"): inlineStorage.append(10)
                        case UInt8(ascii: "r"): inlineStorage.append(13)
                        case UInt8(ascii: "t"): inlineStorage.append(9)
                        case UInt8(ascii: "b"): inlineStorage.append(8)
                        case UInt8(ascii: "a"): inlineStorage.append(7)
                        default: inlineStorage.append(line[index])
                        }
                    } else if byte == UInt8(ascii: "\"") {
                        if index + 1 < line.count && !isBlank(line[index + 1]) { return false }
                        inDouble = false
                        index += 1
                        break
                    } else {
                        inlineStorage.append(byte)
                    }
                } else if inSingle {
                    guard index < line.count else { return false }
                    let byte = line[index]
                    if byte == UInt8(ascii: "\\") && index + 1 < line.count && line[index + 1] == UInt8(ascii: "'") {
                        inlineStorage.append(UInt8(ascii: "'"))
                        index += 1
                    } else if byte == UInt8(ascii: "'") {
                        if index + 1 < line.count && !isBlank(line[index + 1]) { return false }
                        inSingle = false
                        index += 1
                        break
                    } else {
                        inlineStorage.append(byte)
                    }
                } else {
                    if index == line.count { break }
                    let byte = line[index]
                    if isBlank(byte) { break }
                    if byte == UInt8(ascii: "\"") {
                        inDouble = true
                    } else if byte == UInt8(ascii: "'") {
                        inSingle = true
                    } else {
                        inlineStorage.append(byte)
                    }
                }
                index += 1
            }
            arguments.append((offset: begin, count: inlineStorage.count - begin))
        }
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Where `byte` first is in `bytes` at or after `from`.
@inline(__always)
func find(_ byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
    guard from < bytes.count, let base = bytes.baseAddress else { return nil }
    guard let found = memchr(base + from, Int32(byte), bytes.count - from) else { return nil }
    return UnsafeRawPointer(found) - base
}

/// A decimal integer in bytes[start..<end], strictly (Redis's string2ll): an optional minus,
/// digits, no blank, no overflow.
func integer(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
    integer(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
}

/// A decimal integer, strictly (Redis's string2ll).
public func integer(_ bytes: UnsafeRawBufferPointer) -> Int? {
    guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
    var index = 0
    let negative = bytes[0] == UInt8(ascii: "-")
    if negative { index = 1 }
    guard index < bytes.count else { return nil }
    if bytes[index] == UInt8(ascii: "0") && bytes.count > index + 1 { return nil }  // no leading zero
    var value = 0
    while index < bytes.count {
        let digit = Int(bytes[index]) - 48
        guard digit >= 0 && digit <= 9 else { return nil }
        let (times, overflow) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflowAgain) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
        if overflow || overflowAgain { return nil }
        value = sum
        index += 1
    }
    if negative && value == 0 && bytes.count == 2 { return nil }  // "-0"
    return value
}
