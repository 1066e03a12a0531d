import CReactor
import Glibc

/// asyncio's `loop.sock_*` operations. Each one runs on the socket's reactor (hopping there
/// when called from elsewhere), tries its syscall first and parks only on EAGAIN (decision 2).
extension Reactor {
    /// Accepts one connection (`loop.sock_accept`). The listener stays readable until accept4
    /// says EAGAIN, so a burst of connections costs one wake-up.
    ///
    /// When the process or system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
    /// ENOMEM), the pending connection stays queued and no new edge would come, so retrying at
    /// once would spin: it logs, backs off (10 ms doubling to 1 s) and tries again.
    public nonisolated(nonsending) func sockAccept(_ listener: Socket) async throws -> (Socket, SocketAddress) {
        let reactor = listener.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.sockAccept(listener) }) }
        await reactor.consumeBudget()
        var backoff = Duration.milliseconds(10)
        while true {
            try await reactor.waitUntilReady(listener, for: .read, "accept")
            var storage = sockaddr_storage()
            var length = socklen_t(0)
            let fd = cr_accept(listener.fd, &storage, &length)
            if fd >= 0 {
                return (try reactor.register(fd), SocketAddress(storage: storage, length: length))
            }
            switch -fd {
            case EAGAIN:
                reactor.sockets.slot(fd: listener.fd, generation: listener.generation)?.pointee.clearReadyAfterEAGAIN(.read)
            case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
                ENETUNREACH:
                continue  // that connection failed (accept(2) lists these); the next may be fine
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                let error = SocketError(operation: "accept", errno: -fd)
                if backoff == .milliseconds(10) {
                    reactor.logger.warning("\(error); pausing accepts on fd \(listener.fd)")
                } else {
                    reactor.logger.debug("\(error); still pausing accepts for \(backoff)")
                }
                try await reactor.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
            default:
                throw SocketError(operation: "accept", errno: -fd)
            }
        }
    }

    /// Receives into caller memory (`loop.sock_recv_into`): returns the byte count, 0 at EOF.
    /// The buffer must stay valid until the call returns.
    public nonisolated(nonsending) func sockRecv(_ socket: Socket, into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let reactor = socket.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.sockRecv(socket, into: buffer) }) }
        await reactor.consumeBudget()
        while true {
            if let count = try reactor.tryRecv(socket, into: buffer) { return count }
            try await reactor.waitUntilReady(socket, for: .read, "recv")
        }
    }

    /// Receives at most `maxBytes` (`loop.sock_recv`); empty at EOF. Allocates the result;
    /// `sockRecv(_:into:)` is the allocation-free form.
    public nonisolated(nonsending) func sockRecv(_ socket: Socket, maxBytes: Int) async throws -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(maxBytes, 1), alignment: 1)
        defer { buffer.deallocate() }
        let count = try await sockRecv(socket, into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(maxBytes)))
        return Array(buffer.prefix(count))
    }

    /// Sends every byte (`loop.sock_sendall`), returning once all are in the kernel. Sends at
    /// once; only the unsent rest waits for writability. The memory must stay valid until the
    /// call returns. If cancelled, some prefix of the bytes may have been sent.
    public nonisolated(nonsending) func sockSendall(_ socket: Socket, _ bytes: UnsafeRawBufferPointer) async throws {
        let reactor = socket.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.sockSendall(socket, bytes) }) }
        try await sendAll(socket, count: bytes.count) { sent in
            cr_send(socket.fd, bytes.baseAddress! + sent, bytes.count - sent)
        }
    }

    /// Sends every byte of `bytes` (`loop.sock_sendall`). Contiguous collections (arrays,
    /// slices) are sent from their own storage; others are copied once.
    public nonisolated(nonsending) func sockSendall<Bytes: Collection<UInt8>>(_ socket: Socket, _ bytes: Bytes) async throws {
        let reactor = socket.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.sockSendall(socket, bytes) }) }
        guard bytes.withContiguousStorageIfAvailable({ _ in true }) == true else {
            return try await sockSendall(socket, Array(bytes))
        }
        try await sendAll(socket, count: bytes.count) { sent in
            bytes.withContiguousStorageIfAvailable { storage in
                cr_send(socket.fd, storage.baseAddress! + sent, storage.count - sent)
            }!
        }
    }

    /// The sendall loop, on the loop thread. `send(sent)` makes one send(2) of the bytes from
    /// offset `sent` on and returns its result (a count, or -errno).
    private nonisolated(nonsending) func sendAll(_ socket: Socket, count total: Int, _ send: (_ sent: Int) -> Int) async throws {
        let reactor = socket.reactor
        await reactor.consumeBudget()
        var sent = 0
        while sent < total {
            if let count = try reactor.attemptSend(socket, requested: total - sent, { send(sent) }) {
                sent += count
            } else {
                try await reactor.waitUntilReady(socket, for: .write, "send")
            }
        }
    }

    /// Connects (`loop.sock_connect`): EINPROGRESS, then wait for writability and read
    /// SO_ERROR. A connect that was cancelled may be started again on the same socket: it
    /// waits for the attempt already under way.
    public nonisolated(nonsending) func sockConnect(_ socket: Socket, to address: SocketAddress) async throws {
        let reactor = socket.reactor
        guard reactor.runsInPlace(#isolation) else { return try await reactor.hop(UnsafeTransfer { try await reactor.sockConnect(socket, to: address) }) }
        guard let slot = reactor.sockets.slot(fd: socket.fd, generation: socket.generation) else {
            throw SocketError.closed("connect", fd: socket.fd)
        }
        // An unconnected socket polls as writable and hung up; what epoll said of it before
        // this attempt says nothing of the connection (and epoll re-polls the socket when it
        // delivers, so nothing older arrives later).
        slot.pointee.resetReadiness()
        while true {
            let result = address.withSockAddr { cr_connect(socket.fd, $0, $1) }
            switch -result {
            case 0, EISCONN:
                return
            case EINPROGRESS, EALREADY:
                // Wait for this attempt's edge.
                reactor.sockets.slot(fd: socket.fd, generation: socket.generation)?.pointee.clearReadyAfterEAGAIN(.write)
                try await reactor.waitUntilReady(socket, for: .write, "connect")
                let error = cr_socket_error(socket.fd)
                if error != 0 {
                    throw SocketError(operation: "connect", errno: error < 0 ? -error : error, detail: "to \(address)")
                }
                // Loop: connect again returns 0 or EISCONN once established, EALREADY if the
                // wake-up was early.
            default:
                throw SocketError(operation: "connect", errno: -result, detail: "to \(address)")
            }
        }
    }
}
