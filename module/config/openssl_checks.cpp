// openssl_checks.cpp - OpenSSL-backed validation of configuration values.
#include "config/openssl_checks.h"

#include "tls/openssl_ptr.h"

#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace mtatls::config {
namespace {

using tls::BioPtr;
using tls::drain_openssl_errors;
using tls::EvpPkeyPtr;
using tls::X509Ptr;

// Opens a file for OpenSSL, or says why not in the words of errno.
BioPtr open_file(const std::string& path, std::string& error) {
    ERR_clear_error();
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) {
        const int saved = errno;
        drain_openssl_errors();
        error = "cannot read \"" + path + "\": " + std::strerror(saved != 0 ? saved : ENOENT);
    }
    return bio;
}

std::string openssl_reason(const char* fallback) {
    std::string detail = drain_openssl_errors();
    return detail.empty() ? fallback : std::string(fallback) + " (" + detail + ")";
}

// Passphrase callback that refuses: a mail server cannot prompt, so an
// encrypted key must be reported, not waited on.
int no_passphrase(char*, int, int, void*) { return -1; }

EvpPkeyPtr read_key(const std::string& path, std::string& error) {
    BioPtr bio = open_file(path, error);
    if (!bio) return nullptr;
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key)
        error = openssl_reason("no usable PEM private key (encrypted keys are not supported)");
    return key;
}

X509Ptr read_certificate(const std::string& path, std::string& error) {
    BioPtr bio = open_file(path, error);
    if (!bio) return nullptr;
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert) error = openssl_reason("no PEM certificate found");
    return cert;
}

tls::SslCtxPtr scratch_context() {
    tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    // Level 0 so that the check is about names, not about today's policy.
    if (ctx) SSL_CTX_set_security_level(ctx.get(), 0);
    return ctx;
}

// Cipher families OpenSSL knows by name but that may select nothing in
// this build (OpenSSL 3 moved RC4, DES, IDEA, SEED... to the legacy
// provider).  Excluding them is the classic hardening idiom and must not be
// an error; *enabling* a name that selects nothing still is.
bool is_known_cipher_family(std::string_view name) {
    static constexpr std::string_view families[] = {
        "RC4",       "RC2",          "MD5",       "DES",      "3DES",    "IDEA",    "SEED",
        "EXP",       "EXPORT",       "EXPORT40",  "EXPORT56", "LOW",     "MEDIUM",  "eNULL",
        "NULL",      "aNULL",        "ADH",       "AECDH",    "ANULL",   "PSK",     "SRP",
        "DSS",       "aDSS",         "DH",        "kDHE",     "EDH",     "DHE",     "kEDH",
        "CAMELLIA",  "ARIA",         "SHA1",      "SHA",      "kRSA",    "RSA",     "aRSA",
        "ECDSA",     "aECDSA",       "CBC",       "SSLv3",    "TLSv1",   "TLSv1.0", "GOST94",
        "GOST89MAC", "kGOST",        "aGOST",     "CHACHA20", "CCM",     "CCM8",    "AESCCM",
        "AESCCM8",   "kPSK",         "kECDHEPSK", "kDHEPSK",  "kRSAPSK", "aPSK",    "SUITEB128",
        "SUITEB192", "SUITEB128ONLY"};
    for (std::string_view family : families)
        if (name == family) return true;
    return false;
}

std::vector<std::string_view> split_list(std::string_view text, std::string_view separators) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find_first_of(separators, start);
        const std::size_t stop = end == std::string_view::npos ? text.size() : end;
        if (stop > start) parts.push_back(text.substr(start, stop - start));
        start = stop + 1;
    }
    return parts;
}

} // namespace

CertificateFacts check_certificate_file(const std::string& path) {
    CertificateFacts facts;
    X509Ptr cert = read_certificate(path, facts.error);
    if (!cert) return facts;
    std::string ignored;
    BioPtr bio = open_file(path, ignored);
    if (bio) {
        EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
        facts.contains_key = key != nullptr;
    }
    ERR_clear_error();
    return facts;
}

