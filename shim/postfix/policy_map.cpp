// policy_map.cpp - effective mtatls policy to Postfix policy (see header
// and docs/postfix.md for the reasons behind each row).
#include "policy_map.h"

#include "postfix_ciphers.h"
#include "postfix_protocols.h"

#include "ascii_case.h"
#include "text/log_safe.h"

#include <algorithm>
#include <array>

namespace mtatls::postfix {
namespace {

constexpr std::string_view default_tls13_suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

struct Default {
    std::string_view name, value;
};
constexpr std::array<Default, 10> defaults = {{
    {"tls", "no"},
    {"tls_verify", "no"},
    {"tls_ca", ""},
    {"tls_certificate", "none"},
    {"tls_key", "none"},
    {"tls_ciphers", "DEFAULT"},
    {"tlsv13_ciphersuites", default_tls13_suites},
    {"tls_protocols", "+ALL"},
    {"tls_ifavailable_fallback", "true"},
    {"tls_enable_dhe_ciphers", "true"},
}};

// Directives the mapping reads, and those that have no outbound effect a
// Postfix policy could carry or lose: the engine (Postfix has its own
// OpenSSL), inbound-only settings (the module already warns that they do
// nothing outbound) and the obsolete locking options.
constexpr std::array<std::string_view, 18> known = {
    "tls",
    "tls_verify",
    "tls_ca",
    "tls_certificate",
    "tls_key",
    "tls_ciphers",
    "tlsv13_ciphersuites",
    "tls_protocols",
    "tls_ifavailable_fallback",
    "tls_enable_dhe_ciphers",
    "tls_engine",
    "tls_dhparams_file",
    "tls_allow_renegotiation",
    "starttls_injection_policy",
    "tls_verified_peer_is_authorized",
    "crypto_lock_method",
    "ssl_lock_method",
    "tls_log_format",
};

bool is_known(std::string_view name) {
    return std::find(known.begin(), known.end(), name) != known.end() ||
           name.starts_with("tls_log_");
}

bool truthy(std::string_view value) {
    const std::string word = host::ascii_lower(value);
    return word == "true" || word == "yes" || word == "on" || word == "1";
}

// A path Postfix can carry as an attribute value: the policy table splits
// at blanks and commas; and the reply must reach Postfix byte for byte,
// which the log-safe rule of replies guarantees only for safe text (the
// module accepts printable UTF-8 only, so this is a second line).
bool carriable_path(std::string_view path) {
    return !path.empty() && text::is_log_safe(path) &&
           std::none_of(path.begin(), path.end(), [](char c) { return c == ' ' || c == ','; });
}

class Mapper {
  public:
    explicit Mapper(const EffectivePolicy& policy) : policy_(policy) {}

    PostfixPolicy run();

  private:
    // The reported setting, or a synthetic default one.
    Setting setting(std::string_view name) const {
        if (const Setting* found = policy_.find(name)) return *found;
        Setting synthetic;
        synthetic.name = std::string(name);
        synthetic.value = std::string(mtatls_default(name));
        synthetic.scope = "default";
        return synthetic;
    }
    std::string value(std::string_view name) const {
        return std::string(policy_.value(name, mtatls_default(name)));
    }

    void warn(std::string id, std::string_view directive, std::string message) {
        add(std::move(id), Severity::warning, directive, std::move(message));
    }
    void note(std::string id, std::string_view directive, std::string message) {
        add(std::move(id), Severity::note, directive, std::move(message));
    }
    void add(std::string id, Severity severity, std::string_view directive, std::string message) {
        out_.findings.push_back({std::move(id), severity, setting(directive), std::move(message)});
    }
    void defer(std::string reason) {
        if (!out_.defer) {
            out_.defer = true;
            out_.defer_reason = std::move(reason);
        }
    }
    void attribute(std::string name, std::string value) {
        out_.attributes.emplace_back(std::move(name), std::move(value));
    }

    void map_level(const std::string& tls, const std::string& verify);
    void map_trust();
    void map_protocols_and_ciphers();
    void check_client_certificate();
    void check_other_directives();

