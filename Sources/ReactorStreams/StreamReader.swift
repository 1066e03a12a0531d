import Glibc
import Reactor

/// Reads any byte stream a reactor watches (a socket, a pipe) with asyncio's `StreamReader`
/// semantics (CPython `Lib/asyncio/streams.py`): `read`, `readLine`, `readExactly`,
/// `readUntil`, `atEOF`.
///
/// Bytes are read from the handle only when a read needs more than is buffered, at most
/// `limit` (and 256 KiB) per recv, so the buffer stays within about 2 x `limit` (more only
/// while a `readExactly(n)` with a larger n, or a `withBufferedBytes(upTo:)` with a larger
/// frame limit, waits); what the reader has not taken stays in the kernel, whose TCP window
/// pushes back on the peer.
///
/// The arrays the reads return are made by the reactor, in the storage of the last array it
/// made once nothing else holds that: a handler that drops each before its next read
/// allocates none. One that changes an array it was handed pays a copy the first time. A
/// parser of a framed protocol reads without a copy through
/// ``withBufferedBytes(upTo:file:line:_:)``: it looks at the buffered bytes where they lie and says
/// how many it used. A socket error is kept and thrown again
/// by every later read, as asyncio's `set_exception` does.
///
/// One task reads at a time: a second task that calls a read while the first waits for data
/// gets `ReactorError` (`.busy`). The reads are `nonisolated(nonsending)`: in a task on
/// the handle's reactor they run where they are called, with no executor switch; called
/// elsewhere, they hop to the reactor (`Reactor.runOnLoop`).
public final class StreamReader: @unchecked Sendable {
    public static let defaultLimit = 64 * 1024
    static let initialReceiveSize = 4096
    /// The most one recv asks for, whatever the limit: a reader with a large limit (a
    /// protocol with large frames) still receives into a buffer of moderate size.
    static let maxReceiveSize = 256 * 1024

    /// What the bytes are read from: a `Socket`, a pipe's read end, any readable handle.
    public let handle: IOHandle
    /// The layer the bytes are read through (TLS), if any; else the handle's own bytes.
    @exclusivity(unchecked) public internal(set) var transport: (any StreamTransport)?
    /// The most a line (or a `readUntil` chunk) may hold before `LimitOverrunError`.
    public let limit: Int
    private let reactor: Reactor

    // Loop-thread state.
    @exclusivity(unchecked) private var buffer = StreamBuffer()
    @exclusivity(unchecked) private var sawEOF = false
    /// Whether the last recv filled what it asked for: more is likely waiting in the kernel.
    @exclusivity(unchecked) private var lastReceiveWasFull = false
    @exclusivity(unchecked) private var storedError: (any Error)?
    /// The read waiting for data, or `startTransport` while its handshake reads.
    @exclusivity(unchecked) var waitingOperation: StaticString?
    /// How much one recv asks for: doubles while recvs come back full, up to `limit`.
    @exclusivity(unchecked) private var receiveSize: Int
    @exclusivity(unchecked) private var receivedBytes: UInt64 = 0
    /// The deadline of the innermost `withTimeout` the reads run in, if any.
    @exclusivity(unchecked) private var deadline: WaitDeadline?

    public init(_ handle: IOHandle, limit: Int = StreamReader.defaultLimit, transport: (any StreamTransport)? = nil) {
        precondition(limit > 0, "a StreamReader's limit must be positive")
        self.handle = handle
        self.reactor = handle.reactor
        self.transport = transport
        self.limit = limit
        self.receiveSize = min(Self.initialReceiveSize, limit)
    }

    /// True when EOF was seen and every buffered byte was read (asyncio's `at_eof()`).
    /// Exact on the reactor's thread.
    public var atEOF: Bool { sawEOF && buffer.isEmpty }

    /// How many bytes are buffered and not yet read.
    public var bufferedCount: Int { buffer.count }

    /// How many bytes the reader has received (through its transport, if any: TLS's
    /// plaintext) since it was made. Exact on the reactor's thread.
    public var receivedByteCount: UInt64 { receivedBytes }

    /// True while the reader holds memory of its own: only while bytes are buffered.
    var holdsMemory: Bool { !buffer.hasNoStorage }

    // MARK: - Reads

