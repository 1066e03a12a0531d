import COpenSSL

/// A peer's certificate, as the handshake received it (asyncio's `getpeercert()`).
public struct TLSCertificate: Sendable {
    /// The certificate in DER.
    public let der: [UInt8]
    /// The subject and issuer names, RFC 2253 ("CN=localhost,O=Example").
    public let subject: String
    public let issuer: String
    /// The DNS names and IP addresses it is valid for.
    public let subjectAlternativeNames: [String]
    /// Its validity, as OpenSSL prints it ("Dec  6 05:00:00 2026 GMT").
    public let notValidBefore: String
    public let notValidAfter: String

    init(_ certificate: OpaquePointer) {
        // A malformed field of a peer's certificate leaves errors behind, which the loop's next
        // record-layer call would take for its own.
        ERR_set_mark()
        defer { ERR_pop_to_mark() }
        var derPointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &derPointer)
        der = length > 0 ? Array(UnsafeBufferPointer(start: derPointer, count: Int(length))) : []
        reactor_openssl_free(derPointer)
        subject = Self.text { X509_NAME_print_ex($0, X509_get_subject_name(certificate), 0, reactor_xn_flag_rfc2253) }
        issuer = Self.text { X509_NAME_print_ex($0, X509_get_issuer_name(certificate), 0, reactor_xn_flag_rfc2253) }
        notValidBefore = Self.text { ASN1_TIME_print($0, X509_get0_notBefore(certificate)) }
        notValidAfter = Self.text { ASN1_TIME_print($0, X509_get0_notAfter(certificate)) }
        var names: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        var index: Int32 = 0
        while true {
            let length = reactor_x509_alt_name(certificate, index, &buffer, Int32(buffer.count))
            if length == 0 { break }
            if length > 0 {
                names.append(String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            index += 1
        }
        subjectAlternativeNames = names
    }

    /// What `print` writes to a memory BIO.
    private static func text(_ print: (OpaquePointer) -> Int32) -> String {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        _ = print(bio)
        var data: UnsafeMutablePointer<CChar>?
        let length = reactor_bio_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}
