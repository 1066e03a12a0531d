import DequeModule
import Glibc
import Reactor

/// Writes to any byte stream a reactor watches (a socket, a pipe) with asyncio's
/// `StreamWriter` semantics: `write` never waits, `drain()`
/// applies back-pressure, `writeEOF()` half-closes, `close()` flushes then closes.
///
/// `write` sends at once when nothing is queued, so most writes cost one send(2) (write(2) on a
/// pipe) and no copy. What the kernel does not take is copied to a queue, which a flush task
/// sends with gathering sendmsg(2) (writev(2)) calls as the handle becomes writable.
/// `drain()` returns at once while the queue is at or below the high-water mark, and otherwise
/// waits until it is at or below the low-water mark; any number of tasks may wait in it.
///
/// Its methods belong on the handle's reactor thread; `write`, `writeEOF`, `close` and `abort`
/// called elsewhere are handed to the loop's next turn, and the async methods
/// (`nonisolated(nonsending)`, so no executor switch on the reactor) hop there
/// (`Reactor.runOnLoop`).
public final class StreamWriter: @unchecked Sendable {
    public static let defaultHighWaterMark = 64 * 1024
    public static let defaultLowWaterMark = 16 * 1024
    /// How long `close()` keeps flushing queued bytes to a peer that does not read.
    public static let defaultCloseTimeout = Duration.seconds(10)
    /// The most chunks one sendmsg gathers.
    static let maxGather = 64

    /// What the bytes are written to: a `Socket`, a pipe's write end, any writable handle.
    public let handle: IOHandle
    /// The layer the bytes are written through (TLS), if any; else the handle's own bytes.
    @exclusivity(unchecked) public internal(set) var transport: (any StreamTransport)?
    /// The reader of the same connection (asyncio's writer holds its reader too), which
    /// `startTransport(_:)` layers the transport under as well.
    let reader: StreamReader?
    /// The peer's address, as asyncio's `get_extra_info("peername")` (nil but for sockets).
    public let peerAddress: SocketAddress?
    /// The local address, as asyncio's `get_extra_info("sockname")`: nil but for an open
    /// socket (asked of the kernel each time, so a connection does not carry it).
    public var localAddress: SocketAddress? { try? (handle as? Socket)?.localAddress() }
    public let highWaterMark: Int
    public let lowWaterMark: Int
    public let closeTimeout: Duration
    private var reactor: Reactor { handle.reactor }

    // Loop-thread state.
    @exclusivity(unchecked) private var queue = Deque<UnsafeMutableRawBufferPointer>()
    /// Bytes of the first queued chunk already sent.
    @exclusivity(unchecked) private var sentOfFirst = 0
    @usableFromInline @exclusivity(unchecked) private(set) var queuedBytes = 0
    @exclusivity(unchecked) private var sentBytes: UInt64 = 0
    @exclusivity(unchecked) private var isFlushing = false
    /// While `startTransport` runs its handshake, the stream is the layer's.
    @exclusivity(unchecked) var isStartingTransport = false
    @exclusivity(unchecked) private var eofRequested = false
    @exclusivity(unchecked) private var closeRequested = false
    @usableFromInline @exclusivity(unchecked) private(set) var isClosed = false
    @usableFromInline @exclusivity(unchecked) private(set) var lostError: (any Error)?
    @exclusivity(unchecked) private var closeTimer: TimerHandle?
    /// Tasks in `drain()`; woken when the queue drains, the connection is lost or closed.
    private let drainWaiters: WaitQueue
    private let closeWaiters: WaitQueue

    public init(
        _ handle: IOHandle, peerAddress: SocketAddress? = nil, reader: StreamReader? = nil,
        highWaterMark: Int = StreamWriter.defaultHighWaterMark,
        lowWaterMark: Int = StreamWriter.defaultLowWaterMark,
        closeTimeout: Duration = StreamWriter.defaultCloseTimeout
    ) {
        precondition(0 <= lowWaterMark && lowWaterMark <= highWaterMark, "need 0 <= lowWaterMark <= highWaterMark")
        self.handle = handle
        self.reader = reader
        self.transport = reader?.transport
        self.peerAddress = peerAddress ?? (try? (handle as? Socket)?.peerAddress())
        self.highWaterMark = highWaterMark
        self.lowWaterMark = lowWaterMark
        self.closeTimeout = closeTimeout
        self.drainWaiters = WaitQueue(on: handle.reactor)
        self.closeWaiters = WaitQueue(on: handle.reactor)
        drainWaiters.owner = self
        closeWaiters.owner = self
    }

