// client_session.h - one client TLS session over a socket the host
// connected: non-blocking handshake steps, I/O and shutdown, and the facts
// the logs need (protocol, cipher, bits, peer names).
//
// This is the only place that calls SSL_connect/SSL_read/SSL_write, which
// keeps a second TLS library (tls_engine = gnutls) a matter of one more
// implementation of this class.
#pragma once

#include "tls/client_context.h"
#include "tls/peer_check.h"

#include <cstddef>
#include <memory>
#include <string>

namespace mtatls::tls {

enum class Progress { done, want_read, want_write, failed };
enum class Io { ok, want_read, want_write, eof, error };

struct SessionFacts {
    std::string protocol; // "TLSv1.3"
    std::string cipher;   // "TLS_AES_256_GCM_SHA384"
    int cipher_alg_bits = 0;
    int cipher_use_bits = 0;
    bool resumed = false;
    std::string kx_group;     // "X25519"
    std::string peer_sig_alg; // "ECDSA+SHA256"
    bool peer_certificate = false;
    std::string peer_subject; // RFC 2253 one-line form
    std::string peer_issuer;
    std::string subject_oneline; // "/O=.../CN=..." (sendmail, Exim)
    std::string issuer_oneline;
    std::string subject_cn;
    std::string issuer_cn;
    std::string sha256_fingerprint; // "AB:CD:..."
    std::string not_after;          // "2026-12-29T10:00:00Z"
};

class ClientSession {
  public:
    // Prepares the SSL for `fd` (put in non-blocking mode).  `sni` empty
    // means no SNI (IP literal).  False and `error` on failure.
    bool begin(std::shared_ptr<const ClientContext> context, int fd, const std::string& sni,
               std::vector<std::string> acceptable_names, std::string& error);

    Progress step();
    // Why step() failed, in words ("tlsv1 alert protocol version", ...).
    [[nodiscard]] const std::string& failure() const { return failure_; }

    [[nodiscard]] SessionFacts facts() const;
    [[nodiscard]] PeerCheck::Verdict judge() const { return check_->judge(ssl_.get()); }

    Io read(void* buffer, std::size_t size, std::size_t& done);
    Io write(const void* buffer, std::size_t size, std::size_t& done);
    Io shutdown();

  private:
    Io io_result(int ret, const char* what);

    std::shared_ptr<const ClientContext> context_;
    // The PeerCheck must outlive the SSL whose ex_data points at it.
    std::unique_ptr<PeerCheck> check_;
    SslPtr ssl_;
    std::string failure_;
};

} // namespace mtatls::tls
