/// A datagram longer than the memory it was received into: its first `capacity` bytes are
/// there, the rest is gone (the kernel drops what does not fit). Thrown by the single-datagram
/// receives, so a datagram is never cut short without a word; a batch marks such a datagram
/// instead (`DatagramBatch.Message.isTruncated`).
public struct TruncatedDatagramError: Error, Equatable, CustomStringConvertible {
    /// The datagram's full length.
    public let size: Int
    /// How many of its bytes were received: the buffer's size.
    public let capacity: Int
    /// Who sent it, from `sockRecvfrom`; nil from a connected socket's `sockRecv`.
    public let sender: SocketAddress?

    public init(size: Int, capacity: Int, sender: SocketAddress?) {
        self.size = size
        self.capacity = capacity
        self.sender = sender
    }

    public var description: String {
        "a datagram of \(size) bytes\(sender.map { " from \($0)" } ?? "") did not fit in \(capacity); the rest was dropped"
    }
}
