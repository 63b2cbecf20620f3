// macros.cpp - the macro table (see macros.h and docs/logging.md).
#include "attempt/macros.h"

#include "config/directive.h"

#include <algorithm>
#include <array>

namespace mtatls::attempt {
namespace {

using config::Directive;
using Getter = std::string (*)(const AttemptFacts&);

const config::Effective& policy(const AttemptFacts& f) { return f.connection->policy; }
bool have_handshake(const AttemptFacts& f) { return f.verdict.has_value(); }
std::string number(const AttemptFacts& f, int value) {
    return have_handshake(f) ? std::to_string(value) : std::string();
}

// sendmail's xtextify(): bytes outside '!'..'~', '+', and the characters
// it treats as taboo for these macros (< > " ( ) \) as +XX; '=' stays, so
// a name reads "/O=mtatls+20test/CN=mx.example.test" as in sendmail.
std::string xtext(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < '!' || byte > '~' || c == '+' || c == '<' || c == '>' || c == '"' || c == '(' ||
            c == ')' || c == '\\') {
            out += '+';
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

std::string outbound_tls(const AttemptFacts& f) {
    switch (f.progress) {
    case Progress::tls: return "TLS";
    case Progress::plaintext: return "SMTP";
    default: return "unknown";
    }
}

std::string achieved(const AttemptFacts& f) {
    if (f.verdict) {
        if (!f.session.peer_certificate) return "anonymous";
        if (!f.verdict->chain_trusted) return "untrusted";
        return f.verdict->name_matched ? "verified" : "trusted";
    }
    if (f.progress == Progress::plaintext || f.failure) return "none";
    return "";
}

std::string requested(const AttemptFacts& f) {
    const config::Effective& p = policy(f);
    std::string text = p[Directive::tls].value;
    if (p.tls() != config::TlsMode::no && p.verify() != config::VerifyMode::no)
        text += "+" + p[Directive::tls_verify].value;
    return text;
}

// sendmail's {verify} words.
std::string sendmail_verify(const AttemptFacts& f) {
    if (f.verdict) {
        if (!f.session.peer_certificate) return "NO";
        return f.verdict->chain_trusted ? "OK" : "FAIL";
    }
    if (f.failure) {
        switch (*f.failure) {
        case Event::starttls_not_advertised: return "NONE";
        case Event::go_ahead_refused: return f.starttls_reply_code / 100 == 4 ? "TEMP" : "PROTOCOL";
        case Event::bytes_after_reply:
        case Event::malformed_reply: return "PROTOCOL";
        case Event::handshake_failed: return "SOFTWARE";
        default: return "FAIL";
        }
    }
    if (f.progress == Progress::plaintext)
        return policy(f).tls() == config::TlsMode::no || f.plaintext_retry ? "CLEAR" : "NONE";
    return "";
}

// Exim writes the protocol without the "v": TLS1.3.
std::string exim_version(const AttemptFacts& f) {
    std::string version = f.session.protocol;
    if (version.starts_with("TLSv")) version.erase(3, 1);
    return version;
}

const char* progress_name(Progress progress) {
    switch (progress) {
    case Progress::connected: return "connected";
    case Progress::ehlo: return "ehlo";
    case Progress::starttls: return "starttls";
    case Progress::handshake: return "handshake";
    case Progress::tls: return "tls";
    case Progress::plaintext: return "plaintext";
    }
    return "connected";
}

struct Macro {
    const char* name;
    MacroStage stage;
    Getter get;
};

using enum MacroStage;

// clang-format off
const std::array macros{
    // Momentum tls_macros, exactly as the vendor names them.
    Macro{"outbound_tls:outbound_tls", ehlo, outbound_tls},
    Macro{"outbound_tls:outbound_tls_type", conn_setup, [](const AttemptFacts& f) { return policy(f)[Directive::tls].value; }},
    Macro{"outbound_tls:local_ip", conn_setup, [](const AttemptFacts& f) { return f.connection->peer_address; }},
    Macro{"outbound_tls:outbound_tls_cipher", starttls_finish, [](const AttemptFacts& f) { return f.session.cipher; }},
    Macro{"outbound_tls:outbound_tls_cipher_algbits", starttls_finish, [](const AttemptFacts& f) { return number(f, f.session.cipher_alg_bits); }},
    Macro{"outbound_tls:outbound_tls_cipher_usebits", starttls_finish, [](const AttemptFacts& f) { return number(f, f.session.cipher_use_bits); }},
    Macro{"outbound_tls:outbound_tls_protocol", starttls_finish, [](const AttemptFacts& f) { return f.session.protocol; }},
    Macro{"outbound_tls:outbound_tls_verified", starttls_finish, [](const AttemptFacts& f) {
        if (!f.verdict) return std::string();
        return std::string(f.verdict->chain_trusted && f.verdict->name_matched ? "verified" : "unverified"); }},
    Macro{"outbound_tls:outbound_tls_issuer", starttls_finish, [](const AttemptFacts& f) { return f.session.peer_issuer; }},
    Macro{"outbound_tls:outbound_tls_subject", starttls_finish, [](const AttemptFacts& f) { return f.session.peer_subject; }},
    // sendmail / milter.
    Macro{"{tls_version}", starttls_finish, [](const AttemptFacts& f) { return f.session.protocol; }},
    Macro{"{cipher}", starttls_finish, [](const AttemptFacts& f) { return f.session.cipher; }},
    Macro{"{cipher_bits}", starttls_finish, [](const AttemptFacts& f) { return number(f, f.session.cipher_use_bits); }},
    Macro{"{alg_bits}", starttls_finish, [](const AttemptFacts& f) { return number(f, f.session.cipher_alg_bits); }},
    Macro{"{cert_subject}", starttls_finish, [](const AttemptFacts& f) { return xtext(f.session.subject_oneline); }},
    Macro{"{cert_issuer}", starttls_finish, [](const AttemptFacts& f) { return xtext(f.session.issuer_oneline); }},
    Macro{"{cn_subject}", starttls_finish, [](const AttemptFacts& f) { return xtext(f.session.subject_cn); }},
    Macro{"{cn_issuer}", starttls_finish, [](const AttemptFacts& f) { return xtext(f.session.issuer_cn); }},
    Macro{"{cert_fp}", starttls_finish, [](const AttemptFacts& f) { return f.session.sha256_fingerprint; }},
    Macro{"{verify}", ehlo, sendmail_verify},
    Macro{"{server_name}", conn_setup, [](const AttemptFacts& f) { return f.connection->mx_host; }},
    Macro{"{server_addr}", conn_setup, [](const AttemptFacts& f) { return f.connection->peer_address; }},
    // Exim.
    Macro{"tls_out_ver", starttls_finish, [](const AttemptFacts& f) { return exim_version(f); }},
    Macro{"tls_out_cipher", starttls_finish, [](const AttemptFacts& f) {
        // Exim's X= form: TLS1.3:TLS_AES_256_GCM_SHA384:256
        if (!have_handshake(f)) return std::string();
        return exim_version(f) + ":" + f.session.cipher + ":" + std::to_string(f.session.cipher_use_bits); }},
    Macro{"tls_out_bits", starttls_finish, [](const AttemptFacts& f) { return number(f, f.session.cipher_use_bits); }},
    Macro{"tls_out_certificate_verified", starttls_finish, [](const AttemptFacts& f) {
        if (!f.verdict) return std::string();
        return std::string(f.verdict->chain_trusted ? "1" : "0"); }},
    Macro{"tls_out_peerdn", starttls_finish, [](const AttemptFacts& f) { return f.session.subject_oneline; }},
    Macro{"tls_out_sni", starttls_finish, [](const AttemptFacts& f) { return f.sni; }},
    // mtatls: requested vs achieved, progress, failure, session details.
    Macro{"mtatls:tls_requested", conn_setup, requested},
    Macro{"mtatls:tls_achieved", starttls_finish, achieved},
    Macro{"mtatls:tls", starttls_finish, [](const AttemptFacts& f) {
        const std::string got = achieved(f);
        return got.empty() ? std::string() : requested(f) + ":" + got; }},
    Macro{"mtatls:stage", conn_setup, [](const AttemptFacts& f) { return std::string(progress_name(f.progress)); }},
    Macro{"mtatls:failure", ehlo, [](const AttemptFacts& f) {
        return f.failure ? std::string(event_name(*f.failure)) : std::string(); }},
    Macro{"mtatls:tls_failure", ehlo, [](const AttemptFacts& f) { return f.failure_text; }},
    Macro{"mtatls:verify_error", starttls_finish, [](const AttemptFacts& f) {
        if (!f.verdict) return std::string();
        return !f.verdict->chain_trusted ? f.verdict->chain_error
               : !f.verdict->name_matched ? f.verdict->name_error : std::string(); }},
    Macro{"mtatls:sni", starttls_finish, [](const AttemptFacts& f) { return f.sni; }},
    Macro{"mtatls:resumed", starttls_finish, [](const AttemptFacts& f) {
        return have_handshake(f) ? std::string(f.session.resumed ? "yes" : "no") : std::string(); }},
    Macro{"mtatls:kx_group", starttls_finish, [](const AttemptFacts& f) { return f.session.kx_group; }},
    Macro{"mtatls:peer_sig_alg", starttls_finish, [](const AttemptFacts& f) { return f.session.peer_sig_alg; }},
    Macro{"mtatls:cert_fp", starttls_finish, [](const AttemptFacts& f) { return f.session.sha256_fingerprint; }},
    Macro{"mtatls:cert_not_after", starttls_finish, [](const AttemptFacts& f) { return f.session.not_after; }},
    Macro{"mtatls:plaintext_retry", conn_setup, [](const AttemptFacts& f) {
        return std::string(f.plaintext_retry ? "yes" : "no"); }},
};
// clang-format on

constexpr std::string_view policy_prefix = "mtatls:policy:";
constexpr std::string_view scope_prefix = "mtatls:policy_scope:";

std::optional<Directive> directive_after(std::string_view name, std::string_view prefix) {
    if (!name.starts_with(prefix)) return std::nullopt;
    return config::find_directive(name.substr(prefix.size()));
}

} // namespace

std::optional<std::string> macro_value(const AttemptFacts& facts, std::string_view name) {
    for (const Macro& macro : macros)
        if (name == macro.name) return macro.get(facts);
    if (const auto d = directive_after(name, policy_prefix)) return policy(facts)[*d].value;
    if (const auto d = directive_after(name, scope_prefix)) {
        const config::Setting& setting = policy(facts)[*d];
        return setting.owner == nullptr ? std::string("default") : setting.owner->scope_path();
    }
    return std::nullopt;
}

std::vector<std::string> macro_names(MacroStage stage) {
    std::vector<std::string> names;
    for (const Macro& macro : macros)
        if (macro.stage == stage) names.emplace_back(macro.name);
    if (stage == MacroStage::conn_setup) {
        for (const auto& directive : config::all_directives())
            names.push_back(std::string(policy_prefix) + directive.name);
        for (const auto& directive : config::all_directives())
            names.push_back(std::string(scope_prefix) + directive.name);
    }
    return names;
}

std::vector<std::string> all_macro_names() {
    std::vector<std::string> names;
    for (MacroStage stage :
         {MacroStage::conn_setup, MacroStage::ehlo, MacroStage::starttls_finish}) {
        std::vector<std::string> more = macro_names(stage);
        names.insert(names.end(), more.begin(), more.end());
    }
    return names;
}

const std::vector<std::string>& host_field_names() {
    static const std::vector<std::string> names{
        "delivery:status", "delivery:relay",  "delivery:mx",     "delivery:address",
        "delivery:port",   "delivery:domain", "delivery:sender", "delivery:recipients",
        "delivery:code",   "delivery:dsn",    "delivery:reason", "delivery:delay",
        "delivery:time",   "delivery:program"};
    return names;
}

bool is_host_field(std::string_view name) {
    const auto& names = host_field_names();
    return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_known_macro(std::string_view name) {
    for (const Macro& macro : macros)
        if (name == macro.name) return true;
    return directive_after(name, policy_prefix) || directive_after(name, scope_prefix);
}

} // namespace mtatls::attempt
