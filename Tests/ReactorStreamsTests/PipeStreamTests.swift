import XCTest

import Reactor
@testable import ReactorStreams
import TestSupport

/// The streams over a pipe, not a socket.
final class PipeStreamTests: XCTestCase {
    func testEightMebibytesThroughAPipeWithStreamsInRandomChunksAreByteExact() throws {
        let payload = randomBytes(8 << 20, seed: 808)
        let received = try runReactor { reactor -> [UInt8] in
            let (readEnd, writeEnd) = try await reactor.makePipe()
            let reader = StreamReader(readEnd)
            let writer = StreamWriter(writeEnd)
            XCTAssertNil(writer.peerAddress)
            let writing = Task(executorPreference: reactor) {
                var generator = SeededGenerator(seed: 1)
                var offset = 0
                while offset < payload.count {
                    let size = min(Int.random(in: 1...200_000, using: &generator), payload.count - offset)
                    try writer.write(payload[offset..<offset + size])
                    try await writer.drain()
                    offset += size
                }
                writer.close()
                await writer.waitClosed()
            }
            var generator = SeededGenerator(seed: 2)
            var received: [UInt8] = []
            while true {
                let chunk = try await reader.read(Int.random(in: 1...100_000, using: &generator))
                if chunk.isEmpty { break }
                received += chunk
            }
            try await writing.value
            XCTAssertTrue(reader.atEOF)
            readEnd.close()
            return received
        }
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload, "the bytes out of the pipe differ from the bytes in")
    }
}
