import Glibc

/// A connection's response bytes not yet handed to the writer, in memory of its own that
/// grows as needed and is kept for the next response (appending is a copy, never an
/// allocation, once it has grown to a response's size).
struct OutputBuffer: ~Copyable {
    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0
    private(set) var count = 0

    /// Past this, the memory is given back when the buffer empties.
    static let keptCapacity = 64 * 1024

    init() {}

    deinit { free(storage) }

    var isEmpty: Bool { count == 0 }

    /// The bytes appended, valid until the next append.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    mutating func removeAll() {
        count = 0
        if capacity > Self.keptCapacity {
            free(storage)
            storage = nil
            capacity = 0
        }
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) -> UnsafeMutableRawPointer {
        if count + extra > capacity { grow(count + extra) }
        return storage.unsafelyUnwrapped + count
    }

    private mutating func grow(_ needed: Int) {
        var newCapacity = max(capacity * 2, 1024)
        while newCapacity < needed { newCapacity *= 2 }
        storage = realloc(storage, newCapacity)
        precondition(storage != nil, "out of memory for a response")
        capacity = newCapacity
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        memcpy(reserve(bytes.count), base, bytes.count)
        count += bytes.count
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// A string's UTF-8 (a literal goes to the `StaticString` form instead: no string is made).
    mutating func append(string text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    mutating func append(_ byte: UInt8) {
        reserve(1).storeBytes(of: byte, as: UInt8.self)
        count += 1
    }

    mutating func appendDecimal(_ value: Int) {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let target = reserve(digits)
        var value = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            target.storeBytes(of: UInt8(truncatingIfNeeded: 0x30 + value % 10), toByteOffset: index, as: UInt8.self)
            value /= 10
        }
        count += digits
    }

    mutating func appendHex(_ value: Int) {
        var digits = 1
        while value >> (4 * digits) > 0 { digits += 1 }
        let target = reserve(digits)
        for index in 0..<digits {
            let digit = (value >> (4 * (digits - 1 - index))) & 15
            target.storeBytes(of: UInt8(truncatingIfNeeded: digit < 10 ? 0x30 + digit : 0x61 + digit - 10), toByteOffset: index, as: UInt8.self)
        }
        count += digits
    }
}
