import Glibc
import TestSupport
import XCTest

@testable import Reactor
@testable import ReactorStreams

/// StreamReader against CPython's test_asyncio/test_streams.py cases, over a real socket: the
/// reader reads one end of a loopback pair, the test writes the other end (`peer`).
final class StreamReaderTests: XCTestCase {
    private struct Fixture {
        let reactor: Reactor
        let reader: StreamReader
        let peer: Socket

        func send(_ text: String) async throws {
            try await reactor.sockSendall(peer, Array(text.utf8))
        }

        func sendEOF() throws { try peer.shutdown(.write) }

        /// Sends `text` only once the reader has parked waiting for more, so that it arrives
        /// as a chunk of its own.
        func sendWhenReaderWaits(_ text: String) async throws {
            try await waitUntil(reactor, "the reader waits for data") { reactor.isWaiting(reader.handle, .read) }
            try await send(text)
        }

        func close() {
            reader.handle.close()
            peer.close()
        }
    }

    private func withReader(limit: Int = StreamReader.defaultLimit, _ body: @escaping @Sendable (Fixture) async throws -> Void) throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            let fixture = Fixture(reactor: reactor, reader: StreamReader(server, limit: limit), peer: client)
            defer { fixture.close() }
            try await body(fixture)
        }
    }

    func testReadZeroReturnsNothingEvenWithDataBuffered() throws {
        try withReader { f in
            try await f.send("data")
            let nothing = try await f.reader.read(0)
            XCTAssertEqual(nothing, [])
            let data = try await f.reader.read(100)
            XCTAssertEqual(text(data), "data")
        }
    }

    func testReadReturnsAsSoonAsSomeBytesArriveAtMostN() throws {
        try withReader { f in
            let reading = Task(executorPreference: f.reactor) { try await f.reader.read(30) }
            try await f.sendWhenReaderWaits("line1")
            let firstLine = try await reading.value
            XCTAssertEqual(text(firstLine), "line1")
            try await f.send("0123456789")
            let firstFour = try await f.reader.read(4)
            XCTAssertEqual(text(firstFour), "0123")
            let theRest = try await f.reader.read(100)
            XCTAssertEqual(text(theRest), "456789")
        }
    }

    func testReadAtEOFReturnsEmpty() throws {
        try withReader { f in
            try f.sendEOF()
            let atEOF = try await f.reader.read(1024)
            XCTAssertEqual(atEOF, [])
            XCTAssertTrue(f.reader.atEOF)
        }
    }

    func testReadWithoutCountReadsUntilEOF() throws {
        try withReader(limit: 16) { f in
            let payload = String(repeating: "chunk-", count: 1000)  // far over the limit
            try await f.send(payload)
            try f.sendEOF()
            let everything = try await f.reader.read()
            XCTAssertEqual(text(everything), payload)
            XCTAssertTrue(f.reader.atEOF)
        }
    }

    func testNegativeCountsAreClearErrors() throws {
        try withReader { f in
            await assertThrows(ReactorError.Code.invalidArgument) { _ = try await f.reader.read(-1) }
            await assertThrows(ReactorError.Code.invalidArgument) { _ = try await f.reader.readExactly(-1) }
            await assertThrows(ReactorError.Code.invalidArgument) { _ = try await f.reader.readUntil([]) }
        }
    }

    func testReadLineAcrossChunksAndThePartialLineAtEOF() throws {
        try withReader { f in
            try await f.send("chunk1 ")
            let reading = Task(executorPreference: f.reactor) { try await f.reader.readLine() }
            try await f.sendWhenReaderWaits("chunk2 ")
            try await f.sendWhenReaderWaits("chunk3 \nchunk4")
            let unfinishedLine = try await reading.value
            XCTAssertEqual(text(unfinishedLine), "chunk1 chunk2 chunk3 \n")
            try f.sendEOF()
            let partialLineAtEOF = try await f.reader.readLine()
            XCTAssertEqual(text(partialLineAtEOF), "chunk4")
            let afterEOF = try await f.reader.readLine()
            XCTAssertEqual(afterEOF, [])
            XCTAssertTrue(f.reader.atEOF)
        }
    }

    func testReadLineOverTheLimitDropsThroughTheSeparatorFound() throws {
        // CPython's test_readline_limit_with_existing_data, first half.
        try withReader(limit: 3) { f in
            try await f.send("line1\nline2\n")
            do {
                _ = try await f.reader.readLine()
                XCTFail("a 6-byte line passed a limit of 3")
            } catch let error as LimitOverrunError {
                XCTAssertEqual(error.consumed, 5)
            }
            // What follows the dropped line is intact (it is itself over the limit for readLine).
            let secondLine = try await f.reader.readExactly(6)
            XCTAssertEqual(text(secondLine), "line2\n")
        }
    }

    func testReadLineOverTheLimitWithoutSeparatorClearsTheBuffer() throws {
        // CPython's test_readline_limit_with_existing_data, second half.
        try withReader(limit: 3) { f in
            try await f.send("line1li")
            await assertThrows(LimitOverrunError.self) { _ = try await f.reader.readLine() }
            XCTAssertEqual(f.reader.bufferedCount, 0)
        }
    }

    func testReadUntilFindsASeparatorSplitAcrossChunks() throws {
        try withReader { f in
            let reading = Task(executorPreference: f.reactor) { try await f.reader.readUntil(Array("!!".utf8)) }
            try await f.sendWhenReaderWaits("lineAAA!")
            try await f.sendWhenReaderWaits("!rest")
            let untilSeparator = try await reading.value
            XCTAssertEqual(text(untilSeparator), "lineAAA!!")
            let afterSeparator = try await f.reader.read(100)
            XCTAssertEqual(text(afterSeparator), "rest")
        }
    }

    func testReadUntilWithSeveralSeparatorsStopsAtTheFirstToEnd() throws {
        try withReader { f in
            try await f.send("key=value;other\r\nlast")
            let separators = [Array("\r\n".utf8), Array(";".utf8), Array("\n".utf8)]
            let untilSemicolon = try await f.reader.readUntil(anyOf: separators)
            XCTAssertEqual(text(untilSemicolon), "key=value;")
            let untilCRLF = try await f.reader.readUntil(anyOf: separators)
            XCTAssertEqual(text(untilCRLF), "other\r\n")
        }
    }

    func testReadUntilOverTheLimitLeavesTheBufferAsItWas() throws {
        try withReader(limit: 4) { f in
            try await f.send("abcdefgh")
            do {
                _ = try await f.reader.readUntil(Array("!".utf8))
                XCTFail("no separator, yet readUntil returned")
            } catch let error as LimitOverrunError {
                XCTAssertGreaterThan(error.consumed, 4)
            }
            XCTAssertGreaterThan(f.reader.bufferedCount, 4, "readUntil dropped data on LimitOverrunError")
            try await f.send("!")
            let eightBytes = try await f.reader.readExactly(8)
            XCTAssertEqual(text(eightBytes), "abcdefgh")
        }
    }

    func testReadUntilAtEOFWithoutSeparatorThrowsIncompleteReadAndClears() throws {
        try withReader { f in
            try await f.send("no separator here")
            try f.sendEOF()
            do {
                _ = try await f.reader.readUntil(Array("\n".utf8))
                XCTFail("readUntil returned at EOF without a separator")
            } catch let error as IncompleteReadError {
                XCTAssertEqual(text(error.partial), "no separator here")
                XCTAssertNil(error.expected)
            }
            XCTAssertTrue(f.reader.atEOF)
        }
    }

    func testReadExactly() throws {
        try withReader { f in
            let zeroBytes = try await f.reader.readExactly(0)
            XCTAssertEqual(zeroBytes, [])
            let reading = Task(executorPreference: f.reactor) { try await f.reader.readExactly(10) }
            try await f.sendWhenReaderWaits("01234")
            try await f.sendWhenReaderWaits("56789tail")
            let tenBytes = try await reading.value
            XCTAssertEqual(text(tenBytes), "0123456789")
            try f.sendEOF()
            do {
                _ = try await f.reader.readExactly(10)
                XCTFail("readExactly returned at EOF")
            } catch let error as IncompleteReadError {
                XCTAssertEqual(text(error.partial), "tail")
                XCTAssertEqual(error.expected, 10)
            }
            XCTAssertTrue(f.reader.atEOF)
        }
    }

    func testReadExactlyOverTheLimitCompletes() throws {
        try withReader(limit: 16) { f in
            let payload = randomBytes(100_000, seed: 21)
            try await f.reactor.sockSendall(f.peer, payload)
            let sameBytes = try await f.reader.readExactly(payload.count) == payload
            XCTAssertTrue(sameBytes)
        }
    }

    func testTheBufferStaysWithinTwiceTheLimitWhileThePeerSendsMore() throws {
        try withReader(limit: 1024) { f in
            // Far more than the limit, none of it a line end.
            let sender = Task(executorPreference: f.reactor) {
                try await f.reactor.sockSendall(f.peer, [UInt8](repeating: 65, count: 4 << 20))
            }
            await assertThrows(LimitOverrunError.self) { _ = try await f.reader.readLine() }
            _ = try await f.reader.read(1)
            XCTAssertLessThanOrEqual(f.reader.bufferedCount, 2 * 1024)
            sender.cancel()
        }
    }

    func testASecondReaderWaitingAtOnceGetsAClearError() throws {
        try withReader { f in
            let first = Task(executorPreference: f.reactor) { try await f.reader.readLine() }
            try await waitUntil(f.reactor, "the first reader waits") { f.reactor.isWaiting(f.reader.handle, .read) }
            do {
                _ = try await f.reader.read(10)
                XCTFail("a second concurrent read was allowed")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .busy)
                XCTAssertTrue(error.message.contains("another task is already waiting"), error.message)
            }
            try await f.send("for the first\n")
            let firstReadersLine = try await first.value
            XCTAssertEqual(text(firstReadersLine), "for the first\n")
        }
    }

    func testASocketErrorIsThrownAgainByLaterReads() throws {
        try withReader { f in
            try await f.send("partial")
            // An RST: SO_LINGER with a zero timeout, then close.
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(f.peer.fileDescriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            f.peer.close()
            var errors: [Int32] = []
            for _ in 0..<2 {
                do {
                    _ = try await f.reader.readExactly(100)
                } catch let error as SystemCallError {
                    errors.append(error.errno)
                }
            }
            XCTAssertEqual(errors, [ECONNRESET, ECONNRESET])
        }
    }

    func testLinesAndChunksAsAsyncSequences() throws {
        try withReader { f in
            try await f.send("first\nsecond\r\n\nlast")
            try f.sendEOF()
            var lines: [String] = []
            for try await line in f.reader.lines { lines.append(line) }
            XCTAssertEqual(lines, ["first", "second", "", "last"])
        }
        try withReader { f in
            let payload = randomBytes(50_000, seed: 5)
            try await f.reactor.sockSendall(f.peer, payload)
            try f.sendEOF()
            var received: [UInt8] = []
            for try await chunk in f.reader.chunks(maxBytes: 1000) {
                XCTAssertLessThanOrEqual(chunk.count, 1000)
                received += chunk
            }
            XCTAssertTrue(received == payload)
        }
    }

    /// Returns once bytes sent to the reader are where its next recv finds them: at once in the
    /// socket, or with io_uring's completion mode, in the reactor's buffers once the loop has
    /// taken their completion.
    private static func bytesReachTheReactor(_ f: Fixture) async throws {
        guard let receives = f.reactor.completionReceives?.takeUnretainedValue() else { return }
        try await waitUntil(f.reactor, "the bytes reach the reactor's buffers") { receives.held > 0 }
    }

    func testAReadAfterAFullRecvReceivesStraightIntoTheArrayItReturns() throws {
        try withReader { f in
            // The first recv asks for the initial receive size and fills it: the next asks for twice that.
            let full = randomBytes(StreamReader.initialReceiveSize, seed: 11)
            try await f.reactor.sockSendall(f.peer, full)
            let first = try await f.reader.read(1 << 16)
            XCTAssertEqual(first, full)
            let tail = randomBytes(100, seed: 12)
            try await f.reactor.sockSendall(f.peer, tail)
            try await Self.bytesReachTheReactor(f)
            let second = try await f.reader.read(1 << 16)
            XCTAssertEqual(second, tail)
            XCTAssertGreaterThanOrEqual(second.capacity, 2 * StreamReader.initialReceiveSize, "received into the array, not copied out of the buffer")
            XCTAssertFalse(f.reader.holdsMemory)
            // A short recv went back to the buffer; a full one (twice the size now) comes out of it, then EOF is met straight.
            let twice = randomBytes(2 * StreamReader.initialReceiveSize, seed: 13)
            try await f.reactor.sockSendall(f.peer, twice)
            try f.sendEOF()
            try await Self.bytesReachTheReactor(f)
            let third = try await f.reader.read(1 << 16)
            XCTAssertEqual(third, twice)
            let atEnd = try await f.reader.read(1 << 16)
            XCTAssertEqual(atEnd, [])
            XCTAssertTrue(f.reader.atEOF)
            XCTAssertFalse(f.reader.holdsMemory)
        }
    }

    func testASecondReaderAfterAFullRecvStillGetsAClearError() throws {
        try withReader { f in
            try await f.reactor.sockSendall(f.peer, randomBytes(StreamReader.initialReceiveSize, seed: 14))
            _ = try await f.reader.read(1 << 16)
            let first = Task(executorPreference: f.reactor) { try await f.reader.read(1 << 16) }
            try await waitUntil(f.reactor, "the first reader waits") { f.reactor.isWaiting(f.reader.handle, .read) }
            do {
                _ = try await f.reader.read(1 << 16)
                XCTFail("a second concurrent read was allowed")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .busy)
            }
            try await f.send("for the first")
            let firstReaders = try await first.value
            XCTAssertEqual(text(firstReaders), "for the first")
        }
    }

    func testABulkStreamArrivesWholeAndInOrderThroughLargeAndSmallReads() throws {
        try withReader { f in
            let bytes = randomBytes(4 << 20, seed: 15)
            let sending = Task(executorPreference: f.reactor) {
                try await f.reactor.sockSendall(f.peer, bytes)
                try f.sendEOF()
            }
            var received: [UInt8] = []
            var reads = 0
            while true {
                reads += 1
                // Mostly large reads (straight into their arrays after a full recv), every
                // fifth a small one (out of the buffer).
                let chunk = try await f.reader.read(reads % 5 == 0 ? 700 : 1 << 16)
                if chunk.isEmpty { break }
                received += chunk
            }
            try await sending.value
            XCTAssertEqual(received.count, bytes.count)
            XCTAssertTrue(received == bytes, "the stream arrived out of order or changed")
            XCTAssertEqual(f.reader.receivedByteCount, UInt64(bytes.count))
            XCTAssertFalse(f.reader.holdsMemory)
        }
    }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func assertThrows<E: Error>(
    _ type: E.Type, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void
) async {
    do {
        try await body()
        XCTFail("expected \(E.self), nothing was thrown", file: file, line: line)
    } catch is E {
    } catch {
        XCTFail("expected \(E.self), got \(error)", file: file, line: line)
    }
}

