// directive.cpp - the directive table and name matching.
#include "config/directive.h"

#include "text/log_template.h"

#include <algorithm>
#include <vector>

namespace mtatls::config {
namespace {

constexpr std::array<const char*, 3> tls_choices{"no", "ifavailable", "required"};
constexpr std::array<const char*, 4> verify_choices{"no", "ca", "host", "optional"};
constexpr std::array<const char*, 2> bool_choices{"false", "true"};
constexpr std::array<const char*, 2> engine_choices{"openssl", "gnutls"};
constexpr std::array<const char*, 3> injection_choices{"allow", "ignore", "reject"};
constexpr std::array<const char*, 3> crypto_lock_choices{"EC_SSL_SPINLOCK", "EC_SSL_MUTEX",
                                                         "EC_SSL_DEFAULTLOCK"};
constexpr std::array<const char*, 3> ssl_lock_choices{"mutex", "spinlock", "default"};
constexpr std::array<const char*, 3> log_format_choices{"keyvalue", "json", "custom"};
constexpr std::span<const char* const> no_choices{};
using text::default_log_template;

using enum Directive;
using enum ValueKind;

// clang-format off
const std::array<DirectiveInfo, directive_count> table{{
    {tls, "tls", choice, tls_choices, "no", nullptr, scope_all, false, false, false},
    {tls_verify, "tls_verify", choice, verify_choices, "no", nullptr, scope_all, false, false, false},
    {tls_ca, "tls_ca", file, no_choices, "", "system trust store", scope_all, false, false, false},
    {tls_certificate, "tls_certificate", file, no_choices, "none", nullptr, scope_all, false, false, true},
    {tls_key, "tls_key", file, no_choices, "none", "key from the certificate file", scope_all, false, false, true},
    {tls_ciphers, "tls_ciphers", cipher_list, no_choices, "DEFAULT", nullptr, scope_all, false, false, false},
    {tlsv13_ciphersuites, "tlsv13_ciphersuites", tls13_suites, no_choices,
     "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", nullptr, scope_all, false, false, false},
    {tls_protocols, "tls_protocols", protocols, no_choices, "+ALL", nullptr, scope_all, false, false, false},
    {tls_ifavailable_fallback, "tls_ifavailable_fallback", boolean, bool_choices, "true", nullptr, scope_all, false, false, false},
    {tls_engine, "tls_engine", choice, engine_choices, "openssl", nullptr, scope_global, false, false, false},
    {tls_enable_dhe_ciphers, "tls_enable_dhe_ciphers", boolean, bool_choices, "true", nullptr, scope_global, false, false, false},
    {tls_dhparams_file, "tls_dhparams_file", file, no_choices, "", "built-in parameters", scope_global, true, false, false},
    {tls_allow_renegotiation, "tls_allow_renegotiation", boolean, bool_choices, "true", nullptr, scope_global, true, false, false},
    {starttls_injection_policy, "starttls_injection_policy", choice, injection_choices, "reject", nullptr, scope_global, true, false, false},
    {tls_verified_peer_is_authorized, "tls_verified_peer_is_authorized", boolean, bool_choices, "false", nullptr, scope_global, true, false, false},
    {crypto_lock_method, "crypto_lock_method", choice, crypto_lock_choices, "EC_SSL_DEFAULTLOCK", nullptr, scope_global, false, true, false},
    {ssl_lock_method, "ssl_lock_method", choice, ssl_lock_choices, "mutex", nullptr, scope_global, false, true, false},
    {tls_log_format, "tls_log_format", choice, log_format_choices, "keyvalue", nullptr, scope_global, false, false, false},
    {tls_log_delivery_format, "tls_log_delivery_format", log_template, no_choices, default_log_template, nullptr, scope_global, false, false, false},
    {tls_log_transientfailure_format, "tls_log_transientfailure_format", log_template, no_choices, default_log_template, nullptr, scope_global, false, false, false},
    {tls_log_permanentfailure_format, "tls_log_permanentfailure_format", log_template, no_choices, default_log_template, nullptr, scope_global, false, false, false},
    {tls_log_postfix_summary, "tls_log_postfix_summary", boolean, bool_choices, "true", nullptr, scope_global, false, false, false},
    // Read by the host for its MX and address lookups (mtatls-send); the
    // module only checks it.  One resolver per process: global only.
    {resolver, "resolver", dns_servers, no_choices, "", "system resolver configuration, /etc/resolv.conf", scope_global, false, false, false},
}};
// clang-format on

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Optimal string alignment distance: insertions, deletions, substitutions
// and adjacent transpositions, all of cost one ("tls_verfy" is one step).
std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    std::vector<std::size_t> d((n + 1) * (m + 1));
    auto at = [m, &d](std::size_t i, std::size_t j) -> std::size_t& { return d[i * (m + 1) + j]; };
    for (std::size_t i = 0; i <= n; ++i)
        at(i, 0) = i;
    for (std::size_t j = 0; j <= m; ++j)
        at(0, j) = j;
    for (std::size_t i = 1; i <= n; ++i) {
        for (std::size_t j = 1; j <= m; ++j) {
            const std::size_t cost = lower_ascii(a[i - 1]) == lower_ascii(b[j - 1]) ? 0 : 1;
            at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
            if (i > 1 && j > 1 && lower_ascii(a[i - 1]) == lower_ascii(b[j - 2]) &&
                lower_ascii(a[i - 2]) == lower_ascii(b[j - 1]))
                at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
        }
    }
    return at(n, m);
}

} // namespace

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return lower_ascii(x) == lower_ascii(y);
           });
}

const DirectiveInfo& info(Directive directive) {
    return table[static_cast<std::size_t>(directive)];
}

const std::array<DirectiveInfo, directive_count>& all_directives() { return table; }

std::optional<Directive> find_directive(std::string_view name) {
    for (const auto& entry : table)
        if (iequals(entry.name, name)) return entry.id;
    return std::nullopt;
}

std::string closest_match(std::string_view word, std::span<const char* const> candidates) {
    if (word.size() > 64) return {};
    // Short words tolerate fewer edits, or "no" would suggest everything.
    const std::size_t limit = word.size() <= 3 ? 1 : (word.size() <= 8 ? 2 : 3);
    std::string best;
    std::size_t best_distance = limit + 1;
    for (const char* candidate : candidates) {
        const std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

std::string suggest_directive(std::string_view name) {
    std::array<const char*, directive_count> names{};
    std::transform(table.begin(), table.end(), names.begin(), [](const auto& e) { return e.name; });
    return closest_match(name, names);
}

bool looks_like_tls_directive(std::string_view name) {
    const std::string lower = lowercase(name);
    for (std::string_view prefix : {"tls", "ssl", "starttls"})
        if (lower.starts_with(prefix)) return true;
    return !suggest_directive(name).empty();
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = lower_ascii(c);
    return out;
}

} // namespace mtatls::config
