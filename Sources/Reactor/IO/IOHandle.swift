import CReactor
import Glibc
import Synchronization

/// A non-blocking file descriptor registered with one reactor: a socket (`Socket`), a pipe
/// end, an eventfd, a signalfd, a pidfd, anything epoll can watch.
///
/// The readiness and the waiters live in the reactor (`IOSource`); this handle names the
/// registration by fd and generation, so a handle used after `close()` gets EBADF even when
/// the fd number was reused. Dropping the last reference closes the fd, as `close()` does;
/// a handle from `Reactor.watch` does not own its fd, and only stops watching it.
///
/// The non-blocking primitives are the handle's, in the manner of Tokio's `try_read` and
/// `readable()`: `tryRead` / `tryWrite` make one syscall (recv / send for a socket, read /
/// write for anything else) and answer `nil` on EAGAIN; `waitUntilReadable` /
/// `waitUntilWritable` park until an edge. They keep the readiness up to date (the design
/// article, "Register once, edge-triggered"): EAGAIN or a short transfer clears it, so the
/// next `try*` answers `nil` without a syscall until an edge arrives. The `try*` calls belong
/// to the loop thread; the waits cross to it (see `Reactor.runOnLoop`).
public class IOHandle: @unchecked Sendable, CustomStringConvertible {
    /// The reactor this handle is registered with; its operations run on that reactor's loop.
    public let reactor: Reactor
    /// The file descriptor, for calls this type does not wrap. Do not close it yourself (a
    /// watched fd is its owner's to close, after `close()` here). On io_uring, a stream socket
    /// that receives in completion mode has bytes the reactor took already: a recv, `MSG_PEEK`
    /// or `FIONREAD` of your own does not see them.
    public let fileDescriptor: Int32
    let generation: UInt32
    /// recv / send / sendmsg for a socket (send with MSG_NOSIGNAL), read / write / writev
    /// for the rest.
    let isSocket: Bool
    /// True for a datagram socket (UDP, a Unix datagram or seqpacket socket): each read is one
    /// whole datagram, and one that did not fit is reported (`TruncatedDatagramError`) rather
    /// than cut short without a word.
    public let isDatagram: Bool
    /// Set by `close()`: a handle dropped without it is reported in debug mode.
    private let closeCalled = Atomic<Bool>(false)

    var fd: Int32 { fileDescriptor }

    init(reactor: Reactor, fd: Int32, generation: UInt32, isSocket: Bool, isDatagram: Bool = false) {
        self.reactor = reactor
        self.fileDescriptor = fd
        self.generation = generation
        self.isSocket = isSocket
        self.isDatagram = isDatagram
    }

    deinit {
        if reactor.isDebugMode && !closeCalled.load(ordering: .relaxed) {
            reactor.logger.warning("\(description) was dropped without close(); closing it")
        }
        reactor.close(fd: fileDescriptor, generation: generation)
    }

    public var description: String { "\(isSocket ? "Socket" : "IOHandle")(fd: \(fileDescriptor))" }

    /// Closes the fd (a watched one is only no longer watched, and stays open): tasks waiting
    /// on it resume with a `SystemCallError` (EBADF). Closing twice is harmless. Called off the loop thread, the close happens in the loop's next turn.
    public final func close() {
        closeCalled.store(true, ordering: .relaxed)
        reactor.close(fd: fileDescriptor, generation: generation)
    }

    /// True until `close()` (answered exactly on the loop thread; elsewhere, by the loop).
    public final var isOpen: Bool {
        (try? reactor.runOnLoopAndWait("isOpen") { [self] in
            reactor.sources.source(fd: fd, generation: generation) != nil
        }) ?? false
    }

    // MARK: - Non-blocking primitives (loop thread)

    /// One read (recv(2) for a socket, read(2) otherwise): the byte count (0 at EOF), or nil
    /// when no data is there yet. On a datagram socket, one datagram (0 for an empty one);
    /// one longer than `buffer` throws `TruncatedDatagramError`, its start in `buffer`.
    public final func tryRead(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        reactor.assertOnLoop("tryRead")
        if isDatagram { return try tryReceiveDatagram(into: buffer) }
        return try reactor.attempt(self, .read, requested: buffer.count, "\(transferName(.read))") {
            isSocket ? reactor.receive(self, into: buffer) : cr_read(fd, buffer.baseAddress, buffer.count)
        }
    }

