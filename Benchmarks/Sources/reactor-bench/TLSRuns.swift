import ArgumentParser
import Foundation

/// reactor-bench tls: the TLS echo servers (the C floor over OpenSSL, ours, SwiftNIO behind
/// NIOSSL) timed side by side, as the echo matrix times the plain ones, then their memory per
/// idle TLS connection. The load generator speaks TLS 1.3 with TLS_AES_128_GCM_SHA256 only, so
/// every server runs the same cipher suite; the certificate is ECDSA P-256.
struct TLS: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The TLS echo servers (C over OpenSSL, ours, SwiftNIO with NIOSSL): echo, stream, handshakes, idle memory.",
        discussion: "Scenarios: \(Scenario.tls.map { "\($0.name) (\($0.title))" }.joined(separator: ", ")).")

    @OptionGroup var timing: Timing

    @Option(help: "Comma-separated scenarios to run (default: all).")
    var scenarios: String?

    @Option(help: "Idle TLS connections for the memory figure (0: none).")
    var connections = 10_000

    @Option(help: "Messages the longer callgrind run echoes beyond the shorter's 2,000, for instructions per message (0: none).")
    var instructions = 10_000

    func run() throws {
        let certificate = try TestCertificate.make()
        let servers = ServerKind.tls(certificate: certificate.certificate, key: certificate.key)
        let scenarios = try selected(self.scenarios, from: Scenario.tls, \.name) { name in Scenario.tls.first { $0.name == name } }
        _ = try Echo.matrix(servers, scenarios, timing: timing)
        if instructions > 0 {
            print("")
            try InstructionCount.run(servers: servers, base: 2_000, extra: instructions, toolbox: Toolbox())
        }
        if connections > 0 {
            print("")
            let fileLimit = FileLimit.raise(to: max(20_000, connections + 1_000))
            try IdleMemory.run(servers: servers, connections: connections, fileLimit: fileLimit, toolbox: Toolbox())
        }
    }
}

/// A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, made with the openssl CLI
/// into a temporary directory.
struct TestCertificate {
    let certificate: String
    let key: String

    static func make() throws -> TestCertificate {
        guard let openssl = Toolbox.system("openssl") else { throw BenchError("the TLS runs need the openssl CLI (apt-get install openssl)") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-bench-tls-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let made = TestCertificate(certificate: directory.appendingPathComponent("cert.pem").path, key: directory.appendingPathComponent("key.pem").path)
        let (_, status) = try Toolbox.output(of: [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", made.key,
            "-out", made.certificate, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        guard status == 0 else { throw BenchError("openssl req could not make a test certificate") }
        return made
    }
}
