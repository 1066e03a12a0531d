import CReactor
import Glibc

/// The non-blocking datagram primitives of a socket, as `tryRead` and `tryWrite` are for bytes
/// (Tokio's `try_recv_from` and `try_send_to`): one syscall each, nil when the kernel says
/// EAGAIN, on the loop thread only. A server that answers each datagram at once can try the
/// reply's send and wait (`sockSendto`) only when the send buffer was full.
extension Socket {
    /// One recvfrom(2): the datagram's length (0 for an empty one) and its sender, or nil when
    /// none is waiting. One longer than `buffer` throws `TruncatedDatagramError`, with its
    /// start in `buffer`.
    public final func tryRecvfrom(into buffer: UnsafeMutableRawBufferPointer) throws -> (count: Int, address: SocketAddress)? {
        reactor.assertOnLoop("tryRecvfrom")
        try checkIsDatagram("tryRecvfrom")
        var sender = SocketAddress()
        guard let size = try receiveDatagram(into: buffer, from: &sender) else { return nil }
        if size > buffer.count { throw TruncatedDatagramError(size: size, capacity: buffer.count, sender: sender) }
        return (size, sender)
    }

    /// One sendto(2): `bytes` as one datagram to `address`; its length, or nil when the send
    /// buffer is full.
    public final func trySendto(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) throws -> Int? {
        reactor.assertOnLoop("trySendto")
        try checkIsDatagram("trySendto")
        return try sendDatagram(bytes, to: address)
    }

    /// recvfrom(2) with the readiness bookkeeping: the datagram's full length (more than
    /// `buffer.count` when it was cut), nil on EAGAIN.
    @inline(__always)
    func receiveDatagram(into buffer: UnsafeMutableRawBufferPointer, from sender: inout SocketAddress) throws -> Int? {
        try reactor.attempt(self, .read, requested: buffer.count, "recvfrom") {
            sender.withUnsafeMutableStorage { cr_recvfrom(fd, buffer.baseAddress, buffer.count, $0, $1) }
        }
    }

    /// sendto(2) with the readiness bookkeeping: the length sent, nil on EAGAIN.
    @inline(__always)
    func sendDatagram(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) throws -> Int? {
        try reactor.attempt(self, .write, requested: bytes.count, "sendto") {
            address.withSockAddr { cr_sendto(fd, bytes.baseAddress, bytes.count, $0, $1) }
        }
    }

    /// Throws `ReactorError` (`.invalidArgument`) for a stream socket.
    func checkIsDatagram(_ operation: StaticString) throws {
        guard isDatagram else { throw ReactorError(.invalidArgument, "\(operation) needs a datagram socket; \(self) is a stream") }
    }
}
