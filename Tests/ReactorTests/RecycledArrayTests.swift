import Glibc
import TestSupport
import XCTest

@testable import Reactor

/// The arrays `sockRecv(_:maxBytes:)` returns, and the stream reads', are made by the reactor
/// (`array(copying:)`, `array(receivingAtMost:)`): in the storage of the last one once nothing
/// else holds it, never in one a caller still holds.
final class RecycledArrayTests: XCTestCase {
    func testAReceiveDroppedBeforeTheNextLendsItsStorageToIt() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            try await reactor.sockSendall(client, Array("first".utf8))
            var firstStorage: UnsafeRawPointer?
            do {
                let first = try await reactor.sockRecv(server, maxBytes: 100)
                XCTAssertEqual(String(decoding: first, as: UTF8.self), "first")
                firstStorage = storage(first)
            }
            // Same length, and a different one within the storage's capacity. The decoys take
            // whatever malloc freed: storage that was freed is not what comes back.
            var decoys: [[UInt8]] = []
            for text in ["other", "long"] {
                decoys.append([UInt8](repeating: 0, count: 5))
                try await reactor.sockSendall(client, Array(text.utf8))
                let next = try await reactor.sockRecv(server, maxBytes: 100)
                XCTAssertEqual(String(decoding: next, as: UTF8.self), text)
                XCTAssertEqual(storage(next), firstStorage)
            }
            XCTAssertFalse(decoys.contains { storage($0) == firstStorage })
        }
    }

    func testAnArrayTheCallerKeepsIsNeverWrittenAgain() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            var kept: [[UInt8]] = []
            for index in 0..<100 {
                let message = randomBytes(64, seed: UInt64(index))
                try await reactor.sockSendall(client, message)
                // Loopback delivers a 64-byte send whole.
                kept.append(try await reactor.sockRecv(server, maxBytes: 64))
            }
            for index in 0..<100 {
                XCTAssertEqual(kept[index], randomBytes(64, seed: UInt64(index)), "message \(index)")
            }
            XCTAssertEqual(Set(kept.map { storage($0) }).count, 100)
        }
    }

    func testASmallReceiveAfterALargeOneGetsStorageOfItsOwnSize() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            // Received in whatever pieces arrive; each is dropped before the next.
            let large = randomBytes(40_000, seed: 1)
            try await reactor.sockSendall(client, large)
            var received = 0
            while received < large.count {
                received += try await reactor.sockRecv(server, maxBytes: large.count - received).count
            }
            try await reactor.sockSendall(client, [1, 2, 3])
            let small = try await reactor.sockRecv(server, maxBytes: 100)
            XCTAssertEqual(small, [1, 2, 3])
            XCTAssertLessThan(small.capacity, 100)
        }
    }

    func testAnArrayPastTheLimitOrEmptyIsNotKept() throws {
        try runReactor { reactor in
            let small = [UInt8](repeating: 7, count: 10).withUnsafeBytes { reactor.array(copying: $0) }
            XCTAssertEqual(reactor.recycledArray, small)
            let bytes = randomBytes(2 * Reactor.recycledArrayLimit, seed: 2)
            let copy = bytes.withUnsafeBytes { reactor.array(copying: $0) }
            XCTAssertEqual(copy, bytes)
            XCTAssertEqual(storage(reactor.recycledArray), storage(small), "the large one was not kept")
            let nothing = [UInt8]().withUnsafeBytes { reactor.array(copying: $0) }
            XCTAssertEqual(nothing, [])
            XCTAssertEqual(storage(reactor.recycledArray), storage(small), "nor the empty one")
        }
    }

    func testAnArrayOfALargeReceiveIsNotMadeInTheScratch() throws {
        try runReactor { reactor in
            let (client, server) = try await connectedPair(reactor)
            defer { client.close(); server.close() }
            let scratch = reactor.receiveScratch(atLeast: 1).count
            try await reactor.sockSendall(client, [1, 2, 3])
            let received = try await reactor.sockRecv(server, maxBytes: 4 * Reactor.recycledArrayLimit)
            XCTAssertEqual(received, [1, 2, 3])
            XCTAssertEqual(reactor.receiveScratch(atLeast: 1).count, scratch)
        }
    }

    func testAReceiveIntoAnArrayUsesTheDroppedStorageWhateverItsCount() throws {
        try runReactor { reactor in
            let first = randomBytes(4096, seed: 3)
            let shorter = randomBytes(3000, seed: 4)
            let second = randomBytes(4096, seed: 5)
            var firstStorage: UnsafeRawPointer?
            do {
                let received = reactor.array(receivingAtMost: 4096) { $0.copyMemory(from: first.withUnsafeBytes { $0 }); return 4096 }
                XCTAssertEqual(received, first)
                firstStorage = received.flatMap(storage)
            }
            // A copy of fewer bytes in the same storage leaves its count short of the receive's.
            let decoy = [UInt8](repeating: 0, count: 4096)
            XCTAssertNotEqual(storage(decoy), firstStorage)
            do {
                let copied = shorter.withUnsafeBytes { reactor.array(copying: $0) }
                XCTAssertEqual(copied, shorter)
                XCTAssertEqual(storage(copied), firstStorage)
            }
            let received = reactor.array(receivingAtMost: 4096) { target in
                XCTAssertEqual(target.count, 4096)
                target.copyMemory(from: second.withUnsafeBytes { $0 })
                return 4096
            }
            XCTAssertEqual(received, second)
            XCTAssertEqual(received.flatMap(storage), firstStorage)
            XCTAssertNil(reactor.array(receivingAtMost: 4096) { _ in nil }, "nothing received, no array")
            XCTAssertEqual(reactor.array(receivingAtMost: 4096) { _ in 0 }, [], "EOF")
            XCTAssertEqual(decoy.count, 4096)
        }
    }

    func testAReceiveIntoAnArrayKeptByItsCallerGetsStorageOfItsOwn() throws {
        try runReactor { reactor in
            let bytes = (0..<4).map { randomBytes(4096, seed: UInt64(10 + $0)) }
            var kept: [[UInt8]] = []
            for index in 0..<4 {
                let received = reactor.array(receivingAtMost: 4096) { $0.copyMemory(from: bytes[index].withUnsafeBytes { $0 }); return 4096 }
                kept.append(try XCTUnwrap(received))
            }
            XCTAssertEqual(kept, bytes)
            XCTAssertEqual(Set(kept.map(storage)).count, 4)
        }
    }
}

/// The storage an array's bytes live in.
private func storage(_ bytes: [UInt8]) -> UnsafeRawPointer? {
    bytes.withUnsafeBytes { $0.baseAddress }
}
