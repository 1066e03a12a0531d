import COpenSSL
import Glibc
import ReactorStreams

/// Why TLS failed: the handshake, the peer's certificate, a record the peer sent, or the
/// configuration. `reason` is OpenSSL's ("certificate has expired", "hostname mismatch",
/// "unable to get local issuer certificate", "wrong version number"). A `PeerFailure`: a server
/// logs a handler that ends with one at debug.
public struct TLSError: PeerFailure, Sendable, CustomStringConvertible {
    public enum Code: Sendable {
        /// The peer's certificate did not verify; `verificationResult` is OpenSSL's
        /// X509_V_ERR code.
        case certificateVerificationFailed
        /// The handshake failed otherwise: no common version or cipher, not TLS at all, a
        /// peer that closed during it.
        case handshakeFailed
        /// The peer broke the protocol after the handshake (a bad record, a renegotiation).
        case protocolError
        /// A certificate, key or setting that OpenSSL refused.
        case configuration
    }

    public let code: Code
    public let reason: String
    public let verificationResult: Int?

    public init(_ code: Code, _ reason: String, verificationResult: Int? = nil) {
        self.code = code
        self.reason = reason
        self.verificationResult = verificationResult
    }

    public var description: String {
        let what = switch code {
        case .certificateVerificationFailed: "certificate verification failed"
        case .handshakeFailed: "TLS handshake failed"
        case .protocolError: "TLS protocol error"
        case .configuration: "TLS configuration refused"
        }
        return "\(what): \(reason)"
    }

    /// The oldest error on this thread's OpenSSL queue, with the queue emptied (so the next
    /// call starts clean, as OpenSSL requires); `fallback` if there is none. A configuration
    /// error says what it was loading: "the private key in key.pem: bad decrypt".
    static func fromQueue(_ code: Code, fallback: String) -> TLSError {
        let first = ERR_get_error()
        ERR_clear_error()
        guard first != 0 else { return TLSError(code, fallback) }
        let reason: String
        if let text = ERR_reason_error_string(first) {
            reason = String(cString: text)
        } else if reactor_err_is_system_error(first) == 1 {
            reason = String(cString: strerror(ERR_GET_REASON(first)))
        } else {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(first, &text, text.count)
            reason = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return TLSError(code, code == .configuration ? "\(fallback): \(reason)" : reason)
    }
}