std::string check_key_file(const std::string& path) {
    std::string error;
    read_key(path, error);
    return error;
}

std::string check_ca_file(const std::string& path) {
    std::string error;
    BioPtr bio = open_file(path, error);
    if (!bio) return error;
    int count = 0;
    while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)})
        ++count;
    ERR_clear_error();
    if (count == 0) return "CA bundle \"" + path + "\" holds no PEM certificate";
    return {};
}

std::string check_dhparams_file(const std::string& path) {
    std::string error;
    BioPtr bio = open_file(path, error);
    if (!bio) return error;
    EvpPkeyPtr params(PEM_read_bio_Parameters(bio.get(), nullptr));
    if (!params || EVP_PKEY_is_a(params.get(), "DH") == 0)
        return openssl_reason("no PEM DH parameters found");
    const int bits = EVP_PKEY_get_bits(params.get());
    if (bits < 2048)
        return "DH parameters of " + std::to_string(bits) + " bits are too weak (2048 at least)";
    return {};
}

std::string check_key_matches(const std::string& certificate_path, const std::string& key_path) {
    std::string error;
    X509Ptr cert = read_certificate(certificate_path, error);
    if (!cert) return error;
    EvpPkeyPtr key = read_key(key_path.empty() ? certificate_path : key_path, error);
    if (!key) {
        if (key_path.empty())
            return "certificate \"" + certificate_path +
                   "\" holds no private key and no tls_key applies";
        return error;
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        return "private key \"" + (key_path.empty() ? certificate_path : key_path) +
               "\" does not match certificate \"" + certificate_path + "\"";
    }
    return {};
}

std::string check_cipher_list(std::string_view ciphers) {
    tls::SslCtxPtr ctx = scratch_context();
    if (!ctx) return openssl_reason("cannot create an OpenSSL context");
    // OpenSSL accepts a list as long as one element matches; check each
    // element alone so a typo in one is not silently dropped.
    for (std::string_view element : split_list(ciphers, ":;, \t\r\n")) {
        std::string_view rule = element;
        if (rule.starts_with('@')) {
            if (rule == "@STRENGTH" || rule.starts_with("@SECLEVEL=")) continue;
            return "unknown cipher list command \"" + std::string(element) + "\"";
        }
        const bool removes = rule.starts_with('!') || rule.starts_with('-');
        if (removes || rule.starts_with('+')) rule.remove_prefix(1);
        const std::string one(rule);
        if (removes && is_known_cipher_family(rule)) continue;
        if (one.empty() || SSL_CTX_set_cipher_list(ctx.get(), one.c_str()) != 1) {
            ERR_clear_error();
            return "cipher rule \"" + std::string(element) + "\" matches no cipher OpenSSL knows";
        }
    }
    const std::string whole(ciphers);
    if (SSL_CTX_set_cipher_list(ctx.get(), whole.c_str()) != 1)
        return openssl_reason("the cipher list selects no cipher");
    return {};
}

std::string check_tls13_suites(std::string_view suites) {
    tls::SslCtxPtr ctx = scratch_context();
    if (!ctx) return openssl_reason("cannot create an OpenSSL context");
    // SSL_CTX_set_ciphersuites skips unknown names silently; test each
    // name alone and confirm OpenSSL then lists exactly that suite.
    for (std::string_view name : split_list(suites, ":")) {
        const std::string one(name);
        bool known = SSL_CTX_set_ciphersuites(ctx.get(), one.c_str()) == 1;
        if (known) {
            known = false;
            STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx.get());
            for (int i = 0; list != nullptr && i < sk_SSL_CIPHER_num(list); ++i) {
                const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(list, i);
                if (std::string_view(SSL_CIPHER_get_version(cipher)) == "TLSv1.3" &&
                    one == SSL_CIPHER_standard_name(cipher))
                    known = true;
            }
        }
        ERR_clear_error();
        if (!known) return "unknown TLS 1.3 ciphersuite \"" + one + "\"";
    }
    return {};
}

} // namespace mtatls::config