    /// Up to `maxBytes` bytes: returns as soon as at least one byte is there; empty at EOF.
    public nonisolated(nonsending) func read(_ maxBytes: Int, file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop((self, maxBytes), file: file, line: line) { try await $0.0.read($0.1) } }
        defer { buffer.settle() }
        try throwStoredError()
        if maxBytes == 0 { return [] }
        guard maxBytes > 0 else {
            throw ReactorError(.invalidArgument, "read size can not be less than zero (use read() to read until EOF)")
        }
        if buffer.isEmpty && !sawEOF {
            if lastReceiveWasFull && maxBytes >= receiveSize {
                await reactor.consumeBudget()
                if let bytes = try receiveDirectly() { return bytes }
            }
            try await fill("read")
        }
        return buffer.take(min(maxBytes, buffer.count), on: reactor)
    }

    /// Every byte until EOF.
    public nonisolated(nonsending) func read(file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop(self, file: file, line: line) { try await $0.read() } }
        // Appended from where each receive landed (the reactor's scratch, while nothing else
        // is buffered), into one array that grows by doubling: no array per receive.
        var bytes: [UInt8] = []
        _ = try await withBufferedBytes(file: file, line: line) { received, atEOF in
            bytes.append(contentsOf: received)
            return (received.count, atEOF ? true : nil)
        }
        return bytes
    }

    /// Exactly `count` bytes. At EOF first: `IncompleteReadError(partial:expected:)`, with the
    /// buffer cleared.
    public nonisolated(nonsending) func readExactly(_ count: Int, file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop((self, count), file: file, line: line) { try await $0.0.readExactly($0.1) } }
        defer { buffer.settle() }
        guard count >= 0 else {
            throw ReactorError(.invalidArgument, "readExactly size can not be less than zero")
        }
        try throwStoredError()
        if count == 0 { return [] }
        while buffer.count < count {
            if sawEOF {
                throw IncompleteReadError(partial: buffer.take(buffer.count, on: reactor), expected: count)
            }
            try await fill("readExactly")
        }
        return buffer.take(count, on: reactor)
    }

    /// A line, through its `\n`. At EOF, the partial line (empty when nothing is left). Over
    /// the limit: drops the data through the separator if it was found, else clears the
    /// buffer, and throws `LimitOverrunError`.
    public nonisolated(nonsending) func readLine(file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop(self, file: file, line: line) { try await $0.readLine() } }
        defer { buffer.settle() }
        do {
            return try await readUntil(Self.newline)
        } catch let error as IncompleteReadError {
            return error.partial
        } catch let error as LimitOverrunError {
            if buffer.firstIndex(of: Self.newline, from: error.consumed) == error.consumed {
                buffer.discard(error.consumed + Self.newline.count)
            } else {
                buffer.removeAll()
            }
            throw error
        }
    }

    /// The data through `separator`. Over the limit: `LimitOverrunError`, the buffer as it
    /// was. At EOF without the separator: `IncompleteReadError(partial:expected: nil)`, the
    /// buffer cleared.
    public nonisolated(nonsending) func readUntil(_ separator: [UInt8], file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop((self, separator), file: file, line: line) { try await $0.0.readUntil($0.1) } }
        defer { buffer.settle() }
        guard !separator.isEmpty else {
            throw ReactorError(.invalidArgument, "separator should be at least one byte")
        }
        return try await readThrough(shortest: separator.count, longest: separator.count) { buffer, offset in
            buffer.firstIndex(of: separator, from: offset).map { (start: $0, end: $0 + separator.count) }
        }
    }

    /// The data through whichever separator ends first (asyncio 3.13's tuple of separators;
    /// of two that end at the same place, the shorter wins).
    public nonisolated(nonsending) func readUntil(anyOf separators: [[UInt8]], file: StaticString = #fileID, line: UInt = #line) async throws -> [UInt8] {
        guard reactor.runsInPlace(#isolation) else { return try await reactor.runOnLoop((self, separators), file: file, line: line) { try await $0.0.readUntil(anyOf: $0.1) } }
        defer { buffer.settle() }
        let separators = separators.sorted { $0.count < $1.count }
        guard let shortest = separators.first?.count, shortest > 0 else {
            throw ReactorError(.invalidArgument, "separator should be at least one byte")
        }
        return try await readThrough(shortest: shortest, longest: separators.last!.count) { buffer, offset in
            var match: (start: Int, end: Int)?
            for separator in separators {
                if let start = buffer.firstIndex(of: separator, from: offset),
                    match == nil || start + separator.count < match!.end
                {
                    match = (start, start + separator.count)
                }
            }
            return match
        }
    }

    /// `readUntil`'s loop: searches the unread bytes with `find` (where the first separator
    /// at or after an offset starts and ends), filling the buffer until it finds one, hits
    /// the limit, or meets EOF. Separators are `shortest` to `longest` bytes long.
    private nonisolated(nonsending) func readThrough(
        shortest: Int, longest: Int, find: (borrowing StreamBuffer, _ offset: Int) -> (start: Int, end: Int)?
    ) async throws -> [UInt8] {
        try throwStoredError()
        // Bytes before `offset` were searched and hold no separator.
        var offset = 0
        var match: (start: Int, end: Int)?
        while true {
            let buffered = buffer.count
            if buffered - offset >= shortest {
                match = find(buffer, offset)
                if match != nil { break }
                // A separator may have begun in the last (longest - 1) bytes.
                offset = max(0, buffered + 1 - longest)
                if offset > limit {
                    throw LimitOverrunError("Separator is not found, and chunk exceed the limit", consumed: offset)
                }
            }
            // A complete message may have come with the EOF, so EOF is checked after the search.
            if sawEOF {
                throw IncompleteReadError(partial: buffer.take(buffer.count, on: reactor), expected: nil)
            }
            try await fill("readUntil")
        }
        if match!.start > limit {
            throw LimitOverrunError("Separator is found, but chunk is longer than limit", consumed: match!.start)
        }
        return buffer.take(match!.end, on: reactor)
    }

    // MARK: - Zero-copy reads

    /// Calls `parse` with every buffered byte, in place (no copy), and whether EOF was seen;
    /// `parse` answers how many bytes from the front it used, and a value once it has one.
    /// While the value is nil, the bytes it used are dropped, more are received (waiting for
    /// them), and `parse` is called again with all that is buffered; with a value, the bytes
    /// it used are dropped and the value is returned. The view is valid only inside `parse`.
    ///
    /// This is the read a protocol parser builds on (Tokio's `fill_buf` and `consume`, in
    /// one call): a frame is parsed where it was received, and a batch of pipelined frames
    /// can be handled in one call. Nothing is received while enough is buffered: `parse` is
    /// first called with what is there, if anything.
    ///
    /// At EOF, `parse` is called with `atEOF` true (and the bytes left, perhaps none); if it
    /// still asks for more, this throws `IncompleteReadError` with the bytes left (which are
    /// dropped). Once `frameLimit` bytes or more are buffered and `parse` asks for more without
    /// using any, it throws `LimitOverrunError` (the bytes stay buffered). `frameLimit` is the
    /// reader's `limit` unless given: a protocol whose frames are larger than its lines (a
    /// 1 MiB value) passes its frame limit here and keeps the line limit of `readLine` and
    /// `readUntil`. The parser should refuse a frame whose declared size is too large before
    /// waiting for it. A socket error is thrown as by the other reads.
    ///
    /// Unlike the other reads it does not hop: `parse` runs where the bytes lie, so it must be
    /// called in a task on the reader's reactor (outside any actor); elsewhere it throws
    /// `ReactorError` (`.notOnReactor`).
    public nonisolated(nonsending) func withBufferedBytes<Value: Sendable>(
        upTo frameLimit: Int? = nil, file: StaticString = #fileID, line: UInt = #line,
        _ parse: (_ bytes: UnsafeRawBufferPointer, _ atEOF: Bool) throws -> (consumed: Int, value: Value?)
    ) async throws -> Value {
        let frameLimit = frameLimit ?? limit
        guard reactor.runsInPlace(#isolation) else {
            throw ReactorError(
                .notOnReactor, "withBufferedBytes was called off the reader's loop thread (or in an actor): parse in a task on the reactor")
        }
        defer { buffer.settle() }
        try throwStoredError()
        while true {
            if !buffer.isEmpty || sawEOF {
                let (consumed, value) = try parse(buffer.unread, sawEOF)
                precondition(consumed >= 0 && consumed <= buffer.count, "withBufferedBytes: consumed \(consumed) of \(buffer.count) bytes")
                buffer.discard(consumed)
                if let value { return value }
                if sawEOF { throw IncompleteReadError(partial: buffer.take(buffer.count, on: reactor), expected: nil) }
                if consumed == 0 && buffer.count >= frameLimit {
                    throw LimitOverrunError("the parser needs more than the \(frameLimit) bytes buffered", consumed: 0)
                }
            }
            try await fill("withBufferedBytes")
        }
    }

    // MARK: - Deadlines

    /// Runs `body`, in which this reader's reads must end within `timeout` (asyncio's
    /// `async with asyncio.timeout(t):` around reads, Tokio's `timeout`): the read waiting for
    /// data when it passes throws `ReactorError` (`.timedOut`), as does every later read in
    /// `body` that has to wait. Nothing received is lost: what a timed-out read had gathered
    /// stays buffered for the next read. It costs one timer for the whole of `body` and no
    /// task, and `body` runs in the calling task, so it may use what is not `Sendable` (a
    /// parser's session). Inside another `withTimeout` of the same reader, the earlier deadline
    /// holds.
    public nonisolated(nonsending) func withTimeout<T>(
        _ timeout: Duration, file: StaticString = #fileID, line: UInt = #line, _ body: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        let scope = try await reactor.runOnLoop((self, timeout), file: file, line: line) { reader, timeout in
            reader.startDeadline(after: timeout)
        }
        defer {
            if let scope {
                reactor.runOnLoopNowOrNextTurn((self, scope)) { reader, scope in reader.endDeadline(scope) }
            }
        }
        return try await body()
    }

    /// What `withTimeout` started, to end it: its deadline, and the one it was nested in.
    struct DeadlineScope: @unchecked Sendable {  // used on the loop thread only
        let deadline: WaitDeadline
        let outer: WaitDeadline?
    }

    /// Starts a deadline `timeout` from now, unless the one in force ends earlier (nil then).
    private func startDeadline(after timeout: Duration) -> DeadlineScope? {
        guard let waitDeadline = reactor.startDeadline(after: timeout, within: deadline) else { return nil }
        let scope = DeadlineScope(deadline: waitDeadline, outer: deadline)
        deadline = waitDeadline
        return scope
    }

    /// Ends a scope's deadline, and restores the one it was nested in (if the scope's is still
    /// the one in force: reads are one task's at a time, and so are their deadlines).
    private func endDeadline(_ scope: DeadlineScope) {
        reactor.endDeadline(scope.deadline)
        if deadline === scope.deadline { deadline = scope.outer }
    }

    // MARK: - Filling the buffer

    static let newline: [UInt8] = [UInt8(ascii: "\n")]

    /// Receives once into the buffer, waiting for data if there is none yet; sets `sawEOF` at
    /// EOF. A socket error is kept for later reads. Inlined into the reads: a reader parked
    /// here keeps its whole call chain, which one frame fewer keeps within the task's first
    /// slab of frames (the design article, "Memory per connection").
    @inline(__always)
    private nonisolated(nonsending) func fill(_ operation: StaticString) async throws {
        if let waiting = waitingOperation {
            throw ReactorError(
                .busy,
                "\(operation)() called while another task is already waiting for incoming data (in \(waiting)())")
        }
        waitingOperation = operation
        defer { waitingOperation = nil }
        // Counted before the receive: the yield must not find the scratch borrowed.
        buffer.settle()
        await reactor.consumeBudget()
        do {
            // `whenReady`'s loop, written out: its closure's context would stay in the frame
            // of every parked reader (the design article, "One I/O-source layer").
            var count: Int
            // A socket that said it has nothing, and has not been seen ready since, is not
            // asked again: the wait comes first. A layer (TLS) may hold bytes of its own.
            var worthAsking = transport != nil || handle.mayBeReady(.read)
            while true {
                var direction = Interest.read
                if worthAsking {
                    if buffer.hasNoStorage { buffer.borrow(reactor.receiveScratch(atLeast: receiveSize)) }
                    // The space is computed at the syscall, never held across a wait: the buffer
                    // may move meanwhile.
                    let space = buffer.freeSpace(atLeast: receiveSize)
                    let target = UnsafeMutableRawBufferPointer(start: space.baseAddress, count: min(space.count, receiveSize))
                    if let received = try tryReceive(into: target, waitIn: &direction) {
                        count = received
                        break
                    }
                    // No scratch is held across the wait, and no memory when nothing is buffered.
                    buffer.settle()
                }
                // The readiness is clear: the attempt's `try*` call cleared what it found
                // missing, or it was clear already.
                if let deadline {
                    // Past the deadline, the attempt's answer (a closed handle's error) still
                    // comes before the timeout.
                    if !worthAsking && deadline.hasPassed {
                        worthAsking = true
                        continue
                    }
                    try await handle.waitOnLoop(direction, under: deadline)
                } else {
                    try await handle.waitOnLoop(direction)
                }
                worthAsking = true
            }
            buffer.didAppend(count)
            didReceive(count)
        } catch {
            // A failed syscall or a layer's error (TLS) is kept, as asyncio's set_exception;
            // the reactor's own conditions (a busy direction) and cancellation are not.
            keepIfFailure(error)
            throw error
        }
    }

    /// `read(_:)` after a full recv, with nothing buffered: one recv straight into the array it
    /// returns (the reactor's `array(receivingAtMost:)`), so a bulk stream's bytes are not
    /// copied out of the buffer (Rust's `BufReader` bypass). It asks for `receiveSize`, as
    /// `fill` would: no more syscalls than through the buffer. Nil when no data is there (the
    /// attempt cleared the readiness, so `fill` waits without another syscall), or another
    /// read waits (`fill` says so). Out of line: the frame of a read parked in `fill` stays as
    /// it was.
    @inline(never)
    private func receiveDirectly() throws -> [UInt8]? {
        guard buffer.isEmpty, !sawEOF, waitingOperation == nil else { return nil }
        do {
            guard let bytes = try reactor.array(receivingAtMost: receiveSize, { target in
                var direction = Interest.read
                return try tryReceive(into: target, waitIn: &direction)
            }) else { return nil }
            didReceive(bytes.count)
            return bytes
        } catch {
            keepIfFailure(error)
            throw error
        }
    }

    /// One recv into `target`, through the transport if there is one: the byte count (0 at
    /// EOF), or nil when the data is not there yet (`direction` says what to wait for).
    @inline(__always)
    private func tryReceive(into target: UnsafeMutableRawBufferPointer, waitIn direction: inout Interest) throws -> Int? {
        try transport == nil ? handle.tryRead(into: target) : transport!.tryRead(into: target, waitIn: &direction)
    }

    /// Counts a recv of `count` bytes (0: EOF) that asked for `receiveSize`: a full one doubles
    /// the next, up to the limit.
    @inline(__always)
    private func didReceive(_ count: Int) {
        lastReceiveWasFull = count == receiveSize
        guard count > 0 else {
            sawEOF = true
            return
        }
        receivedBytes &+= UInt64(truncatingIfNeeded: count)
        reactor.chargeBudget(bytes: count)
        if lastReceiveWasFull { receiveSize = min(receiveSize * 2, limit, Self.maxReceiveSize) }
    }

    @inline(never)
    private func keepIfFailure(_ error: any Error) {
        if !(error is ReactorError || error is CancellationError) { storedError = error }
    }

    private func throwStoredError() throws {
        if let storedError { throw storedError }
    }
}

