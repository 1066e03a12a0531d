import Foundation
import TestSupport
import XCTest

import ReactorTLS

/// Contexts refuse what OpenSSL would not load, with a reason, and never ask on the terminal.
final class TLSContextTests: XCTestCase {
    private func assertRefused(_ configuration: TLSConfiguration, _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TLSContext(configuration), file: file, line: line) { error in
            XCTAssertEqual((error as? TLSError)?.code, .configuration, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(reason), "\(error)", file: file, line: line)
        }
    }

    func testAKeyThatIsNotTheCertificatesIsRefused() {
        assertRefused(
            .server(certificateChain: .file(TestPKI.path("server.pem")), privateKey: .file(TestPKI.path("client-key.pem"))),
            "client-key.pem: key values mismatch")
    }

    func testAnEncryptedKeyIsRefusedWithoutAPrompt() throws {
        let encrypted = TestPKI.path("server-key-encrypted.pem")
        let (status, output) = try runProgram(
            "/usr/bin/openssl", ["pkey", "-in", TestPKI.path("server-key.pem"), "-aes256", "-passout", "pass:secret", "-out", encrypted])
        XCTAssertEqual(status, 0, output)
        assertRefused(.server(certificateChain: .file(TestPKI.path("server.pem")), privateKey: .file(encrypted)), "the private key in \(encrypted)")
    }

    func testMissingFilesAndBadALPNNamesAreRefused() {
        assertRefused(
            .server(certificateChain: .file("/nonexistent.pem"), privateKey: .file(TestPKI.path("server-key.pem"))),
            "the certificate chain in /nonexistent.pem: No such file or directory")
        assertRefused(.client(applicationProtocols: [""]), "an ALPN protocol name is 1 to 255 bytes")
        assertRefused(.client(applicationProtocols: [String(repeating: "x", count: 256)]), "an ALPN protocol name is 1 to 255 bytes")
        var server = TLSConfiguration(role: .server, peerVerification: .none)
        server.minimumVersion = .tls13
        assertRefused(server, "a server needs a certificate chain and its private key")
    }

    func testPEMBytesWorkAsFilesDo() throws {
        let certificate = Array(try Data(contentsOf: URL(fileURLWithPath: TestPKI.path("server.pem"))))
        let key = Array(try Data(contentsOf: URL(fileURLWithPath: TestPKI.path("server-key.pem"))))
        let authority = Array(try Data(contentsOf: URL(fileURLWithPath: TestPKI.path("ca.pem"))))
        XCTAssertNoThrow(try TLSContext(.server(certificateChain: .bytes(certificate), privateKey: .bytes(key))))
        XCTAssertNoThrow(try TLSContext(.client(trustRoots: .certificates(.bytes(authority)))))
        assertRefused(.client(trustRoots: .certificates(.bytes(Array("not a certificate".utf8)))), "no certificate in the PEM bytes")
    }
}
