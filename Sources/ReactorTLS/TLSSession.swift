import COpenSSL
import Glibc
import Reactor
import ReactorStreams

/// One connection's TLS (an OpenSSL `SSL`): the transport under a TLS stream's reader and
/// writer, and what the handshake agreed (asyncio's `get_extra_info('ssl_object')`), read
/// from `StreamWriter.tls`.
///
/// Records are read and written by OpenSSL itself, through a BIO whose reads and writes are
/// the handle's `tryRead` and `tryWrite` (no copy between a buffer of ours and OpenSSL's), and
/// a record layer call that needs the socket waits through the handle's `whenReady`. A peer
/// that closes without close_notify ends the stream as an EOF, as asyncio does (a truncation
/// attack is possible only where the protocol does not frame its own end; such a protocol
/// checks `receivedCloseNotify`).
///
/// Loop thread only, as the handle's calls are.
public final class TLSSession: StreamTransport, @unchecked Sendable {
    public let context: TLSContext
    let handle: IOHandle
    private let ssl: OpaquePointer
    /// The failed syscall a BIO call met, for the record layer call that made it to throw.
    @exclusivity(unchecked) var transportFailure: (any Error)?
    /// After a fatal error, OpenSSL's state is not to be used again (no close_notify).
    @exclusivity(unchecked) private var failed = false
    @exclusivity(unchecked) private var timedOut = false
    /// True once the peer's close_notify arrived: its stream ended as it meant to.
    @exclusivity(unchecked) public private(set) var receivedCloseNotify = false

    init(context: TLSContext, handle: IOHandle, serverName: String?) throws {
        self.context = context
        self.handle = handle
        guard let ssl = SSL_new(context.context) else { throw TLSError.fromQueue(.configuration, fallback: "SSL_new failed") }
        self.ssl = ssl
        let bio = SocketBIO.make(for: self)
        SSL_set_bio(ssl, bio, bio)
        if context.configuration.role == .server {
            SSL_set_accept_state(ssl)
            return
        }
        SSL_set_connect_state(ssl)
        let verifies = context.configuration.peerVerification != .none
        guard let serverName, !serverName.isEmpty else {
            // As Python's check_hostname: a verified chain alone would take any site's certificate.
            if verifies { throw TLSError(.configuration, "a client that verifies the server needs the server's name") }
            return
        }
        var address = in6_addr()
        let isAddress = inet_pton(AF_INET, serverName, &address) == 1 || inet_pton(AF_INET6, serverName, &address) == 1
        // An address is checked against the certificate's IP names, and is no SNI.
        let named = if isAddress {
            !verifies || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1
        } else {
            reactor_ssl_set_server_name(ssl, serverName) == 1 && (!verifies || SSL_set1_host(ssl, serverName) == 1)
        }
        if !named { throw TLSError.fromQueue(.configuration, fallback: "the server name \(serverName)") }
    }

    deinit { SSL_free(ssl) }

    // MARK: - Handshake

    /// A session over `handle` with its handshake done, within the context's handshake
    /// timeout (then `ReactorError` `.timedOut`, and the handle is closed). A client checks the
    /// server's certificate against `serverName` (and sends it as SNI); one that verifies
    /// needs it. Called off the handle's loop thread, it hops there.
    public static nonisolated(nonsending) func start(
        _ handle: IOHandle, context: TLSContext, serverName: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> TLSSession {
        guard handle.reactor.runsInPlace(#isolation) else {
            return try await handle.reactor.runOnLoop((handle, context, serverName), file: file, line: line) {
                try await start($0.0, context: $0.1, serverName: $0.2)
            }
        }
        let session = try TLSSession(context: context, handle: handle, serverName: serverName)
        try await session.handshake()
        return session
    }

    private nonisolated(nonsending) func handshake() async throws {
        let reactor = handle.reactor
        let timeout = context.configuration.handshakeTimeout
        // A stalled handshake is ended by closing its socket, which wakes the wait with EBADF.
        let timer = reactor.callLater(timeout) { [self] in
            timedOut = true
            handle.close()
        }
        defer { reactor.cancelTimer(timer) }
        do {
            _ = try await handle.whenReady(.read) { direction in
                let result = SSL_do_handshake(ssl)
                if result == 1 { return 1 }
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_WANT_READ {
                    direction = .read
                    return nil
                }
                if error == SSL_ERROR_WANT_WRITE {
                    direction = .write
                    return nil
                }
                throw handshakeFailure(error)
            }
        } catch where timedOut {
            throw ReactorError(.timedOut, "TLS handshake timed out after \(timeout)")
        }
    }

    private func handshakeFailure(_ error: Int32) -> any Error {
        failed = true
        // Without verification OpenSSL still records what it would have said.
        let verification = SSL_get_verify_result(ssl)
        if context.configuration.peerVerification != .none && verification != X509_V_OK {
            ERR_clear_error()
            let reason = String(cString: X509_verify_cert_error_string(verification))
            return TLSError(.certificateVerificationFailed, reason, verificationResult: verification)
        }
        if error == SSL_ERROR_SYSCALL, let failure = takeTransportFailure() {
            ERR_clear_error()
            return failure
        }
        return TLSError.fromQueue(.handshakeFailed, fallback: "the peer closed the connection during the handshake")
    }

    // MARK: - The transport

    public func tryRead(into buffer: UnsafeMutableRawBufferPointer, waitIn direction: inout Interest) throws -> Int? {
        // Nothing decrypted or read ahead, no record of its own waiting to go out, and the
        // socket drained: OpenSSL could only say WANT_READ.
        if SSL_has_pending(ssl) == 0 && SSL_want(ssl) != SSL_WRITING && !handle.mayBeReady(.read) { return nil }
        var count = 0
        if SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count) == 1 { return count }
        return try outcome(SSL_get_error(ssl, 0), &direction, reading: true)
    }

