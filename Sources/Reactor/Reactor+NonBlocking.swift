import CReactor
import Glibc

/// The non-blocking primitives under the `sock*` operations, for protocols that manage their
/// own buffers (the streams layer uses them), in the manner of Tokio's `try_read` and
/// `readable()`: try the syscall, and on `nil` (EAGAIN) wait for readiness and try again.
///
/// The `try*` calls run on the loop thread only. They keep the socket's readiness up to date
/// (decision 3): EAGAIN or a short transfer clears it, so the next `try*` answers `nil`
/// without a syscall until an edge arrives.
extension Reactor {
    /// One recv(2): the byte count (0 at EOF), or nil when no data is there yet.
    public func tryRecv(_ socket: Socket, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        precondition(inLoopThread, "tryRecv must be called on the socket's reactor thread")
        guard let slot = sockets.slot(fd: socket.fd, generation: socket.generation) else {
            throw SocketError.closed("recv", fd: socket.fd)
        }
        guard slot.pointee.isReady(.read) else { return nil }
        let count = cr_recv(socket.fd, buffer.baseAddress, buffer.count)
        if count >= 0 {
            // A short read of a stream emptied the kernel buffer: the next read parks at once.
            if count > 0 && count < buffer.count && slot.pointee.isStream { slot.pointee.clearReady(.read) }
            return count
        }
        guard count == -Int(EAGAIN) else { throw SocketError(operation: "recv", errno: Int32(-count)) }
        slot.pointee.clearReadyAfterEAGAIN(.read)
        return nil
    }

    /// One send(2): how many bytes the kernel took, or nil when it took none (EAGAIN).
    public func trySend(_ socket: Socket, _ bytes: UnsafeRawBufferPointer) throws -> Int? {
        precondition(inLoopThread, "trySend must be called on the socket's reactor thread")
        return try attemptSend(socket, requested: bytes.count) {
            cr_send(socket.fd, bytes.baseAddress, bytes.count)
        }
    }

    /// One sendmsg(2) over `vectors` (a gathering write): how many bytes the kernel took, or
    /// nil when it took none (EAGAIN).
    public func trySend(_ socket: Socket, vectors: UnsafeBufferPointer<iovec>) throws -> Int? {
        precondition(inLoopThread, "trySend must be called on the socket's reactor thread")
        let requested = vectors.reduce(0) { $0 + $1.iov_len }
        return try attemptSend(socket, requested: requested) {
            cr_sendv(socket.fd, vectors.baseAddress, Int32(vectors.count))
        }
    }

    /// Waits until `socket` may have data (or EOF, or an error) to receive. Returns at once
    /// when its readiness is remembered. Throws as the `sock*` operations do: EBADF when
    /// closed, EBUSY when another task waits to read, CancellationError.
    public nonisolated(nonsending) func waitUntilReadable(_ socket: Socket) async throws {
        let reactor = socket.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.waitUntilReadable(socket) }) }
        try await reactor.waitUntilReady(socket, for: .read, "recv")
    }

    /// Waits until `socket` may take more bytes (or has failed). As `waitUntilReadable`.
    public nonisolated(nonsending) func waitUntilWritable(_ socket: Socket) async throws {
        let reactor = socket.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.waitUntilWritable(socket) }) }
        try await reactor.waitUntilReady(socket, for: .write, "send")
    }

    /// One send attempt of `requested` bytes through `send` (which returns a count or -errno),
    /// with the readiness bookkeeping every send shares.
    func attemptSend(_ socket: Socket, requested: Int, _ send: () -> Int) throws -> Int? {
        guard let slot = sockets.slot(fd: socket.fd, generation: socket.generation) else {
            throw SocketError.closed("send", fd: socket.fd)
        }
        guard slot.pointee.isReady(.write) else { return nil }
        let count = send()
        if count >= 0 {
            // A short write filled the kernel buffer: wait for the next edge.
            if count < requested { slot.pointee.clearReady(.write) }
            return count
        }
        guard count == -Int(EAGAIN) else { throw SocketError(operation: "send", errno: Int32(-count)) }
        slot.pointee.clearReadyAfterEAGAIN(.write)
        return nil
    }
}
