// smtp_sink_tls.h - the sink's TLS side: one server SSL_CTX, built at start-up
// and then shared read-only by every connection, and the facts about a
// finished handshake that the Received: header and the log record.
//
// The sink has its own small OpenSSL owners rather than the module's: a test
// server must not depend on the code it tests.
#pragma once

#include "smtp_sink_options.h"

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace mtatls::sink {

template <auto Free> struct OpenSslFree {
    template <typename T> void operator()(T* object) const noexcept { Free(object); }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslFree<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslFree<SSL_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslFree<X509_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslFree<BIO_free_all>>;

// Builds the server context from --cert/--key/--chain and, with
// --ask-client-cert, --client-ca. Returns null and sets `error` on failure.
SslCtxPtr make_server_context(const Options& options, std::string& error);

struct TlsFacts {
    std::string protocol; // "TLSv1.3"
    std::string cipher;   // OpenSSL's name, as Postfix logs it
    int use_bits = 0;
    int alg_bits = 0;
    std::string client_cert; // "(Client CN ...)" clause; empty when not asked for
};

TlsFacts describe_tls(SSL* ssl, bool asked_client_cert);

// Drains OpenSSL's thread-local error queue into one line.
std::string openssl_errors();

} // namespace mtatls::sink
