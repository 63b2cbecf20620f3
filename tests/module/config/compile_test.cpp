// compile_test.cpp - every validation error (and warning) the compile step
// reports, with its position, in both syntaxes.
#include "config/compile.h"

#include "../../support/config_fixture.h"

#include <doctest/doctest.h>

using namespace mtatls::config;
using mtatls::test::compile_text;

namespace {

struct ErrorCase {
    const char* file; // extension selects the syntax
    const char* text;
    const char* want; // substring of one error message
    uint32_t line;    // 0: do not check
    uint32_t column;  // 0: do not check
};

const Diagnostic* find(const Diagnostics& diagnostics, Severity severity, const std::string& want) {
    for (const auto& d : diagnostics.items())
        if (d.severity == severity && format(d).find(want) != std::string::npos) return &d;
    return nullptr;
}

} // namespace

TEST_CASE("invalid configurations are refused with a precise error") {
    // Kept alive for the whole table (the cases point into them).
    const std::string deep_regex = "domain \"/" + std::string(500, '(') + "a" +
                                   std::string(500, ')') + "/\" { tls = required }\n";
    const std::string long_regex =
        "domain \"/" + std::string(2000, 'a') + "/\" { tls = required }\n";
    const ErrorCase cases[] = {
        // Names.
        {"a.yaml", "tls_verfy: host\n", "unknown key \"tls_verfy\" (did you mean \"tls_verify\"?)",
         1, 1},
        {"a.conf", "tls_verfy = host\n",
         "unknown directive \"tls_verfy\" (did you mean \"tls_verify\"?)", 1, 1},
        {"a.conf", "TLS_CIPHERZ = \"HIGH\"\n", "did you mean \"tls_ciphers\"", 1, 1},
        {"a.conf", "tls_frobnicate = yes\n", "unknown directive \"tls_frobnicate\"", 1, 1},
        {"a.yaml", "bindings:\n  b: {}\n", "unknown key \"bindings\" (did you mean \"binding\"?)",
         1, 1},
        {"a.yaml", "binding:\n  b:\n    max_connections: 3\n", "unknown key \"max_connections\"", 3,
         5},
        // Values.
        {"a.yaml", "tls: maybe\n",
         "tls: invalid value \"maybe\" (expected no, ifavailable or required)", 1, 6},
        {"a.conf", "\n  tls_verify = \"hots\"\n", "did you mean \"host\"", 2, 16},
        {"a.yaml", "tls_ifavailable_fallback: perhaps\n", "expected true or false", 1, 27},
        {"a.yaml", "tls_engine: gnutls\n", "only the openssl engine", 1, 13},
        {"a.yaml", "tls:\n", "tls: expects a single value", 1, 1},
        {"a.yaml", "tls: [a, b]\n", "tls: expects a single value", 1, 6},
        {"a.yaml", "tls_ciphers: NOPE\n", "cipher rule \"NOPE\" matches no cipher", 1, 14},
        {"a.yaml", "tls_ciphers: \"HIGH:!aNULL:FOO\"\n", "cipher rule \"FOO\"", 1, 14},
        {"a.yaml", "tls_ciphers: \"HIGH:@BOGUS\"\n", "unknown cipher list command \"@BOGUS\"", 1,
         14},
        {"a.yaml", "tlsv13_ciphersuites: TLS_AES_128_GCM_SHA256:TLS_FOO\n",
         "unknown TLS 1.3 ciphersuite \"TLS_FOO\"", 1, 22},
        {"a.yaml", "tls_protocols: \"+ALL:-TLSv9\"\n", "unknown protocol \"TLSv9\"", 1, 16},
        {"a.yaml", "tls_protocols: \"-ALL\"\n", "enables no protocol version", 1, 16},
        {"a.yaml", "tls_protocols: \"+ALL::\"\n", "empty protocol token", 1, 16},
        // Scopes.
        {"a.yaml", "binding:\n  b:\n    tls_engine: openssl\n",
         "tls_engine cannot be set in a binding stanza (allowed: global)", 3, 5},
        {"a.conf", "domain \"x\" { tls_dhparams_file = \"/x\" }\n",
         "tls_dhparams_file cannot be set in a domain stanza", 1, 14},
        {"a.conf", "binding \"a\" { binding \"b\" { } }\n",
         "a binding stanza cannot stand inside a binding stanza", 1, 15},
        {"a.conf", "domain \"a\" { domain \"b\" { } }\n",
         "a domain stanza cannot contain other stanzas", 1, 14},
        {"a.conf", "binding_group \"g\" { binding_group \"h\" { } }\n",
         "a binding_group stanza cannot stand inside", 1, 21},
        // Duplicates.
        {"a.conf", "binding \"b\" { }\nbinding_group \"g\" { binding \"b\" { } }\n",
         "binding \"b\" is already declared at", 2, 21},
        {"a.conf", "binding_group \"g\" { }\nbinding_group \"g\" { }\n",
         "binding_group \"g\" is already declared", 2, 1},
        {"a.conf", "domain \"x.example\" { }\ndomain \"X.Example.\" { }\n",
         "domain \"x.example\" is already declared in this scope", 2, 1},
        {"a.conf", "tls = no\nTLS = required\n",
         "tls is set twice in this stanza (first at line 1)", 2, 1},
        {"a.conf", "domain \"/[/\" { }\n", "invalid regular expression /[/", 1, 1},
        // Files.
        {"a.yaml", "tls_ca: @PKI@/missing.pem\n", "cannot read", 1, 9},
        {"a.yaml", "tls_ca: @PKI@/empty.pem\n", "holds no PEM certificate", 1, 9},
        {"a.yaml", "tls_ca: @PKI@/garbage.pem\n", "holds no PEM certificate", 1, 9},
        {"a.yaml", "tls_certificate: @PKI@/garbage.pem\ntls_key: @PKI@/client.key\n",
         "no PEM certificate found", 1, 18},
        {"a.yaml", "tls_certificate: @PKI@/client.pem\ntls_key: @PKI@/encrypted.key\n",
         "encrypted keys are not supported", 2, 10},
        {"a.yaml", "tls_certificate: @PKI@/client.pem\ntls_key: @PKI@/stray.key\n",
         "does not match certificate", 2, 1},
        {"a.yaml", "tls_certificate: @PKI@/client.pem\n",
         "holds no private key and no tls_key applies", 1, 1},
        {"a.yaml", "tls_dhparams_file: @PKI@/dh1024.pem\n", "too weak", 1, 20},
        // Patterns std::regex would recurse through until the stack ends.
        {"a.conf", deep_regex.c_str(), "nests groups more than 16 deep", 1, 1},
        {"a.conf", long_regex.c_str(), "is longer than 1024 characters", 1, 1},
        {"a.conf", "domain \"/x{99999999999999999999}/\" { tls = required }\n",
         "has a number longer than 9 digits", 1, 1},
        // Text that YAML (convert) could not carry faithfully, or that reads
        // differently from what it means (fuzzing findings non-utf8,
        // domain-trailing-dots).
        {"a.yaml",
         "binding:\n  \"cust\xae"
         "1\": {}\n",
         "binding name is not valid UTF-8", 2, 3},
        {"a.conf", "domain \"a\xae.example\" { tls = required }\n",
         "domain name is not valid UTF-8 or holds a control or bidi code (0xae at offset 1)", 1, 1},
        {"a.yaml", "domain:\n  \"a\\x01.example\": {}\n", "holds the control byte (0x01", 2, 3},
        {"a.conf",
         "tls_ca = \"/etc/\x99"
         "ca.pem\"\n",
         "tls_ca: the value is not valid UTF-8", 1, 10},
        {"a.yaml", "tls_ca: \"/etc/\\u202eca.pem\"\n", "or bidi code (0xe2 at offset 5)", 1, 9},
        {"a.yaml", "tls_ciphers: \"HIGH\\x7f\"\n", "control byte (0x7f at offset 4)", 1, 14},
        {"a.conf", "domain \"partner.example..\" { tls = required }\n", "empty label", 1, 1},
        {"a.conf", "domain \".partner.example\" { }\n", "empty label", 1, 1},
        {"a.yaml", "domain:\n  a..example: {}\n", "empty label", 2, 3},
        // Log forms: global scope only, templates checked name by name.
        {"a.yaml", "tls_log_format: syslog\n", "expected keyvalue, json or custom", 1, 17},
        {"a.yaml", "tls_log_delivery_format: \"%{outbound_tls:outbound_tls_cipehr}\"\n",
         "did you mean %{outbound_tls:outbound_tls_cipher}?", 1, 26},
        {"a.yaml", "tls_log_delivery_format: \"%{delivery:stauts}\"\n",
         "did you mean %{delivery:status}?", 0, 0},
        {"a.yaml", "tls_log_delivery_format: \"100% sent\"\n",
         "must start %{NAME} or be written %%", 0, 0},
        {"a.yaml", "tls_log_transientfailure_format: \"%{mtatls:tls\"\n", "unterminated %{", 0, 0},
        {"a.yaml", "tls_log_permanentfailure_format: \"a\\nb\"\n", "control byte", 0, 0},
        {"a.yaml", "tls_log_permanentfailure_format: \"%{}\"\n", "empty %{}", 0, 0},
        {"a.conf", "domain \"x\" { tls_log_format = json }\n",
         "tls_log_format cannot be set in a domain stanza", 1, 14},
        // resolver: DNS server addresses, global only.
        {"a.yaml", "resolver: dns.example\n",
         "resolver: \"dns.example\" is not ADDR or ADDR@PORT with an IPv4 or IPv6 address", 1, 11},
        {"a.conf", "resolver = \"192.0.2.53@0\"\n",
         "resolver: invalid port in \"192.0.2.53@0\" (want 1 to 65535)", 1, 12},
        {"a.yaml", "resolver: \"192.0.2.53@65536\"\n", "invalid port", 1, 11},
        {"a.yaml", "resolver: \"192.0.2.53@53x\"\n", "invalid port", 1, 11},
        {"a.yaml", "resolver: \"[::1]@53\"\n", "\"[::1]@53\" is not ADDR", 1, 11},
        {"a.yaml", "resolver: \"192.0.2.53:53\"\n", "\"192.0.2.53:53\" is not ADDR", 1, 11},
        {"a.yaml", "resolver: \"127.0.0.1, 999.1.1.1\"\n", "\"999.1.1.1\" is not ADDR", 1, 11},
        {"a.yaml", "resolver: \" , \"\n", "resolver: no DNS server given", 1, 11},
        {"a.yaml", "resolver: \"\"\n", "resolver: no DNS server given", 1, 11},
        {"a.yaml", "resolvr: 127.0.0.1\n", "unknown key \"resolvr\" (did you mean \"resolver\"?)",
         1, 1},
        {"a.conf", "domain \"x\" { resolver = \"127.0.0.1\" }\n",
         "resolver cannot be set in a domain stanza (allowed: global)", 1, 14},
        {"a.yaml", "binding:\n  b:\n    resolver: 127.0.0.1\n",
         "resolver cannot be set in a binding stanza (allowed: global)", 3, 5},
        {"a.yaml", "tls_dhparams_file: @PKI@/client.pem\n", "no PEM DH parameters", 1, 20},
        {"a.yaml", "tls_key: \"\"\n", "empty path", 1, 10},
        // Combinations only visible once scopes are resolved.
        {"a.yaml",
         "binding:\n  b:\n    tls_certificate: @PKI@/client.pem\n    domain:\n      x.example:\n   "
         "     tls_key: @PKI@/other.key\n",
         "for binding \"b\", domain \"x.example\"", 6, 9},
        {"a.yaml",
         "tls_protocols: \"+ALL:+TLSv1.0:+TLSv1.1\"\nbinding:\n  b:\n    tls_verify: host\n",
         "tls_protocols enables TLSv1.0/TLSv1.1, which is allowed only where tls_verify = no; for "
         "binding \"b\"",
         1, 1},
        {"a.conf", "tls_protocols = \"+ALL:+TLSv1.0\"\n",
         "tls_protocols: \"+ALL:+TLSv1.0\" leaves out TLSv1.1 between TLSv1.0 and TLSv1.3", 1, 17},
        {"a.yaml", "tls_ciphers: \"HIGH;FOO\"\n", "cipher rule \"FOO\"", 1, 14},
        {"a.yaml", "tls_ciphers: \"RC4\"\n", "cipher rule \"RC4\" matches no cipher", 1, 14},
        {"a.yaml", "tls_ciphers: \"HIGH:!aNUL\"\n", "cipher rule \"!aNUL\"", 1, 14},
        {"a.conf", "tls_ciphers = <<EOF\nHIGH\nFOO\nEOF\n", "cipher rule \"FOO\"", 1, 15},
        {"a.conf", "bindng \"b1\" { tls = required }\n",
         "unknown stanza \"bindng\" (did you mean \"binding\"?)", 1, 1},
        {"a.conf", "Domian \"x\" { }\n", "did you mean \"domain\"", 1, 1},
        // Syntax.
        {"a.yaml", "tls: [\n", "YAML syntax error", 2, 0},
        {"a.yaml", "- tls\n", "must be a mapping", 1, 1},
        {"a.conf", "tls \"required\"\n", "expected", 1, 0},
        {"a.conf", "binding \"b\" {\n  tls = required\n", "missing \"}\"", 0, 0},
    };
    for (const ErrorCase& c : cases) {
        const auto compiled = compile_text(c.file, c.text);
        INFO("config ", c.file, ":\n", c.text, "diagnostics:\n", compiled.text());
        CHECK(compiled.config == nullptr);
        const Diagnostic* d = find(compiled.diagnostics, Severity::error, c.want);
        CHECK_MESSAGE(d != nullptr, "no error containing: ", c.want);
        if (d == nullptr) continue;
        if (c.line != 0) CHECK_MESSAGE(d->line == c.line, "line: got ", d->line, ", want ", c.line);
        if (c.column != 0)
            CHECK_MESSAGE(d->column == c.column, "column: got ", d->column, ", want ", c.column);
        CHECK(d->file.ends_with(c.file));
    }
}

