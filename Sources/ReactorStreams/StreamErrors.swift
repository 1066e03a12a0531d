import Reactor

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

/// A stream used in a way it does not allow.
public struct StreamError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A second task tried to read while another was waiting for data.
        case readInProgress
        /// A negative count, an empty separator.
        case invalidArgument
        /// `write` after `close()` or `writeEOF()`.
        case writerClosed
        /// The connection failed or was closed while data was still to be sent.
        case connectionLost
    }

    public let kind: Kind
    public let message: String
    /// The failed system call behind a `.connectionLost`, when there was one (the peer's
    /// reset, a pipe whose reader is gone): its errno tells them apart.
    public let cause: SocketError?

    public init(_ kind: Kind, _ message: String, cause: SocketError? = nil) {
        self.kind = kind
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
