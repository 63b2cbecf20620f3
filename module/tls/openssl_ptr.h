// openssl_ptr.h - RAII owners for OpenSSL objects and error-queue helpers.
//
// Every OpenSSL object mtatls creates lives in one of these, so no early
// return or exception can leak it; declaration order sets release order.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace mtatls::tls {

template <auto Free> struct OpenSslDeleter {
    template <typename T> void operator()(T* object) const noexcept { Free(object); }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OpenSslDeleter<SSL_SESSION_free>>;

// Drains OpenSSL's thread-local error queue into one readable string
// ("error:...; error:..."), leaving the queue empty for the next call.
std::string drain_openssl_errors();

} // namespace mtatls::tls
