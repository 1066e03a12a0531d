import Foundation
import Glibc
import TestSupport
import XCTest

import Reactor
import ReactorStreams
import ReactorTLS

/// The test certificates (`TestPKI`), and contexts made of them.
enum PKI {
    static var testsDirectory: String { URL(fileURLWithPath: #filePath).deletingLastPathComponent().path }

    static func path(_ name: String) -> String { TestPKI.path(name) }

    /// A server context presenting `certificate` (server, expired) signed by the test CA.
    static func serverContext(
        _ certificate: String = "server", configure: (inout TLSConfiguration) -> Void = { _ in }
    ) throws -> TLSContext {
        var configuration = TLSConfiguration.server(
            certificateChain: .file(path("\(certificate).pem")), privateKey: .file(path("\(certificate)-key.pem")))
        configure(&configuration)
        return try TLSContext(configuration)
    }

    /// A client context that trusts the test CA (or `authority`).
    static func clientContext(trusting authority: String = "ca.pem", configure: (inout TLSConfiguration) -> Void = { _ in }) throws -> TLSContext {
        var configuration = TLSConfiguration.client(trustRoots: .certificates(.file(path(authority))))
        configure(&configuration)
        return try TLSContext(configuration)
    }
}

/// A program's exit status and its output (stdout and stderr together), run as a subprocess
/// of `reactor`, with `input` on its stdin.
func runPeer(_ program: String, _ arguments: [String], input: [UInt8] = [], on reactor: Reactor) async throws -> (status: Int32, output: String) {
    let child = try await createSubprocessExec(program, arguments, stdin: .pipe, stdout: .pipe, stderr: .stdout, on: reactor)
    let (output, _) = try await child.communicate(input: input)
    return (try await child.wait(), String(decoding: output, as: UTF8.self))
}

/// A program that must be installed (`.ci/run` installs them all); the test skips without it.
func requireProgram(_ name: String) throws -> String {
    guard let path = findExecutable(name) else { throw XCTSkip("\(name) is not installed (.ci/run installs it)") }
    return path
}

/// The TLS echo: every byte a client sends comes back; at EOF the server closes.
func startTLSEchoServer(_ context: TLSContext, on reactor: Reactor) async throws -> Server {
    try await startServer(host: "127.0.0.1", port: 0, tls: context, on: reactor) { reader, writer in
        while true {
            let bytes = try await reader.read(65536)
            if bytes.isEmpty { return }
            try writer.write(bytes)
            try await writer.drain()
        }
    }
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Waits until `server` serves no connection (each bad client's connection was closed).
func waitUntilNoConnections(_ server: Server) async throws {
    try await waitUntil(server.reactor, timeout: .seconds(10), "the server serves no connection") { server.connectionCount == 0 }
}
