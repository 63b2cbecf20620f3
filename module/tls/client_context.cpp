// client_context.cpp - building and caching client SSL_CTXs.
#include "tls/client_context.h"

#include "config/protocols.h"
#include "tls/peer_check.h"

namespace mtatls::tls {
namespace {

using config::Directive;

// OpenSSL 3's default groups minus the finite-field ones, for
// tls_enable_dhe_ciphers = false (TLS 1.3 negotiates DHE through groups).
constexpr const char* groups_without_ffdhe = "X25519:P-256:X448:P-521:P-384";

int lowest_version(uint8_t bits) {
    if ((bits & config::protocol_tls1_0) != 0) return TLS1_VERSION;
    if ((bits & config::protocol_tls1_1) != 0) return TLS1_1_VERSION;
    if ((bits & config::protocol_tls1_2) != 0) return TLS1_2_VERSION;
    return TLS1_3_VERSION;
}

int highest_version(uint8_t bits) {
    if ((bits & config::protocol_tls1_3) != 0) return TLS1_3_VERSION;
    if ((bits & config::protocol_tls1_2) != 0) return TLS1_2_VERSION;
    if ((bits & config::protocol_tls1_1) != 0) return TLS1_1_VERSION;
    return TLS1_VERSION;
}

// Holes inside the [lowest, highest] range (say TLS 1.0 and 1.2 only) can
// only be expressed with the per-version options.
uint64_t holes(uint8_t bits) {
    uint64_t options = 0;
    const int low = lowest_version(bits);
    const int high = highest_version(bits);
    const struct {
        int version;
        uint8_t bit;
        uint64_t option;
    } versions[] = {{TLS1_VERSION, config::protocol_tls1_0, SSL_OP_NO_TLSv1},
                    {TLS1_1_VERSION, config::protocol_tls1_1, SSL_OP_NO_TLSv1_1},
                    {TLS1_2_VERSION, config::protocol_tls1_2, SSL_OP_NO_TLSv1_2},
                    {TLS1_3_VERSION, config::protocol_tls1_3, SSL_OP_NO_TLSv1_3}};
    for (const auto& v : versions)
        if (v.version > low && v.version < high && (bits & v.bit) == 0) options |= v.option;
    return options;
}

} // namespace

ClientTlsSettings ClientTlsSettings::from(const config::Effective& policy) {
    ClientTlsSettings settings;
    settings.ca_file = policy[Directive::tls_ca].value;
    const std::string& certificate = policy[Directive::tls_certificate].value;
    if (certificate != "none") {
        settings.certificate = certificate;
        const std::string& key = policy[Directive::tls_key].value;
        if (key != "none") settings.key = key;
    }
    settings.ciphers = policy[Directive::tls_ciphers].value;
    settings.tls13_suites = policy[Directive::tlsv13_ciphersuites].value;
    settings.protocols = config::parse_protocols(policy[Directive::tls_protocols].value).bits;
    settings.dhe = policy.flag(Directive::tls_enable_dhe_ciphers);
    return settings;
}

std::string ClientTlsSettings::cache_key() const {
    // NUL cannot occur in any of the values, so it separates them safely.
    std::string joined;
    for (const std::string* part : {&ca_file, &certificate, &key, &ciphers, &tls13_suites}) {
        joined += *part;
        joined += '\0';
    }
    joined += static_cast<char>('0' + protocols);
    joined += dhe ? '1' : '0';
    return joined;
}

int ClientContext::peer_check_index() {
    // Allocated once; OpenSSL frees nothing in it (the PeerCheck lives in
    // the ClientSession that owns the SSL).
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

std::shared_ptr<const ClientContext> ClientContext::build(const ClientTlsSettings& settings,
                                                          std::string& error) {
    auto context = std::make_shared<ClientContext>();
    context->ctx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = context->ctx_.get();
    const auto fail = [&error](const std::string& what) {
        error = what + ": " + drain_openssl_errors();
        return nullptr;
    };
    if (ctx == nullptr) return fail("cannot create an SSL context");

    const uint8_t protocols = settings.protocols;
    const bool legacy = (protocols & (config::protocol_tls1_0 | config::protocol_tls1_1)) != 0;
    // TLS 1.0/1.1 only work at security level 0 (SHA-1 signatures); the
    // configuration allows them only where tls_verify = no.
    if (legacy) SSL_CTX_set_security_level(ctx, 0);
    if (SSL_CTX_set_min_proto_version(ctx, lowest_version(protocols)) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, highest_version(protocols)) != 1)
        return fail("cannot set the protocol range");

    // No renegotiation ever, no compression, no session cache (so no
    // session can carry a verification result from one peer to another).
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_SSLv3 |
                                 holes(protocols));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    std::string ciphers = settings.ciphers;
    if (!settings.dhe) ciphers += ":!kDHE";
    if (legacy) ciphers += ":@SECLEVEL=0";
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1)
        return fail("tls_ciphers \"" + settings.ciphers + "\" selects no cipher");
    if (SSL_CTX_set_ciphersuites(ctx, settings.tls13_suites.c_str()) != 1)
        return fail("tlsv13_ciphersuites \"" + settings.tls13_suites + "\" is not usable");
    if (!settings.dhe && SSL_CTX_set1_groups_list(ctx, groups_without_ffdhe) != 1)
        return fail("cannot restrict the key-exchange groups");

    const int loaded = settings.ca_file.empty()
                           ? SSL_CTX_set_default_verify_paths(ctx)
                           : SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr);
    if (loaded != 1)
        return fail(settings.ca_file.empty() ? std::string("cannot load the system trust store")
                                             : "cannot load tls_ca " + settings.ca_file);

    if (!settings.certificate.empty()) {
        const std::string& key = settings.key.empty() ? settings.certificate : settings.key;
        if (SSL_CTX_use_certificate_chain_file(ctx, settings.certificate.c_str()) != 1)
            return fail("cannot load tls_certificate " + settings.certificate);
        if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
            return fail("cannot load tls_key " + key);
        if (SSL_CTX_check_private_key(ctx) != 1)
            return fail("tls_key does not match tls_certificate " + settings.certificate);
    }

    // Every chain is verified and the result recorded; the attempt decides
    // afterwards, per tls_verify, whether it matters (peer_check.h).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &PeerCheck::record);
    (void)peer_check_index();
    return context;
}

std::shared_ptr<const ClientContext> ClientContextCache::get(const ClientTlsSettings& settings,
                                                             std::string& error) {
    const std::string key = settings.cache_key();
    std::lock_guard lock(mutex_);
    if (auto found = contexts_.find(key); found != contexts_.end()) return found->second;
    auto context = ClientContext::build(settings, error);
    if (context) contexts_.emplace(key, context);
    return context;
}

std::size_t ClientContextCache::size() const {
    std::lock_guard lock(mutex_);
    return contexts_.size();
}

} // namespace mtatls::tls
