// directive.h - the table of every directive mtatls understands (the TLS
// ones, the log forms, and `resolver`, the DNS servers of the host's MX
// lookups): name, value kind, allowed values, default, and the scopes it
// may be set in.
//
// Everything that needs to know about a directive (readers, validation,
// resolution, `mtatls-config eval`, the schema test) asks this table, so a
// directive is described exactly once.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mtatls::config {

// Order is the order `mtatls-config eval` prints; never reuse a number.
enum class Directive : uint8_t {
    tls,
    tls_verify,
    tls_ca,
    tls_certificate,
    tls_key,
    tls_ciphers,
    tlsv13_ciphersuites,
    tls_protocols,
    tls_ifavailable_fallback,
    tls_engine,
    tls_enable_dhe_ciphers,
    tls_dhparams_file,
    tls_allow_renegotiation,
    starttls_injection_policy,
    tls_verified_peer_is_authorized,
    crypto_lock_method,
    ssl_lock_method,
    tls_log_format,
    tls_log_delivery_format,
    tls_log_transientfailure_format,
    tls_log_permanentfailure_format,
    tls_log_postfix_summary,
    resolver,
};
inline constexpr std::size_t directive_count = 23;

enum class ValueKind {
    choice,       // one of `choices`, case-insensitive
    boolean,      // true/false (yes/no, on/off, 1/0 accepted)
    file,         // a readable file, checked by content
    cipher_list,  // OpenSSL cipher list for TLS <= 1.2
    tls13_suites, // OpenSSL TLS 1.3 ciphersuite list
    protocols,    // +ALL:-TLSv1.0 style
    log_template, // custom log line: text with %{macro} references
    dns_servers,  // ADDR[@PORT], IPv4 or IPv6, separated by spaces or commas
};

// Bit set of the scopes a directive may be set in.
enum ScopeBits : uint8_t {
    scope_global = 1,
    scope_binding_group = 2,
    scope_binding = 4,
    scope_domain = 8,
    scope_all = 15,
};

struct DirectiveInfo {
    Directive id;
    const char* name;
    ValueKind kind;
    std::span<const char* const> choices; // canonical spellings; index = stored choice
    const char* default_value;            // canonical text of the built-in default
    const char* default_meaning;          // what the default means when it is not a value
    uint8_t scopes;
    bool inbound_only; // parsed and checked, no effect on outbound delivery
    bool obsolete;     // accepted, ignored, one warning at load
    bool none_allowed; // "none" cancels an inherited file (certificate/key)
};

const DirectiveInfo& info(Directive directive);
const std::array<DirectiveInfo, directive_count>& all_directives();

// Case-insensitive lookup of a directive by name.
std::optional<Directive> find_directive(std::string_view name);

// The closest of `candidates` to `word` when it is near enough to be a
// typo (edit distance with transpositions), else empty.
std::string closest_match(std::string_view word, std::span<const char* const> candidates);

// The directive name nearest to `name`, or empty.
std::string suggest_directive(std::string_view name);

// Whether an unknown option name is meant to be a TLS directive (so it is
// an error) rather than another Momentum option (so it is ignored).
bool looks_like_tls_directive(std::string_view name);

// Typed views of the choice directives; values are the indexes in `choices`.
enum class TlsMode : uint8_t { no, ifavailable, required };
enum class VerifyMode : uint8_t { no, ca, host, optional };

std::string lowercase(std::string_view text);
// ASCII case-insensitive equality, without building lower-case copies.
bool iequals(std::string_view a, std::string_view b);

} // namespace mtatls::config