    /// Kept out of line: the byte streams' reads, the hot path, stay as short as they were.
    @inline(never)
    private final func tryReceiveDatagram(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        guard let size = try reactor.attempt(self, .read, requested: buffer.count, "recv", { cr_recv_datagram(fd, buffer.baseAddress, buffer.count) })
        else { return nil }
        if size > buffer.count { throw TruncatedDatagramError(size: size, capacity: buffer.count, sender: nil) }
        return size
    }

    /// One write (send(2) for a socket, write(2) otherwise): how many bytes the kernel took,
    /// or nil when it took none (EAGAIN).
    public final func tryWrite(_ bytes: UnsafeRawBufferPointer) throws -> Int? {
        reactor.assertOnLoop("tryWrite")
        return try reactor.attempt(self, .write, requested: bytes.count, "\(transferName(.write))") {
            isSocket ? cr_send(fd, bytes.baseAddress, bytes.count) : cr_write(fd, bytes.baseAddress, bytes.count)
        }
    }

    /// One gathering write over `vectors` (sendmsg(2) for a socket, writev(2) otherwise): how
    /// many bytes the kernel took, or nil when it took none (EAGAIN).
    public final func tryWrite(vectors: UnsafeBufferPointer<iovec>) throws -> Int? {
        reactor.assertOnLoop("tryWrite(vectors:)")
        let requested = vectors.reduce(0) { $0 + $1.iov_len }
        return try reactor.attempt(self, .write, requested: requested, isSocket ? "sendmsg" : "writev") {
            let count = Int32(vectors.count)
            return isSocket ? cr_sendv(fd, vectors.baseAddress, count) : cr_writev(fd, vectors.baseAddress, count)
        }
    }

    /// The one try-then-wait loop (mio's `do_io`, Tokio's `Registration::async_io`): runs
    /// `attempt`, one non-blocking transfer through `tryRead` or `tryWrite`, and while it
    /// answers nil (the kernel said EAGAIN) waits until the handle is ready in `interest` and
    /// runs it again; returns its count. The `sock*` operations and the stream writer go
    /// through it (the stream reader writes the same loop out, with `waitOnLoop`), and so can
    /// a layer of your own: the fast path is the same.
    /// An attempt answers nil only when a `try*` call did (the readiness is forgotten before
    /// each wait, so an attempt that answers nil for a reason of its own waits for a new edge
    /// rather than spinning). Loop thread only, as the `try*` calls are; nothing may hold
    /// memory for the attempt across the wait that another task could reuse (a shared
    /// buffer).
    ///
    /// The first attempt is inlined into every caller, so a transfer the kernel takes at once
    /// makes no async call; in another module, only a wait goes through one frame (the
    /// design article, "Memory per connection").
    @inlinable @inline(__always)
    public final nonisolated(nonsending) func whenReady(_ interest: Interest, _ attempt: () throws -> Int?) async throws -> Int {
        try await whenReady(interest) { (_: inout Interest) in try attempt() }
    }

    /// `whenReady` for a layer whose transfer in one direction may need the other: a TLS
    /// record layer, whose read may have to write (a key update) and whose write may have to
    /// read (a handshake message). `attempt` is called with the direction to wait in,
    /// `interest` at first, and sets it to the other one before it answers nil when that is
    /// the one its `try*` call found not ready.
    @inlinable @inline(__always)
    public final nonisolated(nonsending) func whenReady(_ interest: Interest, _ attempt: (_ waitIn: inout Interest) throws -> Int?) async throws -> Int {
        var direction = interest
        if let count = try attempt(&direction) { return count }
        return try await waitThenRetry(direction, interest, attempt)
    }

    /// `whenReady`'s slow path: waits, then tries again, until an attempt succeeds. Inlined
    /// into the reactor's own operations, as `whenReady` is into every caller: a call here
    /// would be one more async frame per wait.
    @usableFromInline @inline(__always)
    final nonisolated(nonsending) func waitThenRetry(
        _ direction: Interest, _ interest: Interest, _ attempt: (inout Interest) throws -> Int?
    ) async throws -> Int {
        var direction = direction
        while true {
            forgetReadiness(direction)
            try await waitOnLoop(direction)
            direction = interest
            if let count = try attempt(&direction) { return count }
        }
    }

