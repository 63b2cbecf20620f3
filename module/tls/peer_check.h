// peer_check.h - what the server's certificate proved, judged once after
// the handshake.
//
// OpenSSL calls record() for every certificate in the chain; it notes the
// first error and always lets the handshake go on, so a failed check is a
// decision the attempt takes with all facts at hand (under tls_verify =
// optional the mail still goes, logged unverified) rather than an alert
// sent mid-handshake.  Names are matched with OpenSSL's own host matching.
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace mtatls::tls {

class PeerCheck {
  public:
    // SSL_CTX verify callback: records, never fails the handshake.
    static int record(int preverify_ok, X509_STORE_CTX* store) noexcept;

    // Names the certificate may carry: the MX host and the recipient
    // domain (IP literals only against iPAddress SANs).
    void set_acceptable_names(std::vector<std::string> names) { names_ = std::move(names); }

    struct Verdict {
        bool chain_trusted = false;
        bool name_matched = false;
        std::string matched_name;
        std::string chain_error; // e.g. "certificate has expired (depth 0)"
        std::string name_error;  // e.g. "no name matches mx.example.test or example.test"
    };
    // After a finished handshake.
    [[nodiscard]] Verdict judge(SSL* ssl) const;

  private:
    int first_error_ = 0; // X509_V_OK
    int first_error_depth_ = 0;
    std::vector<std::string> names_;
};

// True for "192.0.2.1", "2001:db8::1" and "[2001:db8::1]".
bool is_ip_literal(const std::string& name);

// Lower case, brackets and one trailing dot removed.
std::string normalize_host(const std::string& name);

} // namespace mtatls::tls