TEST_CASE("valid configurations load, with warnings where something has no effect") {
    struct Case {
        const char* file;
        const char* text;
        const char* want_warning; // nullptr: no warning expected
    };
    const Case cases[] = {
        {"ok.yaml", "tls: Required\nTLS_Verify: HOST\n", nullptr},
        {"ok.yaml", "tls_certificate: @PKI@/client-combined.pem\n", nullptr},
        {"ok.yaml",
         "tls_certificate: @PKI@/client.pem\ntls_key: @PKI@/client.key\nbinding:\n  b:\n    "
         "tls_certificate: none\n",
         nullptr},
        {"ok.yaml", "tls_ca: @PKI@/bundle.pem\ntls_verify: ca\n", nullptr},
        {"ok.yaml", "tls_ciphers: \"HIGH:!aNULL:!MD5:@STRENGTH\"\n", nullptr},
        {"ok.yaml", "tls_ciphers: \"HIGH:!aNULL:!RC4:!3DES:!IDEA:-SEED\"\n", nullptr},
        {"ok.yaml", "tlsv13_ciphersuites: TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\n",
         nullptr},
        {"ok.yaml", "tls_protocols: \"+ALL:-TLSv1.3\"\n", nullptr},
        {"ok.yaml", "tls_protocols: \"+ALL:+TLSv1.1\"\ntls_verify: \"no\"\n", nullptr},
        {"ok.yaml", "tls_protocols: \"+ALL:+SSLv3\"\n", "SSLv3 can never be enabled"},
        {"ok.yaml", "tls_dhparams_file: @PKI@/dh2048.pem\n", "only concerns inbound TLS"},
        {"ok.yaml", "starttls_injection_policy: allow\n", "only concerns inbound TLS"},
        {"ok.yaml", "crypto_lock_method: EC_SSL_MUTEX\nssl_lock_method: spinlock\n",
         "obsolete and ignored"},
        {"ok.yaml", "tls_ifavailable_fallback: no\ntls_enable_dhe_ciphers: off\n", nullptr},
        {"ok.yaml", "", nullptr},
        {"ok.yaml",
         "tls_log_format: custom\ntls_log_postfix_summary: false\ntls_log_delivery_format: "
         "\"%{delivery:time} %% %{{verify}} %{tls_out_cipher} %{mtatls:policy_scope:tls} "
         "%{mtatls:policy:TLS_VERIFY}\"\n",
         nullptr},
        {"ok.conf", "# only comments\n", nullptr},
        {"ok.yaml", "resolver: 127.0.0.1@5353\n", nullptr},
        {"ok.yaml", "resolver: \"192.0.2.1, 2001:db8::1@54 ::1,127.0.0.53\"\n", nullptr},
        {"ok.conf", "resolver = \"127.0.0.53\"\n", nullptr},
        {"ok.conf", "domain \"/^mx[0-9]+\\.example\\.com$/\" { tls = required }\n", nullptr},
    };
    for (const Case& c : cases) {
        const auto compiled = compile_text(c.file, c.text);
        INFO("config:\n", c.text, "diagnostics:\n", compiled.text());
        CHECK(compiled.config != nullptr);
        if (c.want_warning != nullptr)
            CHECK(find(compiled.diagnostics, Severity::warning, c.want_warning) != nullptr);
        else
            CHECK(find(compiled.diagnostics, Severity::warning, "") == nullptr);
    }
}

