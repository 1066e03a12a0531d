import Reactor

/// A byte stream layered over a connection's socket, under its `StreamReader` and
/// `StreamWriter`: a TLS session (the `ReactorTLS` library), or a layer of your own. The
/// streams call it where they would call the handle's `tryRead` and `tryWrite`, and wait as
/// they do (the writer through `whenReady`, the reader through `waitOnLoop`), so a layer has
/// the plain path's readiness bookkeeping and fairness budget; a stream without one reads and
/// writes its handle directly, with no call through the protocol.
///
/// Its methods are called on the handle's loop thread, by at most one reading and one
/// writing task at a time. A handle has one waiter per direction: a read that must wait to
/// write while the writer's flush waits to write too (a TLS alert behind a full socket)
/// throws `ReactorError` (`.busy`), as does a close that would wait for the peer's last
/// bytes while a reader waits for them (TLS's close then skips the wait).
public protocol StreamTransport: AnyObject, Sendable {
    /// One non-blocking read of the layer's bytes into `buffer`, through the handle's
    /// `tryRead` (and `tryWrite`, if reading needs to write): the count, 0 at the end of the
    /// stream, or nil when a `try*` call found the handle not ready, with `waitIn` set to the
    /// direction of that call (the attempt of `IOHandle.whenReady`).
    func tryRead(into buffer: UnsafeMutableRawBufferPointer, waitIn: inout Interest) throws -> Int?

    /// One non-blocking write of `bytes`: how many the layer took, or nil as for `tryRead`.
    /// After a nil, the next call repeats the same bytes (more may follow them).
    func tryWrite(_ bytes: UnsafeRawBufferPointer, waitIn: inout Interest) throws -> Int?

    /// Ends the layer's stream, in the writer's `close()` once its queue is sent (TLS sends
    /// close_notify and waits for the peer's); the writer closes the handle when it returns.
    nonisolated(nonsending) func shutdown() async
}

/// An error a transport throws for what the peer did (a TLS alert, a broken record): a
/// server logs a handler that ends with one at debug, as it does a reset, and as asyncio logs
/// a fatal SSL error.
public protocol PeerFailure: Error {}

/// Layers a transport over a connection (a TLS handshake), on the handle's loop thread:
/// `startServer(transport:)` runs it for each connection before the handler,
/// `openConnection(transport:)` after connecting, and `StreamWriter.startTransport(_:)` on a
/// live connection. A throw closes the connection.
public typealias TransportStarter = @Sendable (IOHandle) async throws -> any StreamTransport

extension StreamWriter {
    /// Layers a transport under this stream and its reader, in place, from the next byte on:
    /// runs `start` over the handle (a TLS handshake) and reads and writes through what it
    /// returns from then on (asyncio's `start_tls`, for any layer). Nothing may be queued to
    /// write, nor buffered to read (bytes that came before the layer started would be read as
    /// the layer's), and the stream must have no transport yet: else `ReactorError`
    /// (`.invalidState`). A throw from `start` is rethrown and leaves the stream as it was,
    /// which after a failed handshake is in no state to be used.
    public nonisolated(nonsending) func startTransport(
        file: StaticString = #fileID, line: UInt = #line, _ start: @escaping TransportStarter
    ) async throws {
        guard handle.reactor.runsInPlace(#isolation) else {
            return try await handle.reactor.runOnLoop((self, start), file: file, line: line) { try await $0.0.startTransport($0.1) }
        }
        guard let reader else { throw ReactorError(.invalidState, "startTransport: this writer was made without its reader") }
        if transport != nil { throw ReactorError(.invalidState, "startTransport: the stream has a transport already") }
        if bufferedCount > 0 { throw ReactorError(.invalidState, "startTransport: \(bufferedCount) bytes are still queued to write") }
        if reader.bufferedCount > 0 {
            throw ReactorError(.invalidState, "startTransport: \(reader.bufferedCount) bytes were received before the layer started and not read")
        }
        if isClosing { throw ReactorError(.invalidState, "startTransport: the stream is closing") }
        if isHalfClosed { throw ReactorError(.invalidState, "startTransport: writeEOF() was called") }
        if let waiting = reader.waitingOperation {
            throw ReactorError(.busy, "startTransport: another task is waiting for incoming data (in \(waiting)())")
        }
        // Until the layer is up, the handshake's bytes are the layer's: plain reads and writes
        // are refused.
        isStartingTransport = true
        reader.waitingOperation = "startTransport"
        defer {
            isStartingTransport = false
            reader.waitingOperation = nil
        }
        let transport = try await start(handle)
        self.transport = transport
        reader.transport = transport
    }
}
