// client_context.h - the shared, immutable client SSL_CTX for one TLS
// policy, and the per-configuration cache that builds each only once.
//
// Connections with the same TLS-relevant settings (trust anchors, client
// certificate, ciphers, protocols) share one SSL_CTX, whatever scope the
// settings came from.  Building a context reads files and parses cipher
// strings, so doing it per connection would cost more than the handshake.
#pragma once

#include "config/policy.h"
#include "tls/openssl_ptr.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mtatls::tls {

// The directives that shape an SSL_CTX.  tls_verify is not among them: the
// context always records the verification result and the attempt decides.
struct ClientTlsSettings {
    std::string ca_file;     // empty: the system trust store
    std::string certificate; // empty: no client certificate
    std::string key;         // empty: the key is in the certificate file
    std::string ciphers;
    std::string tls13_suites;
    uint8_t protocols = 0; // config::ProtocolBits
    bool dhe = true;

    static ClientTlsSettings from(const config::Effective& policy);
    [[nodiscard]] std::string cache_key() const;
};

class ClientContext {
  public:
    // Builds the context; nullptr and `error` set when a file or list that
    // passed the load-time checks has become unusable since.
    static std::shared_ptr<const ClientContext> build(const ClientTlsSettings& settings,
                                                      std::string& error);
    [[nodiscard]] SSL_CTX* get() const { return ctx_.get(); }

    // The ex_data slot where each SSL keeps its PeerCheck (peer_check.h).
    static int peer_check_index();

  private:
    SslCtxPtr ctx_;
};

class ClientContextCache {
  public:
    std::shared_ptr<const ClientContext> get(const ClientTlsSettings& settings, std::string& error);
    [[nodiscard]] std::size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<const ClientContext>> contexts_;
};

} // namespace mtatls::tls
