// outcome_test.cpp - the decision table, row by row, and the properties
// that must hold for every combination: never plaintext under `required`,
// never plaintext after a failed verification, and the exact reply codes.
#include "attempt/outcome.h"

#include <doctest/doctest.h>

#include <string>

using namespace mtatls::attempt;
using mtatls::config::TlsMode;
using mtatls::config::VerifyMode;

namespace {

constexpr TlsMode all_tls[] = {TlsMode::no, TlsMode::ifavailable, TlsMode::required};
constexpr VerifyMode all_verify[] = {VerifyMode::no, VerifyMode::ca, VerifyMode::host,
                                     VerifyMode::optional};
constexpr Event all_events[] = {
    Event::starttls_advertised, Event::starttls_not_advertised, Event::go_ahead_refused,
    Event::bytes_after_reply,   Event::malformed_reply,         Event::handshake_failed,
    Event::chain_untrusted,     Event::name_mismatch,           Event::established};

bool is_plaintext(Action action) {
    return action == Action::plaintext || action == Action::retry_plaintext;
}

} // namespace

TEST_CASE("decision table: rows") {
    struct Row {
        TlsMode tls;
        VerifyMode verify;
        bool fallback;
        bool retry;
        Event event;
        Action expected;
    };
    using enum Event;
    const Row rows[] = {
        {TlsMode::no, VerifyMode::host, true, false, starttls_advertised, Action::plaintext},
        {TlsMode::ifavailable, VerifyMode::no, true, false, starttls_advertised, Action::starttls},
        {TlsMode::ifavailable, VerifyMode::no, true, false, starttls_not_advertised,
         Action::plaintext},
        {TlsMode::ifavailable, VerifyMode::no, true, true, starttls_advertised, Action::plaintext},
        {TlsMode::required, VerifyMode::no, true, false, starttls_advertised, Action::starttls},
        {TlsMode::required, VerifyMode::no, true, false, starttls_not_advertised, Action::tempfail},
        {TlsMode::required, VerifyMode::no, true, true, starttls_advertised, Action::tempfail},
        {TlsMode::ifavailable, VerifyMode::no, true, false, go_ahead_refused,
         Action::retry_plaintext},
        {TlsMode::ifavailable, VerifyMode::no, false, false, go_ahead_refused, Action::tempfail},
        {TlsMode::ifavailable, VerifyMode::host, true, false, handshake_failed,
         Action::retry_plaintext},
        {TlsMode::ifavailable, VerifyMode::no, true, false, bytes_after_reply,
         Action::retry_plaintext},
        {TlsMode::required, VerifyMode::no, true, false, handshake_failed, Action::tempfail},
        {TlsMode::ifavailable, VerifyMode::host, true, false, chain_untrusted, Action::tempfail},
        {TlsMode::ifavailable, VerifyMode::ca, true, false, chain_untrusted, Action::tempfail},
        {TlsMode::ifavailable, VerifyMode::ca, true, false, name_mismatch, Action::use_tls},
        {TlsMode::required, VerifyMode::host, true, false, name_mismatch, Action::tempfail},
        {TlsMode::required, VerifyMode::optional, true, false, chain_untrusted, Action::use_tls},
        {TlsMode::required, VerifyMode::optional, true, false, name_mismatch, Action::use_tls},
        {TlsMode::required, VerifyMode::no, true, false, chain_untrusted, Action::use_tls},
        {TlsMode::required, VerifyMode::host, true, false, established, Action::use_tls},
    };
    for (const Row& row : rows) {
        CAPTURE(event_name(row.event));
        CAPTURE(static_cast<int>(row.tls));
        CAPTURE(static_cast<int>(row.verify));
        CHECK(decide(row.tls, row.verify, row.fallback, row.retry, row.event) == row.expected);
    }
}

TEST_CASE("decision table: invariants over every combination") {
    for (TlsMode tls : all_tls)
        for (VerifyMode verify : all_verify)
            for (bool fallback : {false, true})
                for (bool retry : {false, true})
                    for (Event event : all_events) {
                        CAPTURE(event_name(event));
                        CAPTURE(static_cast<int>(tls));
                        CAPTURE(static_cast<int>(verify));
                        const Action action = decide(tls, verify, fallback, retry, event);
                        if (tls == TlsMode::required) CHECK_FALSE(is_plaintext(action));
                        const bool verification_failed =
                            event == Event::chain_untrusted ||
                            (event == Event::name_mismatch && verify == VerifyMode::host);
                        if (verification_failed) CHECK_FALSE(is_plaintext(action));
                        if (verification_failed &&
                            (verify == VerifyMode::ca || verify == VerifyMode::host))
                            CHECK(action == Action::tempfail);
                        if (!fallback) CHECK(action != Action::retry_plaintext);
                    }
}

TEST_CASE("failure replies carry the reference's codes") {
    const struct {
        Event event;
        const char* enhanced;
        const char* text;
    } rows[] = {
        {Event::starttls_not_advertised, "4.7.6",
         "[internal] STARTTLS required but not advertised"},
        {Event::go_ahead_refused, "4.7.5", "[internal] no tls go-ahead"},
        {Event::handshake_failed, "4.7.5", "[internal] TLS negotiation failed"},
        {Event::bytes_after_reply, "4.7.5", "[internal] TLS negotiation failed"},
        {Event::chain_untrusted, "4.7.5", "[internal] SSL cert must be signed by a valid CA"},
        {Event::name_mismatch, "4.7.5", "[internal] SSL certificate subject does not match host"},
    };
    for (const auto& row : rows) {
        CAPTURE(event_name(row.event));
        const FailureReply reply = failure_reply(row.event, "");
        CHECK(reply.code == 451);
        CHECK(std::string(reply.enhanced) == row.enhanced);
        CHECK(reply.text == row.text);
    }
    CHECK(failure_reply(Event::handshake_failed, "alert").text ==
          "[internal] TLS negotiation failed (alert)");
}