    /// The wait of `whenReady`'s loop, for a layer that writes the loop out (the stream
    /// reader, whose closure would stay in the frame of every parked reader): parks until the
    /// handle is ready in `interest`, as `waitUntilReadable` and `waitUntilWritable` do but
    /// without their check for a hop, so it must be called in a task on the handle's reactor
    /// (outside any actor), right after the `try*` call that answered nil in `interest`.
    /// Inlined into its caller, so a parked task keeps no frame of its own for it.
    @inlinable @inline(__always)
    public final nonisolated(nonsending) func waitOnLoop(_ interest: Interest) async throws {
        reactor.assertOnLoop("waitOnLoop")
        try await reactor.waitUntilReady(self, for: interest)
    }

    /// Waits until the fd may have data (or EOF, or an error) to read. Returns at once when
    /// its readiness is remembered. Throws `SystemCallError` (EBADF) when the handle is or gets
    /// closed, `ReactorError` (`.busy`) when another task already waits to read, and
    /// `CancellationError`.
    public final nonisolated(nonsending) func waitUntilReadable(file: StaticString = #fileID, line: UInt = #line) async throws {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop(self, file: file, line: line) { try await $0.waitUntilReadable() } }
        try await reactor.waitUntilReady(self, for: .read)
    }

    /// Forgets that the fd is ready in `interest`, so the next wait in that direction waits for
    /// a new edge: for an fd that is never read until it says EAGAIN, such as a pidfd (read
    /// its state, forget, then wait), and before each wait of `whenReady`. Loop thread only;
    /// nothing may yield between the look that found nothing to do and the wait.
    public final func forgetReadiness(_ interest: Interest) {
        reactor.assertOnLoop("forgetReadiness")
        reactor.sources.source(fd: fd, generation: generation)?.pointee.clearReady(interest)
    }

    /// Whether a `try*` call in `interest` would make its syscall: false once EAGAIN or a
    /// short transfer said the kernel has nothing more (or no room), until the next edge. A
    /// layer with a buffer of its own (TLS) asks it to skip a call that could only say "not
    /// ready". Loop thread only; false for a closed handle.
    public final func mayBeReady(_ interest: Interest) -> Bool {
        reactor.sources.source(fd: fd, generation: generation)?.pointee.isReady(interest) ?? false
    }

    /// The syscall a transfer in `interest` makes, for errors: recv / send on a socket, read /
    /// write on anything else.
    @inline(__always)
    final func transferName(_ interest: Interest) -> StaticString {
        interest == .read ? (isSocket ? "recv" : "read") : (isSocket ? "send" : "write")
    }

    /// Waits until the fd may take more bytes (or has failed). As `waitUntilReadable`.
    public final nonisolated(nonsending) func waitUntilWritable(file: StaticString = #fileID, line: UInt = #line) async throws {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop(self, file: file, line: line) { try await $0.waitUntilWritable() } }
        try await reactor.waitUntilReady(self, for: .write)
    }
}

extension Reactor {
    /// A stream socket's transfer for `tryRead`: a recv, or with io_uring's completion mode a
    /// copy out of the bytes already received.
    @inline(__always)
    func receive(_ handle: IOHandle, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        if let receives = completionReceives {
            return receives._withUnsafeGuaranteedRef { $0.receive(fd: handle.fd, generation: handle.generation, into: buffer) }
        }
        return cr_recv(handle.fd, buffer.baseAddress, buffer.count)
    }

    /// One attempt at a syscall in one direction, with the readiness bookkeeping every
    /// transfer shares (mio's `do_io`): nothing is tried while the direction is known not
    /// ready; EAGAIN clears its readiness; so does a short transfer of a byte stream (the
    /// kernel buffer is then empty, or full), but not a read of 0 (EOF) nor one of a
    /// datagram. `syscall` returns a count or -errno. Loop thread only.
    @inline(__always)
    func attempt(
        _ handle: IOHandle, _ interest: Interest, requested: Int, _ operation: @autoclosure () -> String,
        _ syscall: () -> Int
    ) throws -> Int? {
        guard let source = sources.source(fd: handle.fd, generation: handle.generation) else {
            throw SystemCallError.closed(operation(), fd: handle.fd)
        }
        guard source.pointee.isReady(interest) else { return nil }
        let count = syscall()
        if count >= 0 {
            if count < requested && (interest == .write || (count > 0 && source.pointee.isStream)) {
                source.pointee.clearReady(interest)
            }
            return count
        }
        guard count == -Int(EAGAIN) else { throw SystemCallError(operation: operation(), errno: Int32(-count)) }
        source.pointee.clearReadyAfterEAGAIN(interest)
        return nil
    }
}
