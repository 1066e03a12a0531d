@testable import Reactor

extension Reactor {
    /// True while a task is parked on `socket` in direction `interest` (test hook).
    func isWaiting(_ handle: IOHandle, _ interest: Interest) -> Bool {
        sources.source(fd: handle.fd, generation: handle.generation)?.pointee[waiter: interest] != nil
    }
}

import ReactorStreams

/// A client of an echo server: sends `payload`, half-closes, reads to EOF; true when what came
/// back is `payload`.
func echoesByteExact(port: Int, _ payload: [UInt8]) async throws -> Bool {
    let (reader, writer) = try await openConnection(host: "127.0.0.1", port: port)
    try writer.write(payload)
    try await writer.drain()
    try writer.writeEOF()
    let echoed = try await reader.read()
    writer.close()
    return echoed == payload
}

/// True for the error of an operation that ran past its deadline.
func isTimedOut(_ error: any Error) -> Bool {
    (error as? ReactorError)?.code == .timedOut
}
