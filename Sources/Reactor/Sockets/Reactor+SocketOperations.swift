import CReactor
import Glibc

/// asyncio's `loop.sock_*` operations. Each one takes a socket of this reactor (another
/// reactor's socket is refused with `ReactorError` `.wrongReactor`), crosses onto the loop
/// (`runOnLoop`), tries its syscall first and parks only on EAGAIN (the design article, "Try the
/// syscall first").
extension Reactor {
    /// Accepts one connection (`loop.sock_accept`). The listener stays readable until accept4
    /// says EAGAIN, so a burst of connections costs one wake-up.
    ///
    /// When the process or system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
    /// ENOMEM), the pending connection stays queued and no new edge would come, so retrying at
    /// once would spin: it logs, backs off (10 ms doubling to 1 s) and tries again.
    public nonisolated(nonsending) func sockAccept(_ listener: Socket, file: StaticString = #fileID, line: UInt = #line) async throws -> (Socket, SocketAddress) {
        try checkOwns(listener, "sockAccept")
        return try await runOnLoop((self, listener), file: file, line: line) { arguments in
            let (reactor, listener) = arguments
            return try await reactor.accept(listener)
        }
    }

    private nonisolated(nonsending) func accept(_ listener: Socket) async throws -> (Socket, SocketAddress) {
        await consumeBudget()
        var backoff = Duration.milliseconds(10)
        var peer = SocketAddress()
        while true {
            do {
                // A new fd is no short transfer: the listener stays ready until accept says EAGAIN.
                let fd = try await listener.whenReady(.read) {
                    try attempt(listener, .read, requested: 0, "accept") { Int(peer.withUnsafeMutableStorage { cr_accept(listener.fd, $0, $1) }) }
                }
                // A connection is of its listener's kind: a byte stream, or records (SOCK_SEQPACKET).
                return (try register(Int32(fd), isStream: !listener.isDatagram) as! Socket, peer)
            } catch let error as SystemCallError {
                switch error.errno {
                case ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP,
                    ENETUNREACH:
                    continue  // that connection failed (accept(2) lists these); the next may be fine
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    if backoff == .milliseconds(10) {
                        logger.warning("\(error); pausing accepts on fd \(listener.fd)")
                    } else {
                        logger.debug("\(error); still pausing accepts for \(backoff)")
                    }
                    try await sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(1))
                default:
                    throw error
                }
            }
        }
    }

    /// Receives into caller memory (`loop.sock_recv_into`): returns the byte count, 0 at EOF.
    /// The buffer must stay valid until the call returns.
    public nonisolated(nonsending) func sockRecv(_ socket: Socket, into buffer: UnsafeMutableRawBufferPointer, file: StaticString = #fileID, line: UInt = #line) async throws -> Int {
        try checkOwns(socket, "sockRecv")
        guard runsInPlace(#isolation) else { return try await runOnLoop((self, socket, buffer), file: file, line: line) { try await $0.0.sockRecv($0.1, into: $0.2) } }
        await consumeBudget()
        let count = try await socket.whenReady(.read) { try socket.tryRead(into: buffer) }
        chargeBudget(bytes: count)
        return count
    }

    /// Receives at most `maxBytes` (`loop.sock_recv`); empty at EOF. Up to 64 KiB, receives
    /// into the loop's receive scratch and returns the bytes in the storage of the last array
    /// the reactor made, once nothing else holds that: a caller that drops each before the
    /// next allocates none (one that changes an array it was handed pays a copy the first
    /// time). `sockRecv(_:into:)` never allocates.
    public nonisolated(nonsending) func sockRecv(_ socket: Socket, maxBytes: Int, file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        if maxBytes > Self.recycledArrayLimit {
            // Into memory of its own: the shared scratch would keep a one-off size.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maxBytes, alignment: 1)
            defer { buffer.deallocate() }
            return Array(buffer.prefix(try await sockRecv(socket, into: buffer, file: file, line: line)))
        }
        try checkOwns(socket, "sockRecv")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, maxBytes), file: file, line: line) { try await $0.0.sockRecv($0.1, maxBytes: $0.2) }
        }
        await consumeBudget()
        // The scratch is asked for at each attempt: it may have grown during the wait.
        let count = try await socket.whenReady(.read) { try socket.tryRead(into: self.receiveScratchPrefix(maxBytes)) }
        chargeBudget(bytes: count)
        return array(copying: UnsafeRawBufferPointer(receiveScratchPrefix(count)))
    }

    /// Sends every byte (`loop.sock_sendall`), returning once all are in the kernel. Sends at
    /// once; only the unsent rest waits for writability. The memory must stay valid until the
    /// call returns. If cancelled, some prefix of the bytes may have been sent.
    public nonisolated(nonsending) func sockSendall(_ socket: Socket, _ bytes: UnsafeRawBufferPointer, file: StaticString = #fileID, line: UInt = #line) async throws {
        try checkOwns(socket, "sockSendall")
        guard runsInPlace(#isolation) else { return try await runOnLoop((self, socket, bytes), file: file, line: line) { try await $0.0.sockSendall($0.1, $0.2) } }
        try await sendAll(socket, count: bytes.count) { sent in
            try socket.tryWrite(UnsafeRawBufferPointer(rebasing: bytes[sent...]))
        }
    }

    /// Sends every byte of `bytes` (`loop.sock_sendall`), from the array's own storage.
    public nonisolated(nonsending) func sockSendall(_ socket: Socket, _ bytes: [UInt8], file: StaticString = #fileID, line: UInt = #line) async throws {
        try checkOwns(socket, "sockSendall")
        guard runsInPlace(#isolation) else { return try await runOnLoop((self, socket, bytes), file: file, line: line) { try await $0.0.sockSendall($0.1, $0.2) } }
        try await sendAll(socket, count: bytes.count) { sent in
            try bytes.withUnsafeBytes { try socket.tryWrite(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
        }
    }

    /// Sends every byte of `bytes` (`loop.sock_sendall`): arrays from their own storage,
    /// other collections copied once into one.
    public nonisolated(nonsending) func sockSendall<Bytes: Collection<UInt8>>(_ socket: Socket, _ bytes: Bytes, file: StaticString = #fileID, line: UInt = #line) async throws {
        try await sockSendall(socket, bytes as? [UInt8] ?? Array(bytes), file: file, line: line)
    }

    /// The sendall loop, on the loop thread: `write(sent)` makes one attempt at the bytes
    /// from offset `sent` on.
    private nonisolated(nonsending) func sendAll(_ socket: Socket, count total: Int, _ write: (_ sent: Int) throws -> Int?) async throws {
        await consumeBudget()
        var sent = 0
        while sent < total {
            if sent > 0 { await consumeBudget() }  // each further chunk is an operation too
            let count = try await socket.whenReady(.write) { try write(sent) }
            sent += count
            chargeBudget(bytes: count)
        }
    }

    /// Connects (`loop.sock_connect`): EINPROGRESS, then wait for writability and read
    /// SO_ERROR. A connect that was cancelled may be started again on the same socket: it
    /// waits for the attempt already under way. A Unix-domain listener whose backlog is full
    /// says EAGAIN: that is waited out too, retrying with a back-off (1 ms doubling to 64 ms).
    public nonisolated(nonsending) func sockConnect(_ socket: Socket, to address: SocketAddress, file: StaticString = #fileID, line: UInt = #line) async throws {
        try checkOwns(socket, "sockConnect")
        try await runOnLoop((self, socket, address), file: file, line: line) { arguments in
            let (reactor, socket, address) = arguments
            try await reactor.connect(socket, to: address)
        }
    }

    private nonisolated(nonsending) func connect(_ socket: Socket, to address: SocketAddress) async throws {
        guard let source = sources.source(fd: socket.fd, generation: socket.generation) else {
            throw SystemCallError.closed("connect", fd: socket.fd)
        }
        // An unconnected socket polls as writable and hung up; what epoll said of it before
        // this attempt says nothing of the connection (and epoll re-polls the socket when it
        // delivers, so nothing older arrives later).
        source.pointee.resetReadiness()
        var backoff = Duration.milliseconds(1)
        while true {
            let result = address.withSockAddr { cr_connect(socket.fd, $0, $1) }
            switch -result {
            case 0, EISCONN:
                return
            case EINPROGRESS, EALREADY:
                // Wait for this attempt's edge.
                sources.source(fd: socket.fd, generation: socket.generation)?.pointee.clearReadyAfterEAGAIN(.write)
                try await waitUntilReady(socket, for: .write, "connect")
                let error = cr_socket_error(socket.fd)
                if error != 0 {
                    throw SystemCallError(operation: "connect", errno: error < 0 ? -error : error, detail: "to \(address)")
                }
                // Loop: connect again returns 0 or EISCONN once established, EALREADY if the
                // wake-up was early.
            case EAGAIN where address.family == .unix:
                // No attempt is under way and no edge will come when the backlog frees.
                try await sleep(for: backoff)
                backoff = min(backoff * 2, .milliseconds(64))
            default:
                throw SystemCallError(operation: "connect", errno: -result, detail: "to \(address)")
            }
        }
    }
}
