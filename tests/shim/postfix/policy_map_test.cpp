// policy_map_test.cpp - the mapping table of docs/postfix.md, row by row:
// effective mtatls settings -> Postfix policy text and findings.
#include "finding_text.h"
#include "policy_map.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace mtatls::postfix;

namespace {

const std::string ca = "/etc/mtatls/ca.pem";
const std::string default_suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

// What CONFIG_EXPLAIN reports when nothing is set (the module's order).
std::vector<std::pair<std::string, std::string>> module_defaults() {
    return {{"tls", "no"},
            {"tls_verify", "no"},
            {"tls_ca", "(system trust store)"},
            {"tls_certificate", "none"},
            {"tls_key", "none (key from the certificate file)"},
            {"tls_ciphers", "DEFAULT"},
            {"tlsv13_ciphersuites", default_suites},
            {"tls_protocols", "+ALL"},
            {"tls_ifavailable_fallback", "true"},
            {"tls_engine", "openssl"},
            {"tls_enable_dhe_ciphers", "true"},
            {"tls_dhparams_file", "(built-in parameters)"},
            {"tls_allow_renegotiation", "true"},
            {"starttls_injection_policy", "reject"},
            {"tls_verified_peer_is_authorized", "false"},
            {"crypto_lock_method", "EC_SSL_DEFAULTLOCK"},
            {"ssl_lock_method", "mutex"},
            {"tls_log_format", "keyvalue"},
            {"tls_log_postfix_summary", "true"}};
}

// The defaults, then `set` as if written in a domain stanza of
// /etc/mtatls/t.yaml, one directive per line.
EffectivePolicy policy(const std::vector<std::pair<std::string, std::string>>& set,
                       const std::string& scope = "domain \"d.example\"") {
    EffectivePolicy effective;
    for (const auto& [name, value] : module_defaults())
        effective.set({name, value, "default", "", 0, 0});
    uint32_t line = 1;
    for (const auto& [name, value] : set)
        effective.set({name, value, scope, "/etc/mtatls/t.yaml", line++, 3});
    return effective;
}

std::set<std::string> ids(const PostfixPolicy& mapped) {
    std::set<std::string> out;
    for (const Finding& f : mapped.findings)
        out.insert(f.id);
    return out;
}

const std::string common =
    "protocols=>=TLSv1.2 ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS "
    "servername=hostname";

} // namespace