func assertThrows(
    _ code: ReactorError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void
) async {
    do {
        try await body()
        XCTFail("expected ReactorError(\(code)), nothing was thrown", file: file, line: line)
    } catch let error as ReactorError {
        XCTAssertEqual(error.code, code, file: file, line: line)
    } catch {
        XCTFail("expected ReactorError(\(code)), got \(error)", file: file, line: line)
    }
}

/// The receive scratch: readers of one reactor receive into the same memory, and keep only
/// what they leave buffered.
final class StreamReaderScratchTests: XCTestCase {
    func testReadersOfOneReactorKeepTheirOwnPartialLinesAcrossWaits() throws {
        try runReactor { reactor in
            var pairs: [(reader: StreamReader, peer: Socket)] = []
            for _ in 0..<3 {
                let (client, server) = try await connectedPair(reactor)
                pairs.append((StreamReader(server), client))
            }
            defer { for pair in pairs { pair.reader.handle.close(); pair.peer.close() } }
            let lines = pairs.map { pair in Task(executorPreference: reactor) { try await pair.reader.readLine() } }
            // Each reader receives the first half of its line (into the shared scratch, then
            // into its own memory as it waits), then the others do, then the second halves.
            for (index, pair) in pairs.enumerated() {
                try await waitUntil(reactor, "reader \(index) waits") { reactor.isWaiting(pair.reader.handle, .read) }
                try await reactor.sockSendall(pair.peer, Array("line \(index) fir".utf8))
                try await waitUntil(reactor, "reader \(index) holds its first half") { pair.reader.bufferedCount > 0 }
                try await waitUntil(reactor, "reader \(index) waits again") { reactor.isWaiting(pair.reader.handle, .read) }
                XCTAssertTrue(pair.reader.holdsMemory)
            }
            for (index, pair) in pairs.enumerated().reversed() {
                try await reactor.sockSendall(pair.peer, Array("st half\nline \(index) second".utf8))
            }
            for (index, line) in lines.enumerated() {
                let value = try await line.value
                XCTAssertEqual(text(value), "line \(index) first half\n")
            }
            // The rest of each stream stays with its own reader.
            for (index, pair) in pairs.enumerated() {
                try pair.peer.shutdown(.write)
                let rest = try await pair.reader.read()
                XCTAssertEqual(text(rest), "line \(index) second")
                XCTAssertFalse(pair.reader.holdsMemory)
            }
        }
    }