    public func tryWrite(_ bytes: UnsafeRawBufferPointer, waitIn direction: inout Interest) throws -> Int? {
        var count = 0
        if SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &count) == 1 { return count }
        return try outcome(SSL_get_error(ssl, 0), &direction, reading: false)
    }

    /// What a record layer call that did not complete comes to: a wait, the end of the
    /// stream, or an error.
    private func outcome(_ error: Int32, _ direction: inout Interest, reading: Bool) throws -> Int? {
        switch error {
        case SSL_ERROR_WANT_READ:
            direction = .read
            return nil
        case SSL_ERROR_WANT_WRITE:
            direction = .write
            return nil
        case SSL_ERROR_ZERO_RETURN:
            receivedCloseNotify = true
            return 0
        case SSL_ERROR_SYSCALL:
            failed = true
            if let failure = takeTransportFailure() {
                ERR_clear_error()
                throw failure
            }
            // The socket's EOF with no close_notify: the end of the stream, as asyncio reads it.
            if reading && ERR_peek_error() == 0 { return 0 }
            throw TLSError.fromQueue(.protocolError, fallback: "the connection closed")
        default:
            failed = true
            if reading && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING {
                ERR_clear_error()
                return 0
            }
            throw TLSError.fromQueue(.protocolError, fallback: "SSL error \(error)")
        }
    }

    private func takeTransportFailure() -> (any Error)? {
        defer { transportFailure = nil }
        return transportFailure
    }

    /// Sends close_notify and waits, within the context's shutdown timeout, for the peer's
    /// (reading and dropping what comes before it), unless it came already, the connection
    /// failed, or another task is reading.
    public nonisolated(nonsending) func shutdown() async {
        guard !failed && SSL_is_init_finished(ssl) == 1 else { return }
        let reactor = handle.reactor
        let timer = reactor.callLater(context.configuration.shutdownTimeout) { [handle] in handle.close() }
        defer { reactor.cancelTimer(timer) }
        do {
            let sent = try await handle.whenReady(.write) { direction in
                let result = SSL_shutdown(ssl)
                if result >= 0 { return Int(result) }
                let error = SSL_get_error(ssl, result)
                guard error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ else {
                    throw TLSError.fromQueue(.protocolError, fallback: "close_notify")
                }
                direction = error == SSL_ERROR_WANT_WRITE ? .write : .read
                return nil
            }
            // 1: the peer's close_notify had come already.
            if sent == 1 || receivedCloseNotify { return }
            while true {
                let count = try await handle.whenReady(.read) { direction in
                    let scratch = reactor.receiveScratch(atLeast: 16 * 1024)
                    return try tryRead(into: scratch, waitIn: &direction)
                }
                if count == 0 { return }
            }
        } catch {
            ERR_clear_error()
        }
    }

    // MARK: - What the handshake agreed

    /// "TLSv1.3", "TLSv1.2".
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The cipher suite, in OpenSSL's name ("TLS_AES_128_GCM_SHA256").
    public var cipherSuite: String { SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "" }

    /// The ALPN protocol both sides agreed, if any.
    public var applicationProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The name the client asked for (SNI): on a server, the client's; on a client, its own.
    public var serverName: String? { SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) } }

    /// The peer's certificate, if it sent one (a server always does; a client under mutual
    /// TLS). On a side that verifies, it verified.
    public var peerCertificate: TLSCertificate? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        return TLSCertificate(certificate)
    }
}
