// smtp_sink_tls.cpp - builds the shared server context and describes sessions.
#include "smtp_sink_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>

namespace mtatls::sink {

namespace {

// The client certificate is only recorded, never judged during the
// handshake: the verdict goes into the Received: header afterwards.
int record_only(int, X509_STORE_CTX*) { return 1; }

bool add_chain(SSL_CTX* ctx, const std::string& file, std::string& error) {
    BioPtr bio(BIO_new_file(file.c_str(), "r"));
    int count = 0;
    while (bio) {
        X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;
        if (SSL_CTX_add1_chain_cert(ctx, cert.get()) != 1) break;
        ++count;
    }
    ERR_clear_error(); // PEM_read_bio_X509 reports the end of the file as an error
    if (count == 0) error = "cannot load any certificate from --chain " + file;
    return count > 0;
}

// The first CN of `name` as UTF-8, with quotes and control bytes replaced
// so the value cannot break the header it is written into.
std::string common_name(const X509_NAME* name) {
    const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length < 0) return {};
    struct Free {
        void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
    };
    const std::unique_ptr<unsigned char, Free> owner(utf8);
    std::string text(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
    for (char& c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') c = '?';
    return text;
}

} // namespace

std::string openssl_errors() {
    std::string text;
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(code, buffer.data(), buffer.size());
        if (!text.empty()) text += "; ";
        text += buffer.data();
    }
    return text.empty() ? "unknown error" : text;
}

SslCtxPtr make_server_context(const Options& options, std::string& error) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    const std::string& key = options.key.empty() ? options.cert : options.key;
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
        error = "cannot create TLS context: " + openssl_errors();
        return {};
    }
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert.c_str()) != 1) {
        error = "cannot load certificate " + options.cert + ": " + openssl_errors();
        return {};
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
        error = "cannot load key " + key + " for the certificate: " + openssl_errors();
        return {};
    }
    if (!options.chain.empty() && !add_chain(ctx.get(), options.chain, error)) return {};

    // Needed for resumption once client certificates are requested.
    static const unsigned char session_context[] = "mtatls-sink";
    SSL_CTX_set_session_id_context(ctx.get(), session_context, sizeof session_context - 1);

    if (options.ask_client_cert) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, record_only);
        if (!options.client_ca.empty()) {
            STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca.c_str());
            if (!names ||
                SSL_CTX_load_verify_locations(ctx.get(), options.client_ca.c_str(), nullptr) != 1) {
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                error = "cannot load --client-ca " + options.client_ca + ": " + openssl_errors();
                return {};
            }
            SSL_CTX_set_client_CA_list(ctx.get(), names); // the context owns `names` now
        }
    }
    return ctx;
}

TlsFacts describe_tls(SSL* ssl, bool asked_client_cert) {
    TlsFacts facts;
    facts.protocol = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
        facts.cipher = SSL_CIPHER_get_name(cipher);
        facts.use_bits = SSL_CIPHER_get_bits(cipher, &facts.alg_bits);
    }
    if (!asked_client_cert) return facts;
    const X509Ptr peer(SSL_get1_peer_certificate(ssl));
    if (!peer) {
        facts.client_cert = "(No client certificate presented)";
        return facts;
    }
    const bool verified = SSL_get_verify_result(ssl) == X509_V_OK;
    facts.client_cert = "(Client CN \"" + common_name(X509_get_subject_name(peer.get())) +
                        "\", Issuer \"" + common_name(X509_get_issuer_name(peer.get())) + "\", " +
                        (verified ? "verified" : "not verified") + ")";
    return facts;
}

} // namespace mtatls::sink