    func testAReaderHoldsNoMemoryOnceItsReadsTookEverything() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            let reader = StreamReader(server)
            defer { server.close(); client.close() }
            XCTAssertFalse(reader.holdsMemory)
            try await reactor.sockSendall(client, Array("one\ntwo\n".utf8))
            let one = try await reader.readLine()
            XCTAssertEqual(text(one), "one\n")
            XCTAssertTrue(reader.holdsMemory, "two\\n stays buffered, so it moved out of the scratch")
            let two = try await reader.readLine()
            XCTAssertEqual(text(two), "two\n")
            XCTAssertFalse(reader.holdsMemory)
            // 1 MiB through readExactly: grows its own memory, and gives it up when read.
            let bytes = randomBytes(1 << 20, seed: 7)
            let sending = Task(executorPreference: reactor) { try await reactor.sockSendall(client, bytes) }
            let received = try await reader.readExactly(bytes.count)
            try await sending.value
            XCTAssertEqual(received, bytes)
            XCTAssertFalse(reader.holdsMemory)
        }
    }
}

/// withBufferedBytes, the zero-copy read, against the same edge cases.
extension StreamReaderTests {
    /// Length-prefixed frames (one byte of length, then the bytes), parsed where they lie:
    /// every complete frame buffered, or nil when none is.
    private static func frames(_ bytes: UnsafeRawBufferPointer, _ atEOF: Bool) -> (consumed: Int, value: [String]?) {
        var offset = 0
        var frames: [String] = []
        while offset < bytes.count, offset + 1 + Int(bytes[offset]) <= bytes.count {
            let length = Int(bytes[offset])
            frames.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(offset + 1)..<(offset + 1 + length)]), as: UTF8.self))
            offset += 1 + length
        }
        if frames.isEmpty { return (0, atEOF && bytes.isEmpty ? [] : nil) }
        return (offset, frames)
    }

    func testWithBufferedBytesWaitsWhileNothingIsBufferedThenSeesEveryFrameThatCame() throws {
        try withReader { f in
            let parsing = Task(executorPreference: f.reactor) { try await f.reader.withBufferedBytes(Self.frames) }
            try await waitUntil(f.reactor, "the parser waits for bytes") { f.reactor.isWaiting(f.reader.handle, .read) }
            try await f.send("\u{3}one\u{3}two\u{5}th")  // two frames and part of a third
            let first = try await parsing.value
            XCTAssertEqual(first, ["one", "two"])
            XCTAssertEqual(f.reader.bufferedCount, 3, "the partial frame stays buffered")
            let parsingAgain = Task(executorPreference: f.reactor) { try await f.reader.withBufferedBytes(Self.frames) }
            try await f.sendWhenReaderWaits("ree")
            let second = try await parsingAgain.value
            XCTAssertEqual(second, ["three"], "a frame split across receives is seen whole")
        }
    }

    func testWithBufferedBytesAsksForMoreUntilAFrameIsComplete() throws {
        try withReader { f in
            let calls = LockedValue(0)
            let parsing = Task(executorPreference: f.reactor) {
                try await f.reader.withBufferedBytes { bytes, atEOF in
                    calls.withLock { $0 += 1 }
                    return Self.frames(bytes, atEOF)
                }
            }
            for (index, piece) in ["\u{5}", "ab", "cd", "e"].enumerated() {
                try await waitUntil(f.reactor, "the parser saw the pieces before") { calls.withLock { $0 } == index }
                try await f.sendWhenReaderWaits(piece)
            }
            let frames = try await parsing.value
            XCTAssertEqual(frames, ["abcde"])
            XCTAssertEqual(calls.withLock { $0 }, 4, "one call per receive")
            XCTAssertFalse(f.reader.holdsMemory, "every byte was used: the reader holds no memory")
        }
    }

    func testWithBufferedBytesAtEOF() throws {
        try withReader { f in
            try await f.send("\u{2}ok")
            try f.sendEOF()
            let frames = try await f.reader.withBufferedBytes(Self.frames)
            XCTAssertEqual(frames, ["ok"])
            let atEOF = try await f.reader.withBufferedBytes { bytes, atEOF in (0, atEOF && bytes.isEmpty ? "eof" : nil) }
            XCTAssertEqual(atEOF, "eof", "a clean EOF is seen with no bytes")
        }
        try withReader { f in
            try await f.send("\u{9}partial")
            try f.sendEOF()
            do {
                _ = try await f.reader.withBufferedBytes(Self.frames)
                XCTFail("a frame cut by EOF was returned")
            } catch let error as IncompleteReadError {
                XCTAssertEqual(text(error.partial), "\u{9}partial")
                XCTAssertEqual(f.reader.bufferedCount, 0)
            }
        }
    }

    func testWithBufferedBytesOverTheLimitIsALimitOverrunAndKeepsTheBytes() throws {
        try withReader(limit: 8) { f in
            try await f.send("\u{20}0123456789")  // declares 32 bytes: more than the limit of 8
            do {
                _ = try await f.reader.withBufferedBytes(Self.frames)
                XCTFail("a frame over the limit was waited for")
            } catch let error as LimitOverrunError {
                XCTAssertEqual(error.consumed, 0)
                XCTAssertEqual(f.reader.bufferedCount, 8, "the bytes received stay buffered (8 per recv, the limit)")
            }
        }
    }

    func testWithBufferedBytesThrowsWhatTheParserThrowsAndKeepsTheBytes() throws {
        struct Malformed: Error {}
        try withReader { f in
            try await f.send("junk")
            do {
                let _: Int = try await f.reader.withBufferedBytes { (_, _) throws -> (consumed: Int, value: Int?) in throw Malformed() }
                XCTFail("the parser's error was lost")
            } catch is Malformed {
                XCTAssertEqual(f.reader.bufferedCount, 4)
            }
            let rest = try await f.reader.read(10)
            XCTAssertEqual(text(rest), "junk", "the other reads go on from the same buffer")
        }
    }

    func testWithBufferedBytesOffTheLoopIsAClearError() throws {
        try withReader { f in
            try await f.send("\u{3}off")
            do {
                _ = try await Task.detached { try await f.reader.withBufferedBytes(Self.frames) }.value
                XCTFail("the parser ran off the loop")
            } catch let error as ReactorError {
                XCTAssertEqual(error.code, .notOnReactor)
            }
            let frames = try await f.reader.withBufferedBytes(Self.frames)
            XCTAssertEqual(frames, ["off"], "nothing was consumed")
        }
    }

    func testEachReadKindHandsOutBytesNoLaterReadWrites() throws {
        try withReader { f in
            try await f.send("one\ntwo\nthree!four?")
            // Kept: each must stay as it was read while the reads go on.
            let line = try await f.reader.readLine()
            let exactly = try await f.reader.readExactly(4)
            let until = try await f.reader.readUntil(Array("!".utf8))
            let some = try await f.reader.read(100)
            XCTAssertEqual([line, exactly, until, some].map(text), ["one\n", "two\n", "three!", "four?"])
        }
    }

    func testAReadDroppedBeforeTheNextLendsItsStorageToIt() throws {
        try withReader { f in
            try await f.send("first")
            var firstStorage: UnsafeRawPointer?
            do {
                let first = try await f.reader.read(100)
                XCTAssertEqual(text(first), "first")
                firstStorage = first.withUnsafeBytes { $0.baseAddress }
            }
            // The decoy takes whatever malloc freed: storage that was freed is not what comes back.
            let decoy = [UInt8](repeating: 0, count: 5)
            try await f.send("other")
            let second = try await f.reader.read(100)
            XCTAssertEqual(text(second), "other")
            XCTAssertEqual(second.withUnsafeBytes { $0.baseAddress }, firstStorage)
            XCTAssertNotEqual(decoy.withUnsafeBytes { $0.baseAddress }, firstStorage)
        }
    }

    func testBulkReadsReceiveIntoTheStorageOfTheReadDroppedBefore() throws {
        // A limit of one receive's size: every receive after the first full one goes straight
        // into the array it returns.
        try withReader(limit: 4096) { f in
            let chunks = (0..<4).map { randomBytes(4096, seed: UInt64(20 + $0)) }
            try await f.reactor.sockSendall(f.peer, chunks.flatMap { $0 })
            var storages: [UnsafeRawPointer?] = []
            // Each decoy takes whatever malloc freed: storage that was freed is not what comes back.
            var decoys: [[UInt8]] = []
            for chunk in chunks {
                let read = try await f.reader.read(4096)
                XCTAssertEqual(read, chunk)
                storages.append(read.withUnsafeBytes { $0.baseAddress })
                decoys.append([UInt8](repeating: 0, count: 4096))
            }
            XCTAssertEqual(Set(storages).count, 1, "each read's array was dropped before the next")
            XCTAssertEqual(decoys.count, 4)
        }
    }
}