    deinit {
        if !isClosed {
            if reactor.isDebugMode {
                reactor.logger.warning("StreamWriter for \(handle) was dropped without close(); closing it")
            }
            handle.close()
        }
        for chunk in queue { chunk.deallocate() }
    }

    /// True once `writeEOF()` was called.
    var isHalfClosed: Bool { eofRequested }

    /// True once `close()` or `abort()` was called, or the connection was lost.
    public var isClosing: Bool { closeRequested || isClosed || lostError != nil }

    /// How many bytes are queued and not yet in the kernel.
    public var bufferedCount: Int { queuedBytes }

    /// How many bytes the kernel has taken from this writer (through its transport, if any:
    /// TLS's plaintext) since it was made. Exact on the reactor's thread.
    public var sentByteCount: UInt64 { sentBytes }

    /// How many tasks wait in `drain()`.
    var drainWaiterCount: Int { drainWaiters.count }

    // MARK: - Writing

    /// Queues `bytes` for sending, sending at once what the kernel takes. Never waits: call
    /// `drain()` to let the queue empty. Throws `ReactorError` after `close()` or `writeEOF()`,
    /// or once the connection was lost. Contiguous collections are sent from their own
    /// storage; others are copied once.
    public func write<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws {
        let written: Void? = try bytes.withContiguousStorageIfAvailable { try write(UnsafeRawBufferPointer($0)) }
        if written == nil { try write(Array(bytes)) }
    }

    /// `write` of an array: the common case, without the generic one's dynamic dispatch.
    public func write(_ bytes: [UInt8]) throws {
        guard reactor.isOnLoopThread else {
            // The next turn (the crossing rule): a lost connection surfaces in drain(), a misuse
            // in the exception handler.
            reactor.runOnLoopNowOrNextTurn((self, bytes)) { writer, bytes in writer.reportingLateMisuse { try writer.write(bytes) } }
            return
        }
        try bytes.withUnsafeBytes { try writeOnLoop($0) }
    }

