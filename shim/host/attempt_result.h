// attempt_result.h - what one delivery attempt found out: the outcome for
// the message and for each recipient, where it went, and the TLS facts the
// module reported.  Plain values: the session fills them, attempt_log
// formats them, the command maps them to an exit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mtatls::host {

enum class Outcome {
    sent,     // accepted by the server (final 2xx after the dot)
    deferred, // try again later
    bounced   // permanent failure
};

// Where an attempt ended.  What failed decides whether another MX host may
// still take the message (failover.h): a problem with this server (no
// connection, its banner, EHLO, TLS) passes the message on, a problem that
// concerns the message or this host does not.
enum class Stage {
    resolve,     // before any connection: DNS said no (no attempt was made)
    connect,     // no address accepted a connection
    greeting,    // the banner
    hello,       // EHLO or HELO, before or after TLS
    tls,         // the module's TLS verdict: STARTTLS missing where required,
                 // refused, a failed handshake, a refused certificate
    transaction, // MAIL FROM, RCPT TO, DATA: the message not sent yet
    message,     // the message went out (or may have): the reply to the final
                 // dot, and everything after it
    local        // this side: the module refused CONN_SETUP, a hook misbehaved
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
inline constexpr const char* achieved = "mtatls:tls_achieved";
} // namespace macro_name

// Every name above: what a host looks up when the module cannot list its
// macros (MACRO_LIST is ABI 1.1).
inline constexpr const char* tls_fact_names[] = {
    macro_name::used,          macro_name::policy,       macro_name::cipher,
    macro_name::alg_bits,      macro_name::use_bits,     macro_name::protocol,
    macro_name::verified,      macro_name::issuer,       macro_name::subject,
    macro_name::verify_policy, macro_name::verify_error, macro_name::tls_failure,
    macro_name::achieved};

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
    // mtatls:tls_achieved: none, anonymous, untrusted, trusted, verified
    // ("" when the attempt did not get that far).
    std::string achieved;
};

// A macro's name and its value at the end of the attempt.
using MacroValue = std::pair<std::string, std::string>;

struct AttemptResult {
    Outcome outcome = Outcome::deferred;
    // The attempt failed opportunistically and the module allows a
    // plaintext retry on a new connection (MTATLS_CONN_PLAINTEXT_RETRY).
    bool retry_plaintext = false;
    int code = 0;
    std::string dsn;
    std::string reason;
    Stage stage = Stage::local;

    std::string mx_name;
    std::string address; // numeric peer address ("" when none was reached)
    uint16_t port = 0;
    std::string domain;
    std::string sender; // "" for the null sender
    TlsFacts tls;
    double delay_seconds = 0;
    std::chrono::system_clock::time_point time{}; // when the attempt ended

    // Every macro the host asked for (AttemptParams::macro_names), in that
    // order; values "" when unknown or when no connection was set up.
    std::vector<MacroValue> macros;

    std::vector<RecipientResult> recipients;
};

} // namespace mtatls::host