// MARK: - Async sequences

extension StreamReader {
    /// The lines of the stream as text, without their `\n` or `\r\n`, until EOF (like
    /// Foundation's `lines`). Each is at most `limit` bytes, else `LimitOverrunError`.
    public var lines: Lines { Lines(reader: self) }

    /// The stream in chunks of at most `maxBytes`, as they arrive, until EOF.
    public func chunks(maxBytes: Int = StreamReader.defaultLimit) -> Chunks {
        Chunks(reader: self, maxBytes: maxBytes)
    }

    public struct Lines: AsyncSequence, Sendable {
        public typealias Element = String
        let reader: StreamReader

        public struct AsyncIterator: AsyncIteratorProtocol {
            let reader: StreamReader
            public mutating func next() async throws -> String? { try await next(isolation: nil) }

            public mutating func next(isolation actor: isolated (any Actor)?) async throws -> String? {
                var line = try await reader.readLine()[...]
                if line.isEmpty { return nil }
                if line.last == UInt8(ascii: "\n") { line = line.dropLast() }
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                return String(decoding: line, as: UTF8.self)
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
    }

    public struct Chunks: AsyncSequence, Sendable {
        public typealias Element = [UInt8]
        let reader: StreamReader
        let maxBytes: Int

        public struct AsyncIterator: AsyncIteratorProtocol {
            let reader: StreamReader
            let maxBytes: Int
            public mutating func next() async throws -> [UInt8]? { try await next(isolation: nil) }

            public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
                let chunk = try await reader.read(maxBytes)
                return chunk.isEmpty ? nil : chunk
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader, maxBytes: maxBytes) }
    }
}