TEST_CASE("the mapping table") {
    struct Row {
        const char* name;
        std::vector<std::pair<std::string, std::string>> set;
        std::string want; // policy text, or "TEMP"
        std::set<std::string> findings;
    };
    const std::vector<Row> rows = {
        // --- levels ---------------------------------------------------------
        {"nothing set", {}, "none", {"tls-default"}},
        {"tls = no", {{"tls", "no"}}, "none", {}},
        {"tls = no ignores everything else",
         {{"tls", "no"}, {"tls_verify", "host"}, {"tls_certificate", "/c.pem"}},
         "none",
         {}},
        {"ifavailable", {{"tls", "ifavailable"}}, "may " + common, {}},
        {"ifavailable + optional",
         {{"tls", "ifavailable"}, {"tls_verify", "optional"}},
         "may " + common,
         {"optional"}},
        {"ifavailable + host: may, the check is lost",
         {{"tls", "ifavailable"}, {"tls_verify", "host"}, {"tls_ca", ca}},
         "may " + common,
         {"ifavailable-verify"}},
        {"ifavailable + ca",
         {{"tls", "ifavailable"}, {"tls_verify", "ca"}},
         "may " + common,
         {"ifavailable-verify"}},
        {"ifavailable, no fallback",
         {{"tls", "ifavailable"}, {"tls_ifavailable_fallback", "false"}},
         "may " + common,
         {"no-fallback"}},
        {"required", {{"tls", "required"}}, "encrypt " + common, {}},
        {"required, fallback irrelevant",
         {{"tls", "required"}, {"tls_ifavailable_fallback", "false"}},
         "encrypt " + common,
         {}},
        {"required + optional",
         {{"tls", "required"}, {"tls_verify", "optional"}},
         "encrypt " + common,
         {"optional"}},
        {"required + host + tls_ca",
         {{"tls", "required"}, {"tls_verify", "host"}, {"tls_ca", ca}},
         "verify match=hostname:nexthop tafile=" + ca + " " + common,
         {}},
        {"required + host, system trust store",
         {{"tls", "required"}, {"tls_verify", "host"}},
         "verify match=hostname:nexthop " + common,
         {"system-trust"}},
        {"required + ca: the closest stricter form",
         {{"tls", "required"}, {"tls_verify", "ca"}, {"tls_ca", ca}},
         "verify match=hostname:nexthop tafile=" + ca + " " + common,
         {"ca-needs-name"}},
        {"tls_ca with no verification has no Postfix attribute",
         {{"tls", "required"}, {"tls_ca", ca}},
         "encrypt " + common,
         {}},
        {"tls_ca path Postfix cannot carry",
         {{"tls", "required"}, {"tls_verify", "host"}, {"tls_ca", "/etc/my certs/ca.pem"}},
         "TEMP",
         {"tafile-path"}},
        {"tls_ca path with a comma",
         {{"tls", "required"}, {"tls_verify", "host"}, {"tls_ca", "/etc/a,b.pem"}},
         "TEMP",
         {"tafile-path"}},
        // --- protocols ------------------------------------------------------
        {"TLS 1.3 only",
         {{"tls", "required"}, {"tls_protocols", "+ALL:-TLSv1.2"}},
         "encrypt protocols=>=TLSv1.3 ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS "
         "servername=hostname",
         {}},
        {"TLS 1.2 only",
         {{"tls", "ifavailable"}, {"tls_protocols", "-ALL:+TLSv1.2"}},
         "may protocols=>=TLSv1.2:<=TLSv1.2 ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS "
         "servername=hostname",
         {}},
        {"legacy versions",
         {{"tls", "ifavailable"}, {"tls_protocols", "+ALL:+TLSv1.1"}},
         "may protocols=>=TLSv1.1 ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS "
         "servername=hostname",
         {"legacy-protocols"}},
        {"a hole in the versions",
         {{"tls", "ifavailable"}, {"tls_protocols", "+ALL:+TLSv1.0"}},
         "may protocols=>=TLSv1:<=TLSv1 ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS "
         "servername=hostname",
         {"legacy-protocols", "protocol-hole"}},
        {"no TLS 1.3 suites: TLS 1.3 is off",
         {{"tls", "required"}, {"tlsv13_ciphersuites", ""}},
         "encrypt protocols=>=TLSv1.2:<=TLSv1.2 ciphers=medium "
         "exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS servername=hostname",
         {}},
        {"no TLS 1.3 suites and TLS 1.3 only: nothing left",
         {{"tls", "required"}, {"tlsv13_ciphersuites", ""}, {"tls_protocols", "-ALL:+TLSv1.3"}},
         "TEMP",
         {"protocols"}},
        {"other TLS 1.3 suites",
         {{"tls", "required"}, {"tlsv13_ciphersuites", "TLS_AES_128_GCM_SHA256"}},
         "encrypt " + common,
         {"tls13-suites"}},
        {"other TLS 1.3 suites, TLS 1.3 off anyway",
         {{"tls", "required"},
          {"tlsv13_ciphersuites", "TLS_AES_128_GCM_SHA256"},
          {"tls_protocols", "+ALL:-TLSv1.3"}},
         "encrypt protocols=>=TLSv1.2:<=TLSv1.2 ciphers=medium "
         "exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS servername=hostname",
         {}},
        {"the default suites written out",
         {{"tls", "required"}, {"tlsv13_ciphersuites", default_suites}},
         "encrypt " + common,
         {}},
        // --- ciphers --------------------------------------------------------
        {"HIGH with exclusions",
         {{"tls", "required"}, {"tls_ciphers", "HIGH:!aNULL:!MD5"}},
         "encrypt protocols=>=TLSv1.2 ciphers=high exclude=aNULL:MD5 servername=hostname",
         {}},
        {"inexpressible cipher list",
         {{"tls", "required"}, {"tls_ciphers", "ECDHE+AESGCM"}},
         "encrypt protocols=>=TLSv1.2 ciphers=medium servername=hostname",
         {"ciphers"}},
        {"no DHE",
         {{"tls", "required"}, {"tls_enable_dhe_ciphers", "false"}},
         "encrypt protocols=>=TLSv1.2 ciphers=medium "
         "exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS:kDHE servername=hostname",
         {"dhe-groups"}},
        // --- client certificates and the rest ---------------------------------
        {"client certificate",
         {{"tls", "required"}, {"tls_certificate", "/etc/mtatls/c.pem"}},
         "encrypt " + common,
         {"client-certificate"}},
        {"tls_certificate = none",
         {{"tls", "required"}, {"tls_certificate", "none"}},
         "encrypt " + common,
         {}},
        {"log settings",
         {{"tls", "required"}, {"tls_log_format", "json"}},
         "encrypt " + common,
         {"log-format"}},
        {"inbound-only and obsolete directives",
         {{"tls", "required"},
          {"tls_allow_renegotiation", "false"},
          {"crypto_lock_method", "EC_SSL_MUTEX"}},
         "encrypt " + common,
         {}},
        {"the host's DNS servers: a note, nothing Postfix's policy carries",
         {{"tls", "required"}, {"resolver", "127.0.0.1@53"}},
         "encrypt " + common,
         {"resolver"}},
        {"the host's DNS servers at level none",
         {{"tls", "no"}, {"resolver", "::1"}},
         "none",
         {"resolver"}},
        {"a directive the mapping does not know (a later module's)",
         {{"tls", "required"}, {"tls_dane", "on"}},
         "encrypt " + common,
         {"not-carried"}},
        {"an unknown tls value", {{"tls", "dane"}}, "TEMP", {"unknown-value"}},
        {"an unknown tls_verify value",
         {{"tls", "required"}, {"tls_verify", "dane"}},
         "TEMP",
         {"unknown-value"}},
    };
    for (const Row& row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        const PostfixPolicy mapped = map_policy(policy(row.set));
        if (row.want == "TEMP") {
            CHECK(mapped.defer);
            CHECK_FALSE(mapped.defer_reason.empty());
        } else {
            CHECK_FALSE(mapped.defer);
            CHECK(mapped.text() == row.want);
        }
        CHECK(ids(mapped) == row.findings);
    }
}

