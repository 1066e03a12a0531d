import Foundation
import Glibc

/// The certificates of `make-pki.sh` (a test CA, and what it signed), made with the openssl
/// CLI once per test process, into a directory of its own.
package enum TestPKI {
    package static let directory: String = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reactor-tls-tests-\(getpid())").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("make-pki.sh").path
        let (status, output) = try! runProgram("/bin/sh", [script, directory])
        precondition(status == 0, "make-pki.sh failed: \(output)")
        return directory
    }()

    /// A file of the set: ca.pem, server.pem, server-key.pem, client.pem, expired.pem, ...
    package static func path(_ name: String) -> String { "\(directory)/\(name)" }
}