    /// `write` of bytes in memory, which may be reused once this returns (what the kernel does
    /// not take at once is copied).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard reactor.isOnLoopThread else { return try write(Array(bytes)) }  // hands the copy to the loop
        try writeOnLoop(bytes)
    }

    /// `write` on the loop thread. Inlined into both: the array's write is the common one.
    @inline(__always)
    private func writeOnLoop(_ bytes: UnsafeRawBufferPointer) throws {
        try checkWritable()
        if bytes.isEmpty { return }
        var sent = 0
        if queue.isEmpty {
            do {
                var direction = Interest.write
                sent = try (transport == nil ? handle.tryWrite(bytes) : transport!.tryWrite(bytes, waitIn: &direction)) ?? 0
            } catch {
                lose(error)
                throw connectionLost(error)
            }
            sentBytes &+= UInt64(truncatingIfNeeded: sent)
            if sent == bytes.count { return }
        }
        enqueue(UnsafeRawBufferPointer(rebasing: bytes[sent...]))
    }

    /// Copies what the kernel did not take to the queue, and starts flushing it. Out of line:
    /// the flushing task's creation would weigh on every write that the kernel takes whole.
    @inline(never)
    private func enqueue(_ rest: UnsafeRawBufferPointer) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: rest.count, alignment: 1)
        chunk.copyMemory(from: rest)
        queue.append(chunk)
        queuedBytes += chunk.count
        startFlushing()
    }

    /// Writes all of `bytes` and returns once the kernel took them (asyncio's `sock_sendall`
    /// on a stream): what a `write` and `drain` do for a large buffer, without copying it to
    /// the queue. With bytes already queued, it is `write` then `drain`.
    nonisolated(nonsending) func writeAll(_ bytes: [UInt8]) async throws {
        guard reactor.runsInPlace(#isolation), queue.isEmpty else {
            try write(bytes)
            return try await drain()
        }
        try checkWritable()
        var sent = 0
        do {
            while sent < bytes.count {
                let count = try await handle.whenReady(.write) { direction in
                    try bytes.withUnsafeBytes { bytes in
                        let rest = UnsafeRawBufferPointer(rebasing: bytes[sent...])
                        return try transport == nil ? handle.tryWrite(rest) : transport!.tryWrite(rest, waitIn: &direction)
                    }
                }
                sent += count
                sentBytes &+= UInt64(truncatingIfNeeded: count)
                reactor.chargeBudget(bytes: count)
                await reactor.consumeBudget()
            }
        } catch {
            lose(error)
            throw connectionLost(error)
        }
    }

    /// Throws unless bytes may still be written: not after `close()` or `writeEOF()`, nor once
    /// the connection is lost. The checks inline, the errors out of line.
    @inline(__always)
    private func checkWritable() throws {
        if closeRequested || isClosed || eofRequested || isStartingTransport || lostError != nil { try refuseWrite() }
    }

    @inline(never)
    private func refuseWrite() throws {
        if closeRequested || isClosed { throw ReactorError(.invalidState, "write() called after close()") }
        if eofRequested { throw ReactorError(.invalidState, "write() called after writeEOF()") }
        if isStartingTransport { throw ReactorError(.invalidState, "write() called while startTransport() runs") }
        if let lostError { throw connectionLost(lostError) }
    }

    /// Waits while more than `highWaterMark` bytes are queued, until at most `lowWaterMark`
    /// are. Throws `ReactorError(.connectionLost)` if the connection is lost or closed.
    ///
    /// With nothing to wait for, the common case, it runs in the caller's frame: no async call
    /// of its own, so no frame of its own to allocate.
    @inlinable
    public nonisolated(nonsending) func drain(file: StaticString = #fileID, line: UInt = #line) async throws {
        guard handle.reactor.runsInPlace(#isolation), queuedBytes <= highWaterMark, lostError == nil, !isClosed else {
            return try await drainWaiting(file: file, line: line)
        }
        await handle.reactor.consumeBudget()
    }

    /// `drain()` off the loop, or when it waits or throws: on the loop, the connection is lost
    /// or closed, or more than `highWaterMark` bytes are queued.
    @usableFromInline
    nonisolated(nonsending) func drainWaiting(file: StaticString, line: UInt) async throws {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop(self, file: file, line: line) { try await $0.drain() } }
        try throwIfClosed()
        try await drainWaiters.wait()
        // Woken: drained, or lost, or closed.
        try throwIfClosed()
    }

    private func throwIfClosed() throws {
        if let lostError { throw connectionLost(lostError) }
        if isClosed { throw ReactorError(.connectionLost, "the stream is closed") }
    }

    /// Half-closes: once the queue is sent, shuts down the write side (the peer reads EOF);
    /// this side can still read. A failed shutdown loses the connection. Called off the loop
    /// thread, it runs in the loop's next turn, after the writes called before it, as `write`
    /// does: a lost connection then surfaces in `drain()`, and a misuse (after `close()`) goes
    /// to the reactor's exception handler.
    public func writeEOF() throws {
        guard reactor.isOnLoopThread else {
            reactor.runOnLoopNowOrNextTurn(self) { writer in writer.reportingLateMisuse { try writer.writeEOF() } }
            return
        }
        if closeRequested || isClosed { throw ReactorError(.invalidState, "writeEOF() called after close()") }
        if let transport {
            // As asyncio's SSL transport, whose can_write_eof() is false.
            throw ReactorError(.invalidState, "writeEOF(): \(type(of: transport)) can not half-close a stream")
        }
        guard !eofRequested else { return }
        eofRequested = true
        if queue.isEmpty {
            do {
                try shutdownWrite()
            } catch {
                lose(error)
                throw error
            }
        }
    }

    /// Runs a call handed over from another thread: a lost connection is kept for `drain()`
    /// (the call itself lost it), a misuse goes to the exception handler, as it can no longer
    /// be thrown to its caller.
    private func reportingLateMisuse(_ call: () throws -> Void) {
        do {
            try call()
        } catch let error as ReactorError where error.code == .invalidState {
            reactor.callExceptionHandler(ErrorContext(message: "a StreamWriter call made off the loop thread, so not thrown", error: error))
        } catch {}
    }

    /// Closes the stream: queued bytes are still sent (for at most `closeTimeout`, and not to
    /// a peer that is gone), then a transport ends its stream (TLS sends close_notify and waits
    /// for the peer's, for at most its shutdown timeout), then the socket is closed. Returns
    /// at once; `waitClosed()` waits.
    public func close() {
        reactor.runOnLoopNowOrNextTurn(self) { $0.closeOnLoop() }
    }

    private func closeOnLoop() {
        guard !closeRequested && !isClosed else { return }
        closeRequested = true
        if lostError != nil || (queue.isEmpty && transport == nil) {
            finishClose()
            return
        }
        if !queue.isEmpty { closeTimer = reactor.callLater(closeTimeout) { [self] in abort() } }
        // The flush task ends the transport's stream after the queue (TLS's close_notify).
        startFlushing()
    }

    /// Closes at once, dropping whatever is queued.
    public func abort() {
        reactor.runOnLoopNowOrNextTurn(self) { writer in
            writer.closeRequested = true
            writer.finishClose()
        }
    }

    /// Returns once the socket is closed (or the waiting task is cancelled).
    public nonisolated(nonsending) func waitClosed(file: StaticString = #fileID, line: UInt = #line) async {
        _ = try? await reactor.runOnLoop(self, file: file, line: line) { writer in
            if !writer.isClosed { try await writer.closeWaiters.wait() }
        }
    }

    /// Returns once the socket is closed, even in a cancelled task (or once the reactor shuts
    /// down): a server's connection task. On the loop thread only.
    nonisolated(nonsending) func waitClosedIgnoringCancellation() async {
        while !isClosed {
            do {
                try await closeWaiters.waitIgnoringCancellation()
            } catch {
                return
            }
        }
    }

    // MARK: - Flushing

    private func startFlushing() {
        guard !isFlushing else { return }
        isFlushing = true
        Task(executorPreference: reactor) { await self.flushQueue() }
    }

    /// Sends the queue as the socket takes it, then carries out a pending writeEOF or close.
    private func flushQueue() async {
        defer { isFlushing = false }
        do {
            while !queue.isEmpty && !isClosed {
                // Closing or losing the connection meanwhile empties the queue.
                let sent = try await handle.whenReady(.write) { direction in queue.isEmpty || isClosed ? 0 : try sendQueued(&direction) }
                consumeQueued(sent)
                reactor.chargeBudget(bytes: sent)
                await reactor.consumeBudget()
            }
            if eofRequested && !isClosed { try shutdownWrite() }
        } catch {
            lose(error)
        }
        if closeRequested {
            if let transport, lostError == nil && !isClosed {
                if let closeTimer { reactor.cancelTimer(closeTimer) }
                closeTimer = nil
                await transport.shutdown()
            }
            finishClose()
        }
    }

    /// One gathering sendmsg of the queued chunks; through a transport, the chunks in turn
    /// while it takes them whole.
    private func sendQueued(_ direction: inout Interest) throws -> Int? {
        if let transport {
            var sent = 0
            for (index, chunk) in queue.prefix(Self.maxGather).enumerated() {
                let skip = index == 0 ? sentOfFirst : 0
                let rest = UnsafeRawBufferPointer(rebasing: chunk[skip...])
                guard let count = try transport.tryWrite(rest, waitIn: &direction) else { return sent == 0 ? nil : sent }
                sent += count
                if count < rest.count { break }
            }
            return sent
        }
        let count = min(queue.count, Self.maxGather)
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: count) { vectors in
            for (index, chunk) in queue.prefix(count).enumerated() {
                let skip = index == 0 ? sentOfFirst : 0
                vectors[index] = iovec(iov_base: chunk.baseAddress! + skip, iov_len: chunk.count - skip)
            }
            return try handle.tryWrite(vectors: UnsafeBufferPointer(vectors))
        }
    }

    private func consumeQueued(_ sent: Int) {
        queuedBytes -= sent
        sentBytes &+= UInt64(truncatingIfNeeded: sent)
        var remaining = sent
        while remaining > 0, let first = queue.first {
            let left = first.count - sentOfFirst
            if remaining < left {
                sentOfFirst += remaining
                break
            }
            remaining -= left
            sentOfFirst = 0
            queue.removeFirst().deallocate()
        }
        if queuedBytes <= lowWaterMark { drainWaiters.wakeAll() }
    }

    // MARK: - Losing and closing the connection

    /// The connection failed: drop the queue, fail the drainers, and (if closing) close.
    private func lose(_ error: any Error) {
        if lostError == nil { lostError = error }
        dropQueue()
        drainWaiters.wakeAll()
    }

    private func finishClose() {
        guard !isClosed else { return }
        isClosed = true
        if let closeTimer { reactor.cancelTimer(closeTimer) }
        closeTimer = nil
        dropQueue()
        handle.close()
        drainWaiters.wakeAll()
        closeWaiters.wakeAll()
    }

    private func dropQueue() {
        for chunk in queue { chunk.deallocate() }
        queue.removeAll()
        queuedBytes = 0
        sentOfFirst = 0
    }

    /// The end of writing: shutdown(SHUT_WR) on a socket, so the peer reads EOF and this side
    /// can still read; a pipe's write end is closed instead (a pipe has one direction).
    private func shutdownWrite() throws {
        if let socket = handle as? Socket {
            try socket.shutdown(.write)
        } else {
            finishClose()
        }
    }

    private func connectionLost(_ error: any Error) -> ReactorError {
        ReactorError(.connectionLost, "connection lost: \(error)", cause: error as? SystemCallError)
    }
}
