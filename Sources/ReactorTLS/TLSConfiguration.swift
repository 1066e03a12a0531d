/// What a `TLSContext` is made from (asyncio's `ssl.SSLContext` settings): the side it plays,
/// its certificate and key, what it trusts, how it verifies the peer, the versions and
/// application protocols it offers, and its timeouts.
public struct TLSConfiguration: Sendable {
    /// PEM text, in a file or in memory.
    public enum PEM: Sendable {
        case file(String)
        case bytes([UInt8])
    }

    /// The certificates a peer's chain is verified against.
    public enum TrustRoots: Sendable {
        /// The system's store (OpenSSL's default paths: Debian's /etc/ssl/certs).
        case system
        /// The certificates of a PEM file or text (a private CA).
        case certificates(PEM)
    }

    /// How the peer's certificate is checked.
    public enum PeerVerification: Sendable {
        /// Not asked for (a server's default) or not checked (a client's, for tests only).
        case none
        /// A server asks for a client certificate and verifies one if it is sent.
        case optional
        /// The peer must present a certificate that verifies (a client's default; a server's
        /// mutual TLS). A client also checks the server's name against it.
        case required
    }

    public enum Version: Sendable, Comparable {
        case tls12, tls13
    }

    public enum Role: Sendable {
        case client, server
    }

    public var role: Role
    /// The certificate chain this side presents (a server's, or a client's for mutual TLS),
    /// leaf first, and its private key.
    public var certificateChain: PEM?
    public var privateKey: PEM?
    public var trustRoots: TrustRoots = .system
    public var peerVerification: PeerVerification
    public var minimumVersion: Version = .tls12
    public var maximumVersion: Version = .tls13
    /// ALPN protocols, most preferred first ("h2", "http/1.1", "redis"): a client offers them,
    /// a server picks the first of its own that the client offers (none agreed is no error).
    public var applicationProtocols: [String] = []
    /// TLS 1.3 cipher suites (OpenSSL's syntax, "TLS_AES_128_GCM_SHA256:..."); nil: OpenSSL's.
    public var cipherSuites: String?
    /// TLS 1.2 ciphers (OpenSSL's cipher list syntax); nil: OpenSSL's.
    public var cipherList: String?
    /// How long a handshake may take (asyncio's `ssl_handshake_timeout`, 60 s).
    public var handshakeTimeout: Duration = .seconds(60)
    /// How long closing waits for the peer's close_notify (asyncio's `ssl_shutdown_timeout`,
    /// 30 s).
    public var shutdownTimeout: Duration = .seconds(30)

    /// A client that verifies the server against `trustRoots` (the system's store unless
    /// given) and checks its name.
    public static func client(
        trustRoots: TrustRoots = .system, applicationProtocols: [String] = [],
        certificateChain: PEM? = nil, privateKey: PEM? = nil
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .client, peerVerification: .required)
        configuration.trustRoots = trustRoots
        configuration.applicationProtocols = applicationProtocols
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        return configuration
    }

    /// A server presenting `certificateChain` with `privateKey`; it asks for no client
    /// certificate unless `peerVerification` says so (then checked against `trustRoots`).
    public static func server(
        certificateChain: PEM, privateKey: PEM, applicationProtocols: [String] = [],
        peerVerification: PeerVerification = .none, trustRoots: TrustRoots = .system
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server, peerVerification: peerVerification)
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        configuration.applicationProtocols = applicationProtocols
        configuration.trustRoots = trustRoots
        return configuration
    }

    public init(role: Role, peerVerification: PeerVerification) {
        self.role = role
        self.peerVerification = peerVerification
    }
}
