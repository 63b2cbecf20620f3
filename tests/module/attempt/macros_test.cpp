// macros_test.cpp - the macro table: every vocabulary's names exist, the
// stages partition them, and the derived values ({verify}, requested vs
// achieved, Exim's cipher form, sendmail's xtext) for each outcome.
#include "attempt/macros.h"
#include "module_state.h"

#include "../../support/test_paths.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <set>

using namespace mtatls;
using namespace mtatls::attempt;

namespace {

std::unique_ptr<Connection> open_with(ModuleState& state, const std::string& yaml) {
    const std::string path = "/tmp/mtatls_macros_test." + std::to_string(getpid()) + ".yaml";
    test::write_file(path, yaml);
    config::Diagnostics diagnostics;
    REQUIRE(state.load(path, diagnostics));
    return state.open({"", "b1", "example.test"}, "mx.example.test", "192.0.2.9", 25);
}

AttemptFacts handshake_facts(const Connection& connection) {
    AttemptFacts f;
    f.connection = &connection;
    f.progress = Progress::tls;
    f.handshake_done = true;
    f.sni = "mx.example.test";
    f.session.protocol = "TLSv1.3";
    f.session.cipher = "TLS_AES_256_GCM_SHA384";
    f.session.cipher_alg_bits = 256;
    f.session.cipher_use_bits = 256;
    f.session.peer_certificate = true;
    f.session.subject_oneline = "/O=mtatls test/CN=mx.example.test";
    f.session.subject_cn = "mx.example.test";
    f.verdict = tls::PeerCheck::Verdict{true, true, "mx.example.test", "", ""};
    return f;
}

std::string value(const AttemptFacts& f, const char* name) {
    const auto v = macro_value(f, name);
    REQUIRE_MESSAGE(v.has_value(), name);
    return *v;
}

} // namespace

TEST_CASE("every vocabulary's names are in the table, each stage once") {
    const std::vector<std::string> all = all_macro_names();
    const std::set<std::string> unique(all.begin(), all.end());
    CHECK(unique.size() == all.size());
    for (const char* name : {"outbound_tls:outbound_tls",
                             "outbound_tls:outbound_tls_type",
                             "outbound_tls:local_ip",
                             "outbound_tls:outbound_tls_cipher",
                             "outbound_tls:outbound_tls_cipher_algbits",
                             "outbound_tls:outbound_tls_cipher_usebits",
                             "outbound_tls:outbound_tls_protocol",
                             "outbound_tls:outbound_tls_verified",
                             "outbound_tls:outbound_tls_issuer",
                             "outbound_tls:outbound_tls_subject",
                             "{tls_version}",
                             "{cipher}",
                             "{cipher_bits}",
                             "{alg_bits}",
                             "{cert_subject}",
                             "{cert_issuer}",
                             "{cn_subject}",
                             "{cn_issuer}",
                             "{cert_fp}",
                             "{verify}",
                             "{server_name}",
                             "{server_addr}",
                             "tls_out_ver",
                             "tls_out_cipher",
                             "tls_out_bits",
                             "tls_out_certificate_verified",
                             "tls_out_peerdn",
                             "tls_out_sni",
                             "mtatls:tls_requested",
                             "mtatls:tls_achieved",
                             "mtatls:tls",
                             "mtatls:stage",
                             "mtatls:failure",
                             "mtatls:resumed",
                             "mtatls:kx_group",
                             "mtatls:peer_sig_alg",
                             "mtatls:cert_fp",
                             "mtatls:cert_not_after",
                             "mtatls:policy:tls_verify",
                             "mtatls:policy_scope:tls_ca"}) {
        CAPTURE(name);
        CHECK(unique.contains(name));
        CHECK(is_known_macro(name));
    }
    CHECK_FALSE(is_known_macro("outbound_tls:nonsense"));
    CHECK_FALSE(is_known_macro("mtatls:policy:nonsense"));
    CHECK(is_host_field("delivery:status"));
    CHECK_FALSE(is_host_field("delivery:nonsense"));
    std::size_t staged = 0;
    for (MacroStage stage : {MacroStage::conn_setup, MacroStage::ehlo, MacroStage::starttls_finish})
        staged += macro_names(stage).size();
    CHECK(staged == all.size());
}

