// The system's OpenSSL 3 (Debian's libssl-dev) for ReactorTLS, and functions for the parts of
// its API that are macros, which Swift cannot call.
#ifndef REACTOR_COPENSSL_SHIM_H
#define REACTOR_COPENSSL_SHIM_H

#include <arpa/inet.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Options and flags whose macros are casts, which Swift does not import.
static const uint64_t reactor_ssl_op_no_renegotiation = SSL_OP_NO_RENEGOTIATION;
static const uint64_t reactor_ssl_op_no_ticket = SSL_OP_NO_TICKET;
static const uint64_t reactor_ssl_op_no_compression = SSL_OP_NO_COMPRESSION;
static const unsigned long reactor_xn_flag_rfc2253 = XN_FLAG_RFC2253;

static inline long reactor_ssl_ctx_set_min_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long reactor_ssl_ctx_set_max_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long reactor_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline void reactor_ssl_ctx_set_read_ahead(SSL_CTX *ctx, int yes) { SSL_CTX_set_read_ahead(ctx, yes); }
static inline long reactor_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline long reactor_ssl_set_server_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
static inline void reactor_bio_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void reactor_bio_set_retry_write(BIO *bio) { BIO_set_retry_write(bio); }
static inline void reactor_bio_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }
static inline long reactor_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline void reactor_openssl_free(void *pointer) { OPENSSL_free(pointer); }
static inline int reactor_err_is_system_error(unsigned long error) { return ERR_SYSTEM_ERROR(error) ? 1 : 0; }

// The DNS names and IP addresses of a certificate's subjectAltName, one per call: the index-th
// into `buffer` (text), or 0 past the last. Returns the length written, -1 to skip an entry.
static inline int reactor_x509_alt_name(X509 *certificate, int index, char *buffer, int size) {
    GENERAL_NAMES *names = X509_get_ext_d2i(certificate, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return 0;
    int result = 0;
    if (index < sk_GENERAL_NAME_num(names)) {
        GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
        result = -1;
        if (name->type == GEN_DNS) {
            const unsigned char *text = ASN1_STRING_get0_data(name->d.dNSName);
            int length = ASN1_STRING_length(name->d.dNSName);
            if (length < size) {
                memcpy(buffer, text, (size_t)length);
                result = length;
            }
        } else if (name->type == GEN_IPADD) {
            int length = ASN1_STRING_length(name->d.iPAddress);
            int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
            if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(name->d.iPAddress), buffer, (socklen_t)size) != NULL) {
                result = (int)strlen(buffer);
            }
        }
    }
    GENERAL_NAMES_free(names);
    return result;
}

#endif
