import COpenSSL

/// A TLS configuration made ready for connections (asyncio's `ssl.SSLContext`, an OpenSSL
/// `SSL_CTX`): its certificate and key loaded and checked, its trust store read. Make one
/// per configuration and share it between connections and reactors; each connection's
/// session is made from it.
///
/// Every context refuses renegotiation, resumes no session (each handshake is a full one),
/// and lets an idle connection give back OpenSSL's record buffers
/// (`SSL_MODE_RELEASE_BUFFERS`).
public final class TLSContext: @unchecked Sendable {
    public let configuration: TLSConfiguration
    let context: OpaquePointer
    /// The ALPN list in its wire form (length-prefixed names).
    let applicationProtocolsWire: [UInt8]

    /// A client context with the system's trust store and nothing else (asyncio's `ssl=True`):
    /// `openConnection(host: "example.com", port: 443, tls: .defaultClient)`.
    public static let defaultClient: TLSContext = try! TLSContext(.client())

    public init(_ configuration: TLSConfiguration) throws {
        self.configuration = configuration
        if let bad = configuration.applicationProtocols.first(where: { $0.utf8.isEmpty || $0.utf8.count > 255 }) {
            throw TLSError(.configuration, "an ALPN protocol name is 1 to 255 bytes: \"\(bad)\"")
        }
        applicationProtocolsWire = configuration.applicationProtocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        guard let context = SSL_CTX_new(configuration.role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError.fromQueue(.configuration, fallback: "SSL_CTX_new failed")
        }
        self.context = context
        // An encrypted key is refused rather than asked for on the terminal.
        SSL_CTX_set_default_passwd_cb(context, noPassphrase)
        try configure()
    }

    deinit { SSL_CTX_free(context) }

    private func configure() throws {
        let configuration = configuration
        func check(_ result: Int32, _ what: String) throws {
            if result != 1 { throw TLSError.fromQueue(.configuration, fallback: what) }
        }
        let versions: [TLSConfiguration.Version: Int32] = [.tls12: TLS1_2_VERSION, .tls13: TLS1_3_VERSION]
        guard configuration.minimumVersion <= configuration.maximumVersion else {
            throw TLSError(.configuration, "the minimum version is above the maximum")
        }
        _ = reactor_ssl_ctx_set_min_version(context, versions[configuration.minimumVersion]!)
        _ = reactor_ssl_ctx_set_max_version(context, versions[configuration.maximumVersion]!)
        // Partial writes: a large write goes out a record at a time, and its retry may come
        // from a copy (the writer's queue) of the bytes first offered.
        _ = reactor_ssl_ctx_set_mode(
            context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS))
        // Read as much as the record buffer holds at once: one recv for many small records.
        reactor_ssl_ctx_set_read_ahead(context, 1)
        _ = SSL_CTX_set_options(context, reactor_ssl_op_no_renegotiation | reactor_ssl_op_no_ticket | reactor_ssl_op_no_compression)
        // No session resumption: every handshake is a full one, and a server sends no tickets.
        _ = reactor_ssl_ctx_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
        _ = SSL_CTX_set_num_tickets(context, 0)
        if let suites = configuration.cipherSuites { try check(SSL_CTX_set_ciphersuites(context, suites), "cipher suites \(suites)") }
        if let list = configuration.cipherList { try check(SSL_CTX_set_cipher_list(context, list), "cipher list \(list)") }

        if let chain = configuration.certificateChain {
            guard let key = configuration.privateKey else { throw TLSError(.configuration, "a certificate chain needs its private key") }
            try loadChain(chain)
            try loadKey(key)
            try check(SSL_CTX_check_private_key(context), "the private key does not match the certificate")
        } else if configuration.role == .server {
            throw TLSError(.configuration, "a server needs a certificate chain and its private key")
        }

