// attempt_result.h - what one delivery attempt found out: the outcome for
// the message and for each recipient, where it went, and the TLS facts the
// module reported.  Plain values: the session fills them, attempt_log
// formats them, the command maps them to an exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mtatls::host {

enum class Outcome {
    sent,     // accepted by the server (final 2xx after the dot)
    deferred, // try again later
    bounced   // permanent failure
};

struct RecipientResult {
    std::string address;
    Outcome outcome = Outcome::deferred;
    int code = 0; // SMTP code, 0 when none
    std::string dsn;
    std::string reason;

    friend bool operator==(const RecipientResult&, const RecipientResult&) = default;
};

// The MACRO_LOOKUP names TlsFacts is filled from.
namespace macro_name {
inline constexpr const char* used = "outbound_tls:outbound_tls";
inline constexpr const char* policy = "outbound_tls:outbound_tls_type";
inline constexpr const char* cipher = "outbound_tls:outbound_tls_cipher";
inline constexpr const char* alg_bits = "outbound_tls:outbound_tls_cipher_algbits";
inline constexpr const char* use_bits = "outbound_tls:outbound_tls_cipher_usebits";
inline constexpr const char* protocol = "outbound_tls:outbound_tls_protocol";
inline constexpr const char* verified = "outbound_tls:outbound_tls_verified";
inline constexpr const char* issuer = "outbound_tls:outbound_tls_issuer";
inline constexpr const char* subject = "outbound_tls:outbound_tls_subject";
inline constexpr const char* verify_policy = "mtatls:policy:tls_verify";
inline constexpr const char* verify_error = "mtatls:verify_error";
inline constexpr const char* tls_failure = "mtatls:tls_failure";
} // namespace macro_name

// The module's MACRO_LOOKUP answers at the end of the attempt ("" when
// unknown).
struct TlsFacts {
    std::string used;          // outbound_tls: TLS, SMTP or unknown
    std::string policy;        // outbound_tls_type: no, ifavailable, required
    std::string verify_policy; // mtatls:policy:tls_verify
    std::string protocol;
    std::string cipher;
    std::string alg_bits;
    std::string use_bits;
    std::string verified; // verified, unverified
    std::string issuer;
    std::string subject;
    std::string verify_error; // why unverified
    std::string tls_failure;  // why TLS failed
};

struct AttemptResult {
    Outcome outcome = Outcome::deferred;
    // The attempt failed opportunistically and the module allows a
    // plaintext retry on a new connection (MTATLS_CONN_PLAINTEXT_RETRY).
    bool retry_plaintext = false;
    int code = 0;
    std::string dsn;
    std::string reason;

    std::string mx_name;
    std::string address; // numeric peer address ("" when none was reached)
    uint16_t port = 0;
    std::string domain;
    TlsFacts tls;
    double delay_seconds = 0;

    std::vector<RecipientResult> recipients;
};

} // namespace mtatls::host
