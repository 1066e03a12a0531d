import Foundation
import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams

/// Runs `body` on a fresh reactor, bounded by `timeout`.
func runReactor<T: Sendable>(timeout: Duration = .seconds(60), _ body: @escaping @Sendable (Reactor) async throws -> T) throws -> T {
    try Reactor.run { reactor in try await reactor.withTimeout(timeout) { try await body(reactor) } }
}

/// A RESP request as redis-cli sends it.
func request(_ arguments: String...) -> [UInt8] { request(arguments.map { Array($0.utf8) }) }

func request(_ arguments: [[UInt8]]) -> [UInt8] {
    var bytes = Array("*\(arguments.count)\r\n".utf8)
    for argument in arguments {
        bytes += Array("$\(argument.count)\r\n".utf8) + argument + [13, 10]
    }
    return bytes
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Reads from `reader` until `count` bytes came, or EOF.
func readBytes(_ reader: StreamReader, count: Int) async throws -> [UInt8] {
    var received: [UInt8] = []
    while received.count < count {
        let chunk = try await reader.read(count - received.count)
        if chunk.isEmpty { break }
        received += chunk
    }
    return received
}

extension ServerProcess {
    /// redis-server on a free port, with nothing saved; skips the test where it is not installed.
    static func redisServer() throws -> ServerProcess {
        guard let path = findExecutable("redis-server") else { throw XCTSkip("redis-server is not installed (.ci/run installs it)") }
        let port = try freePort()
        return try ServerProcess(program: path, ["--port", "\(port)", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"], port: port)
    }
}