        if configuration.peerVerification != .none {
            try loadTrustRoots(configuration.trustRoots)
            var mode = SSL_VERIFY_PEER
            if configuration.role == .server && configuration.peerVerification == .required { mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
            SSL_CTX_set_verify(context, mode, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }

        if !applicationProtocolsWire.isEmpty {
            if configuration.role == .client {
                // 0 is success here, unlike the rest of OpenSSL.
                guard SSL_CTX_set_alpn_protos(context, applicationProtocolsWire, UInt32(applicationProtocolsWire.count)) == 0 else {
                    throw TLSError(.configuration, "the ALPN protocols \(configuration.applicationProtocols)")
                }
            } else {
                SSL_CTX_set_alpn_select_cb(context, selectApplicationProtocol, Unmanaged.passUnretained(self).toOpaque())
            }
        }
    }

    private func loadChain(_ chain: TLSConfiguration.PEM) throws {
        switch chain {
        case .file(let path):
            guard SSL_CTX_use_certificate_chain_file(context, path) == 1 else {
                throw TLSError.fromQueue(.configuration, fallback: "the certificate chain in \(path)")
            }
        case .bytes(let bytes):
            let certificates = try Self.certificates(in: bytes)
            defer { certificates.forEach { X509_free($0) } }
            guard SSL_CTX_use_certificate(context, certificates[0]) == 1 else {
                throw TLSError.fromQueue(.configuration, fallback: "the certificate")
            }
            for extra in certificates.dropFirst() {
                // SSL_CTX_add0_chain_cert takes the reference it is given.
                X509_up_ref(extra)
                guard SSL_CTX_ctrl(context, SSL_CTRL_CHAIN_CERT, 0, UnsafeMutableRawPointer(extra)) == 1 else {
                    X509_free(extra)
                    throw TLSError.fromQueue(.configuration, fallback: "a chain certificate")
                }
            }
        }
    }

    private func loadKey(_ key: TLSConfiguration.PEM) throws {
        switch key {
        case .file(let path):
            guard SSL_CTX_use_PrivateKey_file(context, path, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.fromQueue(.configuration, fallback: "the private key in \(path)")
            }
        case .bytes(let bytes):
            let key = bytes.withUnsafeBytes { buffer -> OpaquePointer? in
                let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count))
                defer { BIO_free(bio) }
                return PEM_read_bio_PrivateKey(bio, nil, noPassphrase, nil)
            }
            guard let key else { throw TLSError.fromQueue(.configuration, fallback: "no private key in the PEM bytes") }
            defer { EVP_PKEY_free(key) }
            guard SSL_CTX_use_PrivateKey(context, key) == 1 else { throw TLSError.fromQueue(.configuration, fallback: "the private key") }
        }
    }

    private func loadTrustRoots(_ roots: TLSConfiguration.TrustRoots) throws {
        switch roots {
        case .system:
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw TLSError.fromQueue(.configuration, fallback: "the system's trust store")
            }
        case .certificates(.file(let path)):
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                throw TLSError.fromQueue(.configuration, fallback: "the trusted certificates in \(path)")
            }
        case .certificates(.bytes(let bytes)):
            let store = SSL_CTX_get_cert_store(context)
            let certificates = try Self.certificates(in: bytes)
            defer { certificates.forEach { X509_free($0) } }
            for certificate in certificates where X509_STORE_add_cert(store, certificate) != 1 {
                throw TLSError.fromQueue(.configuration, fallback: "a trusted certificate")
            }
        }
        if configuration.role == .server {
            // The CA names a server sends with its request for a client certificate.
            if case .certificates(.file(let path)) = roots, let names = SSL_load_client_CA_file(path) {
                SSL_CTX_set_client_CA_list(context, names)
            }
        }
    }

    /// Every certificate in PEM text, in order; at least one.
    static func certificates(in bytes: [UInt8]) throws -> [OpaquePointer] {
        var certificates: [OpaquePointer] = []
        bytes.withUnsafeBytes { buffer in
            let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count))
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(certificate) }
        }
        // The read that found no more certificates left its error behind.
        ERR_clear_error()
        guard !certificates.isEmpty else { throw TLSError(.configuration, "no certificate in the PEM bytes") }
        return certificates
    }
}

/// OpenSSL's passphrase callback: none, so an encrypted key fails to load.
private func noPassphrase(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ writing: Int32, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    0
}

/// A server's ALPN choice: the first of its protocols that the client offers; none agreed
/// goes on without ALPN (OpenSSL's `SSL_TLSEXT_ERR_NOACK`).
private func selectApplicationProtocol(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
    _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32, _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    let context = Unmanaged<TLSContext>.fromOpaque(argument!).takeUnretainedValue()
    var selected: UnsafeMutablePointer<UInt8>?
    let result = context.applicationProtocolsWire.withUnsafeBufferPointer { ours in
        SSL_select_next_proto(&selected, outLength, ours.baseAddress, UInt32(ours.count), offered, offeredLength)
    }
    guard result == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_NOACK }
    // `selected` points into the context's own list, which lives as long as the context.
    out?.pointee = UnsafePointer(selected)
    return SSL_TLSEXT_ERR_OK
}