    const EffectivePolicy& policy_;
    PostfixPolicy out_;
};

void Mapper::map_level(const std::string& tls, const std::string& verify) {
    if (tls == "ifavailable") {
        out_.level = "may";
        if (verify == "ca" || verify == "host")
            warn("ifavailable-verify", "tls_verify",
                 "tls_verify = " + verify +
                     " with tls = ifavailable: Postfix has no level that sends in plaintext "
                     "where STARTTLS is missing yet refuses a bad certificate where it is "
                     "offered; answered may, which accepts any certificate (mtatls would "
                     "defer). Whoever can present a false certificate can also strip "
                     "STARTTLS, so may loses no protection ifavailable gave; set tls = "
                     "required where the certificate must be checked");
        if (!truthy(value("tls_ifavailable_fallback")))
            warn("no-fallback", "tls_ifavailable_fallback",
                 "tls_ifavailable_fallback = false: after a failed TLS handshake Postfix's "
                 "may level retries in plaintext (for a message deferred once before, see "
                 "minimal_backoff_time); mtatls would defer and retry with TLS. Set tls = "
                 "required to rule out plaintext after a failed handshake");
    } else {
        out_.level = verify == "ca" || verify == "host" ? "verify" : "encrypt";
        if (verify == "ca")
            warn("ca-needs-name", "tls_verify",
                 "tls_verify = ca: Postfix cannot check a certificate chain without also "
                 "checking a name; answered verify match=hostname:nexthop, the closest "
                 "stricter form: a server whose certificate is trusted but names neither the "
                 "MX host nor the next-hop domain is deferred (mtatls would deliver)");
    }
    if (verify == "optional")
        warn("optional", "tls_verify",
             "tls_verify = optional: Postfix delivers whatever the certificate, as mtatls "
             "does, but at level " +
                 out_.level +
                 " it checks no name: its log says Trusted or Untrusted, never Verified, and "
                 "the result mtatls would record is not logged");
}

void Mapper::map_trust() {
    attribute("match", "hostname:nexthop");
    const Setting ca = setting("tls_ca");
    if (ca.is_default() || ca.value.empty()) {
        note("system-trust", "tls_ca",
             "tls_ca is not set: mtatls trusts the system trust store, Postfix the CAs of "
             "smtp_tls_CAfile/smtp_tls_CApath in main.cf, which are empty by default (trust "
             "nothing); set smtp_tls_CApath = /etc/ssl/certs");
        return;
    }
    if (!carriable_path(ca.value)) {
        warn("tafile-path", "tls_ca",
             "tls_ca \"" + ca.value +
                 "\": a Postfix policy cannot carry a file name with blanks, commas or "
                 "control characters; lookups answer TEMP, so Postfix defers this mail: move "
                 "the file");
        defer("tls_ca path cannot be passed to Postfix (blank or comma in \"" + ca.value + "\")");
        return;
    }
    attribute("tafile", ca.value);
}

void Mapper::map_protocols_and_ciphers() {
    const std::string suites = value("tlsv13_ciphersuites");
    const ProtocolMapping protocols = map_protocols(value("tls_protocols"), suites.empty());
    if (!protocols.ok) {
        warn("protocols", "tls_protocols",
             protocols.error + "; lookups answer TEMP, so Postfix defers this mail");
        defer(protocols.error);
    } else {
        attribute("protocols", protocols.attribute);
        const uint8_t usable =
            suites.empty() ? static_cast<uint8_t>(protocols.enabled & ~tls1_3) : protocols.enabled;
        if (protocols.effective != usable)
            warn("protocol-hole", "tls_protocols",
                 "tls_protocols = " + value("tls_protocols") +
                     " leaves a gap between the versions it enables; OpenSSL, in mtatls as in "
                     "Postfix, then offers only the lowest contiguous run: protocols=" +
                     protocols.attribute +
                     ". Enable the versions in between, or drop the "
                     "lower ones");
        if (protocols.legacy)
            warn("legacy-protocols", "tls_protocols",
                 "tls_protocols enables TLS 1.0/1.1: answered protocols=" + protocols.attribute +
                     ", but OpenSSL 3 refuses these versions at its default security level; "
                     "mtatls lowers the level for this destination alone, Postfix only for "
                     "every connection of a cipher grade (\":@SECLEVEL=0\" in "
                     "tls_medium_cipherlist)");
        if (!suites.empty() && suites != default_tls13_suites &&
            (protocols.effective & tls1_3) != 0)
            warn("tls13-suites", "tlsv13_ciphersuites",
                 "tlsv13_ciphersuites = " + suites +
                     ": Postfix cannot choose TLS 1.3 suites per destination (only for every "
                     "connection, in OpenSSL's configuration: tls_config_file); it offers "
                     "OpenSSL's default suites");
    }

    const Setting dhe = setting("tls_enable_dhe_ciphers");
    const bool dhe_enabled = truthy(dhe.value);
    const CipherMapping ciphers = map_ciphers(value("tls_ciphers"), dhe_enabled);
    attribute("ciphers", ciphers.grade);
    if (!ciphers.exclude.empty()) {
        std::string list;
        for (const std::string& item : ciphers.exclude) {
            if (!list.empty()) list += ':';
            list += item;
        }
        attribute("exclude", list);
    }
    if (!ciphers.exact)
        warn("ciphers", "tls_ciphers",
             "tls_ciphers = " + value("tls_ciphers") +
                 " cannot be written as a Postfix cipher "
                 "grade and exclusions (" +
                 ciphers.why + "); answered ciphers=" + ciphers.grade +
                 ", Postfix's default grade");
    if (!dhe_enabled)
        note("dhe-groups", "tls_enable_dhe_ciphers",
             "tls_enable_dhe_ciphers = false: answered exclude=kDHE (TLS 1.2 and below); "
             "Postfix 3.7 offers no finite-field groups in TLS 1.3, from 3.8 on also set "
             "tls_ffdhe_auto_groups to empty in main.cf");
}

void Mapper::check_client_certificate() {
    const Setting certificate = setting("tls_certificate");
    if (certificate.is_default() || host::ascii_lower(certificate.value) == "none") return;
    const Setting key = setting("tls_key");
    const std::string key_file =
        key.is_default() || key.value.starts_with("none") ? certificate.value : key.value;
    // smtp_tls_chain_files takes the key first, then its certificate chain;
    // a file holding both is named once.
    const std::string files =
        key_file == certificate.value ? key_file : key_file + ", " + certificate.value;
    if (certificate.scope == "global")
        warn("client-certificate", "tls_certificate",
             "tls_certificate: a Postfix policy cannot choose a client certificate; Postfix "
             "presents the one from main.cf to every server that asks: set "
             "smtp_tls_chain_files = " +
                 files + " there");
    else
        warn("client-certificate", "tls_certificate",
             "tls_certificate: a Postfix policy cannot choose a client certificate per "
             "binding or domain; Postfix presents the one from main.cf (smtp_tls_chain_files) "
             "whatever the policy. Deliver these messages through a separate smtp service in "
             "master.cf with -o smtp_tls_chain_files=" +
                 (key_file == certificate.value ? key_file : key_file + "," + certificate.value) +
                 ", chosen with transport_maps or sender_dependent_default_transport_maps");
}

void Mapper::check_other_directives() {
    bool log_noted = false;
    for (const Setting& s : policy_.settings()) {
        if (s.is_default()) continue;
        if (s.name.starts_with("tls_log_")) {
            if (!log_noted)
                note("log-format", s.name,
                     s.name + ": the tls_log_* directives shape mtatls-send's log lines; "
                              "Postfix writes its own (smtp_tls_loglevel = 1 for the TLS "
                              "summary line)");
            log_noted = true;
            continue;
        }
        if (s.name == "resolver") {
            // Host-side DNS, global only: nothing a TLS policy carries or loses.
            note("resolver", s.name,
                 s.name + " = " + s.value +
                     ": the DNS servers of mtatls-send's own MX lookups; Postfix resolves "
                     "next-hops through the system resolver (/etc/resolv.conf), which this "
                     "directive does not change");
            continue;
        }
        if (!is_known(s.name))
            warn("not-carried", s.name,
                 s.name + " = " + s.value +
                     ": mtatls-policyd knows no Postfix equivalent; it has no effect on "
                     "Postfix's deliveries");
    }
}

PostfixPolicy Mapper::run() {
    const Setting tls_setting = setting("tls");
    const std::string tls = host::ascii_lower(tls_setting.value);
    const std::string verify = host::ascii_lower(value("tls_verify"));
    if (tls_setting.is_default())
        warn("tls-default", "tls",
             "tls is not set for this destination: mtatls's default is no, so Postfix gets "
             "level none and sends without TLS, whatever smtp_tls_security_level says; set "
             "tls (for example tls = ifavailable globally)");
    if (tls != "no" && tls != "ifavailable" && tls != "required") {
        warn("unknown-value", "tls", "tls = " + tls + ": a value this mapping does not know");
        defer("tls = " + tls + " has no Postfix mapping");
        return std::move(out_);
    }
    if (verify != "no" && verify != "ca" && verify != "host" && verify != "optional") {
        warn("unknown-value", "tls_verify",
             "tls_verify = " + verify + ": a value this mapping does not know");
        defer("tls_verify = " + verify + " has no Postfix mapping");
        return std::move(out_);
    }
    if (tls == "no") {
        out_.level = "none";
        check_other_directives();
        return std::move(out_);
    }
    map_level(tls, verify);
    if (out_.level == "verify") map_trust();
    map_protocols_and_ciphers();
    // mtatls always sends the MX host name as SNI; Postfix only when told.
    attribute("servername", "hostname");
    check_client_certificate();
    check_other_directives();
    return std::move(out_);
}

} // namespace

std::string_view mtatls_default(std::string_view directive) {
    for (const Default& d : defaults)
        if (d.name == directive) return d.value;
    return {};
}

std::string PostfixPolicy::text() const {
    std::string out = level;
    for (const auto& [name, value] : attributes)
        out += ' ' + name + '=' + value;
    return out;
}

bool PostfixPolicy::has_finding(std::string_view id) const {
    return std::any_of(findings.begin(), findings.end(),
                       [id](const Finding& f) { return f.id == id; });
}

PostfixPolicy map_policy(const EffectivePolicy& policy) { return Mapper(policy).run(); }

} // namespace mtatls::postfix
