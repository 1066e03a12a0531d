import CReactor
import Glibc

/// asyncio's datagram operations (`loop.sock_sendto`, `loop.sock_recvfrom`), for a socket made
/// with `makeSocket(family:kind: .datagram)`, and their batched forms over recvmmsg(2) and
/// sendmmsg(2) with caller-owned memory (`DatagramBatch`). As the stream operations, each
/// tries its syscall first and parks only on EAGAIN.
///
/// What the kernel does not say, nobody buffers: datagrams that arrive faster than they are
/// read wait in the socket's receive buffer (`SocketOption.receiveBufferSize`), and the kernel
/// drops what does not fit. An ICMP error for a connected socket (port unreachable) surfaces
/// as `SystemCallError` ECONNREFUSED on a later send or receive.
extension Reactor {
    /// Receives one datagram into caller memory (`loop.sock_recvfrom_into`): its length (0 for
    /// an empty one) and its sender. One longer than `buffer` throws `TruncatedDatagramError`,
    /// with its start in `buffer`. The buffer must stay valid until the call returns.
    public nonisolated(nonsending) func sockRecvfrom(
        _ socket: Socket, into buffer: UnsafeMutableRawBufferPointer, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> (count: Int, address: SocketAddress) {
        try checkDatagram(socket, "sockRecvfrom")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, buffer), file: file, line: line) { try await $0.0.sockRecvfrom($0.1, into: $0.2) }
        }
        await consumeBudget()
        var sender = SocketAddress()
        let size = try await socket.whenReady(.read) { try socket.receiveDatagram(into: buffer, from: &sender) }
        if size > buffer.count { throw TruncatedDatagramError(size: size, capacity: buffer.count, sender: sender) }
        chargeBudget(bytes: size)
        return (size, sender)
    }

    /// Receives one datagram of at most `maxBytes` (`loop.sock_recvfrom`), in an array made as
    /// `sockRecv(_:maxBytes:)` makes its arrays. `sockRecvfrom(_:into:)` never allocates.
    public nonisolated(nonsending) func sockRecvfrom(
        _ socket: Socket, maxBytes: Int, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> (bytes: [UInt8], address: SocketAddress) {
        if maxBytes > Self.recycledArrayLimit {
            // Into memory of its own: the shared scratch would keep a one-off size.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maxBytes, alignment: 1)
            defer { buffer.deallocate() }
            let (count, address) = try await sockRecvfrom(socket, into: buffer, file: file, line: line)
            return (Array(buffer.prefix(count)), address)
        }
        try checkDatagram(socket, "sockRecvfrom")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, maxBytes), file: file, line: line) { try await $0.0.sockRecvfrom($0.1, maxBytes: $0.2) }
        }
        await consumeBudget()
        var sender = SocketAddress()
        let size = try await socket.whenReady(.read) { try socket.receiveDatagram(into: self.receiveScratchPrefix(maxBytes), from: &sender) }
        if size > maxBytes { throw TruncatedDatagramError(size: size, capacity: maxBytes, sender: sender) }
        chargeBudget(bytes: size)
        return (array(copying: UnsafeRawBufferPointer(receiveScratchPrefix(size))), sender)
    }

    /// Sends `bytes` as one datagram to `address` (`loop.sock_sendto`); returns its length.
    /// Waits only while the socket's send buffer is full. A datagram too long for the
    /// protocol throws EMSGSIZE. The memory must stay valid until the call returns.
    @discardableResult
    public nonisolated(nonsending) func sockSendto(
        _ socket: Socket, _ bytes: UnsafeRawBufferPointer, to address: SocketAddress, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> Int {
        try checkDatagram(socket, "sockSendto")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, bytes, address), file: file, line: line) { try await $0.0.sockSendto($0.1, $0.2, to: $0.3) }
        }
        await consumeBudget()
        let count = try await socket.whenReady(.write) { try socket.sendDatagram(bytes, to: address) }
        chargeBudget(bytes: count)
        return count
    }

    /// Sends `bytes` as one datagram to `address` (`loop.sock_sendto`), from the array's storage.
    @discardableResult
    public nonisolated(nonsending) func sockSendto(
        _ socket: Socket, _ bytes: [UInt8], to address: SocketAddress, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> Int {
        try checkDatagram(socket, "sockSendto")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, bytes, address), file: file, line: line) { try await $0.0.sockSendto($0.1, $0.2, to: $0.3) }
        }
        await consumeBudget()
        let count = try await socket.whenReady(.write) { try bytes.withUnsafeBytes { try socket.sendDatagram($0, to: address) } }
        chargeBudget(bytes: count)
        return count
    }

    /// One send on a socket: on a connected datagram socket, `bytes` as one datagram to its
    /// peer (connected UDP); returns how many bytes the kernel took. Waits only while the send
    /// buffer is full. The memory must stay valid until the call returns.
    @discardableResult
    public nonisolated(nonsending) func sockSend(_ socket: Socket, _ bytes: UnsafeRawBufferPointer, file: StaticString = #fileID, line: UInt = #line) async throws -> Int {
        try checkOwns(socket, "sockSend")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, bytes), file: file, line: line) { try await $0.0.sockSend($0.1, $0.2) }
        }
        await consumeBudget()
        let count = try await socket.whenReady(.write) { try socket.tryWrite(bytes) }
        chargeBudget(bytes: count)
        return count
    }

    /// One send of an array's bytes (see `sockSend(_:_:)`).
    @discardableResult
    public nonisolated(nonsending) func sockSend(_ socket: Socket, _ bytes: [UInt8], file: StaticString = #fileID, line: UInt = #line) async throws -> Int {
        try checkOwns(socket, "sockSend")
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, bytes), file: file, line: line) { try await $0.0.sockSend($0.1, $0.2) }
        }
        await consumeBudget()
        let count = try await socket.whenReady(.write) { try bytes.withUnsafeBytes { try socket.tryWrite($0) } }
        chargeBudget(bytes: count)
        return count
    }

    // MARK: - Batches

    /// Receives as many datagrams as are waiting, up to the batch's capacity, with one
    /// recvmmsg(2) (waiting for the first): the batch then holds them, each with its sender, and
    /// this returns their number. A datagram longer than a slot is marked truncated, not thrown.
    @discardableResult
    public nonisolated(nonsending) func sockRecvfrom(_ socket: Socket, into batch: DatagramBatch, file: StaticString = #fileID, line: UInt = #line) async throws -> Int {
        try checkDatagram(socket, "sockRecvfrom")
        let transfer = UnsafeTransfer(batch)
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, transfer), file: file, line: line) { try await $0.0.sockRecvfrom($0.1, into: $0.2.value) }
        }
        await consumeBudget()
        batch.removeAll()
        let received = try await socket.whenReady(.read) {
            try attempt(socket, .read, requested: 0, "recvmmsg") { Int(cr_batch_recv(socket.fd, &batch.raw)) }
        }
        batch.didReceive(received)
        chargeBudget(bytes: received * 1024)
        return received
    }

    /// Sends every message of the batch, each to its address (or to a connected socket's
    /// peer), with as few sendmmsg(2) calls as the send buffer allows, waiting while it is
    /// full; returns how many went out. A message with a segment size goes as one UDP_SEGMENT
    /// send; where the route's device cannot segment (EIO), its datagrams go one by one. A
    /// message the kernel refuses is skipped and listed in the batch's `refusals`, as asyncio's
    /// datagram transport reports such an error and carries on; an error of the socket itself
    /// (closed) is thrown.
    @discardableResult
    public nonisolated(nonsending) func sockSendto(_ socket: Socket, _ batch: DatagramBatch, file: StaticString = #fileID, line: UInt = #line) async throws -> Int {
        try checkDatagram(socket, "sockSendto")
        let transfer = UnsafeTransfer(batch)
        guard runsInPlace(#isolation) else {
            return try await runOnLoop((self, socket, transfer), file: file, line: line) { try await $0.0.sockSendto($0.1, $0.2.value) }
        }
        await consumeBudget()
        batch.forgetRefusals()
        var next = 0
        var sent = 0
        while next < batch.count {
            do {
                // requested 0: a partial send may be a refusal of the next message, not a full
                // buffer, so it must not clear the readiness.
                let count = try await socket.whenReady(.write) {
                    try attempt(socket, .write, requested: 0, "sendmmsg") {
                        Int(cr_batch_send(socket.fd, &batch.raw, UInt32(next), UInt32(batch.count - next)))
                    }
                }
                next += count
                sent += count
            } catch let error as SystemCallError where !Self.errorsOfTheSocket.contains(error.errno) {
                do {
                    guard batch[next].segmentSize != nil && Self.noSegmentationOffload.contains(error.errno) else { throw error }
                    try await sendSegments(socket, batch[next])
                    sent += 1
                } catch let refusal as SystemCallError where !Self.errorsOfTheSocket.contains(refusal.errno) {
                    batch.refuse(next, refusal)
                }
                next += 1
            }
        }
        chargeBudget(bytes: sent * 1024)
        return sent
    }

    /// The errors of a send that concern the socket, not one message: the batch stops there.
    private static let errorsOfTheSocket: Set<Int32> = [EBADF, ENOTSOCK, EFAULT]

    /// The errors of a UDP_SEGMENT send that the route's device cannot do.
    private static let noSegmentationOffload: Set<Int32> = [EIO, EOPNOTSUPP]

    /// The fallback for a segmented message: its datagrams one by one.
    private nonisolated(nonsending) func sendSegments(_ socket: Socket, _ message: DatagramBatch.Message) async throws {
        let size = message.segmentSize!
        for start in stride(from: 0, to: message.bytes.count, by: size) {
            let segment = UnsafeRawBufferPointer(rebasing: message.bytes[start..<min(start + size, message.bytes.count)])
            if let address = message.address {
                try await sockSendto(socket, segment, to: address)
            } else {
                try await sockSend(socket, segment)
            }
        }
    }

    /// Throws unless `socket` is this reactor's and a datagram socket.
    @inline(__always)
    private func checkDatagram(_ socket: Socket, _ operation: StaticString) throws {
        guard socket.reactor === self && socket.isDatagram else { throw misuse(socket, operation) }
    }

    /// The error of a datagram operation given another reactor's socket, or a stream.
    @inline(never)
    private func misuse(_ socket: Socket, _ operation: StaticString) -> any Error {
        do {
            try checkOwns(socket, "\(operation)")
            try socket.checkIsDatagram(operation)
        } catch {
            return error
        }
        preconditionFailure("\(operation): misuse was asked for a socket that passes its checks")
    }
}