TEST_CASE("findings name the directive and where it was set") {
    const PostfixPolicy mapped =
        map_policy(policy({{"tls", "required"}, {"tls_verify", "ca"}}, "binding \"b\""));
    REQUIRE(mapped.findings.size() == 2);
    const Finding& ca_finding =
        *std::find_if(mapped.findings.begin(), mapped.findings.end(),
                      [](const Finding& f) { return f.id == "ca-needs-name"; });
    CHECK(ca_finding.severity == Severity::warning);
    CHECK(ca_finding.setting.name == "tls_verify");
    CHECK(finding_text(ca_finding)
              .starts_with(
                  "/etc/mtatls/t.yaml:2:3: warning: [binding \"b\"] postfix: tls_verify = ca: "));
    const Finding& trust = *std::find_if(mapped.findings.begin(), mapped.findings.end(),
                                         [](const Finding& f) { return f.id == "system-trust"; });
    CHECK(trust.severity == Severity::note);
    CHECK(finding_text(trust, "/etc/mtatls/t.yaml")
              .starts_with("/etc/mtatls/t.yaml: note: [default] postfix: tls_ca is not set"));
    CHECK(finding_text(trust).starts_with("note: [default] postfix: "));
    // Identity: the same directive in the same stanza is one problem.
    const PostfixPolicy again =
        map_policy(policy({{"tls", "required"}, {"tls_verify", "ca"}}, "binding \"b\""));
    CHECK(finding_identity(again.findings[0]) == finding_identity(mapped.findings[0]));
}

TEST_CASE("host-side directives are notes: they change nothing Postfix does") {
    struct Row {
        const char* name;
        const char* value;
        const char* text; // how check --postfix prints the finding
    };
    const Row rows[] = {
        {"resolver", "127.0.0.1@53",
         "/etc/mtatls/t.yaml:2:3: note: [global] postfix: resolver = 127.0.0.1@53: the DNS "
         "servers of mtatls-send's own MX lookups; "},
        {"tls_log_format", "json",
         "/etc/mtatls/t.yaml:2:3: note: [global] postfix: tls_log_format: the tls_log_* "
         "directives shape mtatls-send's log lines; "},
    };
    for (const Row& row : rows) {
        CAPTURE(row.name);
        const PostfixPolicy mapped =
            map_policy(policy({{"tls", "required"}, {row.name, row.value}}, "global"));
        REQUIRE(mapped.findings.size() == 1);
        CHECK(mapped.findings[0].severity == Severity::note);
        CHECK_MESSAGE(finding_text(mapped.findings[0]).starts_with(row.text),
                      finding_text(mapped.findings[0]));
    }
}

TEST_CASE("client certificate advice names the files") {
    auto text = [](const std::vector<std::pair<std::string, std::string>>& set,
                   const std::string& scope) {
        const PostfixPolicy mapped = map_policy(policy(set, scope));
        for (const Finding& f : mapped.findings)
            if (f.id == "client-certificate") return f.message;
        return std::string();
    };
    CHECK(text({{"tls", "required"}, {"tls_certificate", "/c.pem"}}, "global")
              .find("smtp_tls_chain_files = /c.pem there") != std::string::npos);
    CHECK(
        text({{"tls", "required"}, {"tls_certificate", "/c.pem"}, {"tls_key", "/c.key"}}, "global")
            .find("smtp_tls_chain_files = /c.key, /c.pem there") != std::string::npos);
    CHECK(text({{"tls", "required"}, {"tls_certificate", "/c.pem"}, {"tls_key", "/c.key"}},
               "binding \"b\"")
              .find("-o smtp_tls_chain_files=/c.key,/c.pem") != std::string::npos);
}

TEST_CASE("an older module that reports fewer directives gets the mtatls defaults") {
    EffectivePolicy sparse;
    sparse.set({"tls", "required", "global", "/etc/mtatls/t.yaml", 1, 1});
    sparse.set({"tls_verify", "host", "global", "/etc/mtatls/t.yaml", 2, 1});
    const PostfixPolicy mapped = map_policy(sparse);
    CHECK(mapped.text() == "verify match=hostname:nexthop " + common);
    CHECK(mtatls_default("tls_protocols") == "+ALL");
    CHECK(mtatls_default("nonsense").empty());
}