TEST_CASE("values derived per outcome") {
    ModuleState state;
    const auto connection =
        open_with(state, "tls: required\ntls_verify: host\nbinding:\n  b1:\n    tls_verify: ca\n");
    REQUIRE(connection);

    SUBCASE("verified TLS 1.3 session") {
        const AttemptFacts f = handshake_facts(*connection);
        CHECK(value(f, "outbound_tls:outbound_tls") == "TLS");
        CHECK(value(f, "outbound_tls:outbound_tls_verified") == "verified");
        CHECK(value(f, "{verify}") == "OK");
        CHECK(value(f, "tls_out_certificate_verified") == "1");
        CHECK(value(f, "tls_out_cipher") == "TLS1.3:TLS_AES_256_GCM_SHA384:256");
        CHECK(value(f, "{cert_subject}") == "/O=mtatls+20test/CN=mx.example.test");
        CHECK(value(f, "tls_out_peerdn") == "/O=mtatls test/CN=mx.example.test");
        AttemptFacts odd = f;
        odd.session.subject_oneline = "/O=a (b) \\x0A <c>+\"d\"";
        CHECK(value(odd, "{cert_subject}") == "/O=a+20+28b+29+20+5Cx0A+20+3Cc+3E+2B+22d+22");
        CHECK(value(f, "tls_out_ver") == "TLS1.3");
        CHECK(value(f, "mtatls:tls_requested") == "required+ca");
        CHECK(value(f, "mtatls:tls") == "required+ca:verified");
        CHECK(value(f, "mtatls:policy_scope:tls_verify") == "binding \"b1\"");
        CHECK(value(f, "mtatls:policy_scope:tls") == "global");
        CHECK(value(f, "mtatls:policy_scope:tls_ca") == "default");
    }
    SUBCASE("chain fine, name not matched: trusted; chain bad: untrusted; no certificate") {
        AttemptFacts f = handshake_facts(*connection);
        f.verdict->name_matched = false;
        CHECK(value(f, "mtatls:tls_achieved") == "trusted");
        CHECK(value(f, "outbound_tls:outbound_tls_verified") == "unverified");
        CHECK(value(f, "{verify}") == "OK"); // sendmail's {verify} is about the chain
        f.verdict->chain_trusted = false;
        CHECK(value(f, "mtatls:tls_achieved") == "untrusted");
        CHECK(value(f, "{verify}") == "FAIL");
        CHECK(value(f, "tls_out_certificate_verified") == "0");
        f.session.peer_certificate = false;
        CHECK(value(f, "mtatls:tls_achieved") == "anonymous");
        CHECK(value(f, "{verify}") == "NO");
    }
    SUBCASE("failures before a finished handshake") {
        struct Row {
            Event event;
            int starttls_code;
            const char* verify;
        };
        const Row rows[] = {{Event::starttls_not_advertised, 0, "NONE"},
                            {Event::go_ahead_refused, 454, "TEMP"},
                            {Event::go_ahead_refused, 554, "PROTOCOL"},
                            {Event::bytes_after_reply, 220, "PROTOCOL"},
                            {Event::malformed_reply, 0, "PROTOCOL"},
                            {Event::handshake_failed, 220, "SOFTWARE"}};
        for (const Row& row : rows) {
            CAPTURE(event_name(row.event));
            AttemptFacts f;
            f.connection = connection.get();
            f.progress = Progress::ehlo;
            f.failure = row.event;
            f.starttls_reply_code = row.starttls_code;
            CHECK(value(f, "{verify}") == row.verify);
            CHECK(value(f, "mtatls:tls_achieved") == "none");
            CHECK(value(f, "mtatls:failure") == event_name(row.event));
            CHECK(value(f, "outbound_tls:outbound_tls") == "unknown");
            CHECK(value(f, "{cipher}").empty());
            CHECK(value(f, "tls_out_cipher").empty());
            CHECK(value(f, "outbound_tls:outbound_tls_cipher_usebits").empty());
        }
    }
    SUBCASE("plaintext: NONE when not offered, CLEAR on the plaintext retry") {
        AttemptFacts f;
        f.connection = connection.get();
        f.progress = Progress::plaintext;
        CHECK(value(f, "outbound_tls:outbound_tls") == "SMTP");
        CHECK(value(f, "{verify}") == "NONE");
        CHECK(value(f, "mtatls:tls") == "required+ca:none");
        f.plaintext_retry = true;
        CHECK(value(f, "{verify}") == "CLEAR");
    }
    SUBCASE("nothing known yet") {
        AttemptFacts f;
        f.connection = connection.get();
        CHECK(value(f, "outbound_tls:outbound_tls") == "unknown");
        CHECK(value(f, "{verify}").empty());
        CHECK(value(f, "mtatls:tls").empty());
        CHECK(value(f, "mtatls:stage") == "connected");
        CHECK(value(f, "outbound_tls:local_ip") == "192.0.2.9");
        CHECK(value(f, "{server_name}") == "mx.example.test");
    }
}

TEST_CASE("tls = no is CLEAR in sendmail's words") {
    ModuleState state;
    const auto connection = open_with(state, "tls: \"no\"\n");
    AttemptFacts f;
    f.connection = connection.get();
    f.progress = Progress::plaintext;
    CHECK(value(f, "{verify}") == "CLEAR");
    CHECK(value(f, "mtatls:tls") == "no:none");
}