TEST_CASE("obsolete directives warn once, not once per use") {
    const auto compiled =
        compile_text("obsolete.yaml", "crypto_lock_method: EC_SSL_MUTEX\nssl_lock_method: mutex\n");
    REQUIRE(compiled.config);
    int warnings = 0;
    for (const auto& d : compiled.diagnostics.items())
        warnings += d.severity == Severity::warning;
    CHECK(warnings == 1);
}

TEST_CASE("Momentum options that are not TLS are listed as ignored, in file order") {
    const auto compiled = compile_text("ecelerity.conf", R"(
Max_Outbound_Connections = 20
esmtp_listener {
  listen ":25" { tls_certificate = "/not/checked" }
}
binding "b" {
  bind_address = "192.0.2.1"
  tls = ifavailable
}
)");
    REQUIRE_MESSAGE(compiled.config, compiled.text());
    std::vector<std::string> notes;
    for (const auto& d : compiled.diagnostics.items())
        if (d.severity == Severity::note) notes.push_back(std::to_string(d.line) + " " + d.message);
    REQUIRE(notes.size() == 3);
    CHECK(notes[0].starts_with("2 ignored option \"Max_Outbound_Connections\""));
    CHECK(notes[1].starts_with("3 ignored stanza \"esmtp_listener\""));
    CHECK(notes[2].starts_with("7 ignored option \"bind_address\""));
}

TEST_CASE("a broken key file is one error, not two") {
    const auto compiled = compile_text(
        "enc.yaml", "tls_certificate: @PKI@/client.pem\ntls_key: @PKI@/encrypted.key\n");
    CHECK(compiled.diagnostics.error_count() == 1);
}

TEST_CASE("diagnostics stay on one line whatever the configuration holds") {
    const auto compiled = compile_text("nl.conf", "tls_protocols = <<EOF\n+ALL\n-TLSv1.3\nEOF\n");
    REQUIRE(compiled.diagnostics.has_errors());
    for (const auto& d : compiled.diagnostics.items())
        CHECK(format(d).find('\n') == std::string::npos);
    CHECK(compiled.text().find("\\x0a") != std::string::npos);
}

TEST_CASE("many errors are all reported in one pass") {
    const auto compiled = compile_text("many.yaml", "tls: x\ntls_verify: y\ntls_engine: z\n");
    CHECK(compiled.diagnostics.error_count() == 3);
}
