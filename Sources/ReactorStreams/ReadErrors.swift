/// EOF came before the read was complete (asyncio's `IncompleteReadError`).
public struct IncompleteReadError: Error, Equatable, CustomStringConvertible {
    /// The bytes read before EOF.
    public let partial: [UInt8]
    /// How many bytes were expected; nil for `readUntil`, which expected a separator.
    public let expected: Int?

    public init(partial: [UInt8], expected: Int?) {
        self.partial = partial
        self.expected = expected
    }

    public var description: String {
        let expected = self.expected.map { "\($0)" } ?? "undefined"
        return "\(partial.count) bytes read on a total of \(expected) expected bytes"
    }
}

/// A separator was not found within the reader's limit (asyncio's `LimitOverrunError`).
public struct LimitOverrunError: Error, Equatable, CustomStringConvertible {
    public let message: String
    /// How many bytes to consume to get past the data examined (for `readUntil`, the buffer
    /// was left as it was).
    public let consumed: Int

    public init(_ message: String, consumed: Int) {
        self.message = message
        self.consumed = consumed
    }

    public var description: String { "\(message) (consumed: \(consumed))" }
}
