// attempt_log_test.cpp - log value escaping and the attempt/recipient lines.
#include "attempt_log.h"

#include <doctest/doctest.h>

#include <string>

using namespace mtatls::host;

TEST_CASE("log values are quoted and escaped only when needed") {
    struct Case {
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"", "-"},
        {"plain", "plain"},
        {"mx.example.com[192.0.2.1]:25", "mx.example.com[192.0.2.1]:25"},
        {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"},
        {"<a@b>", "<a@b>"},
        {"-", "-"},
        {"two words", "\"two words\""},
        {"a=b", "\"a=b\""},
        {"CN=mx,O=x", "\"CN=mx,O=x\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"tab\there", "\"tab\\x09here\""},
        {"line\r\nbreak", "\"line\\x0d\\x0abreak\""},
        {std::string("nul\0byte", 8), "\"nul\\x00byte\""},
        {"del\x7f", "\"del\\x7f\""},
        {"esc\x1b[31m", "\"esc\\x1b[31m\""},
        {"fake status=sent", "\"fake status=sent\""}, // '=' needs quotes, no escape
        {"\xc3\xa4", "\xc3\xa4"},                     // UTF-8 passes unquoted
        {"%s%n", "%s%n"},                             // never a format string
        // Code points some viewers show as a line break or reversed text.
        {"a\xc2\x85z", "\"a\\xc2\\x85z\""},          // NEL (C1)
        {"a\xe2\x80\xa8z", "\"a\\xe2\\x80\\xa8z\""}, // LINE SEPARATOR
        {"a\xe2\x80\xaez", "\"a\\xe2\\x80\\xaez\""}, // RIGHT-TO-LEFT OVERRIDE
        {"a\xe2\x81\xa6z", "\"a\\xe2\\x81\\xa6z\""}, // LEFT-TO-RIGHT ISOLATE
        // Invalid UTF-8: stray, truncated and overlong sequences.
        {"a\xffz", "\"a\\xffz\""},
        {"a\xc3", "\"a\\xc3\""},
        {"a\xc0\xafz", "\"a\\xc0\\xafz\""},
        {"\xe2\x82\xac and \xf0\x9f\x93\xa7", "\"\xe2\x82\xac and \xf0\x9f\x93\xa7\""}, // kept
    };
    for (const Case& c : cases) {
        const std::string got = log_value(c.in);
        CHECK_MESSAGE(got == c.want, "in \"", c.in, "\": got ", got, ", want ", c.want);
    }
}

TEST_CASE("an escaped value never contains a raw control byte, space outside quotes or newline") {
    std::string all;
    for (int c = 0; c < 256; ++c)
        all += static_cast<char>(c);
    const std::string got = log_value(all);
    REQUIRE(got.size() > 2);
    CHECK(got.front() == '"');
    CHECK(got.back() == '"');
    for (const char c : got) {
        const auto byte = static_cast<unsigned char>(c);
        CHECK((byte >= 0x20 && byte < 0x7f)); // nothing of 0x80..0xff is valid UTF-8 alone
    }
}

namespace {

AttemptResult tls_result() {
    AttemptResult r;
    r.outcome = Outcome::sent;
    r.code = 250;
    r.dsn = "2.0.0";
    r.reason = "Ok: queued as 4XyZ";
    r.mx_name = "mx.example.com";
    r.address = "192.0.2.1";
    r.port = 25;
    r.domain = "example.com";
    r.tls.used = "TLS";
    r.tls.policy = "required";
    r.tls.verify_policy = "host";
    r.tls.protocol = "TLSv1.3";
    r.tls.cipher = "TLS_AES_256_GCM_SHA384";
    r.tls.alg_bits = "256";
    r.tls.use_bits = "256";
    r.tls.verified = "verified";
    r.tls.subject = "CN=mx.example.com";
    r.tls.issuer = "CN=Test CA,O=Example";
    r.delay_seconds = 1.234;
    r.recipients = {{"a@example.com", Outcome::sent, 250, "2.0.0", "Ok: queued as 4XyZ"}};
    return r;
}

} // namespace

TEST_CASE("the attempt line has every field in the contract's order") {
    const AttemptResult r = tls_result();
    CHECK(format_attempt_line("mtatls-send", r, false) ==
          "mtatls-send: status=sent relay=mx.example.com[192.0.2.1]:25 domain=example.com "
          "tls_policy=required verify_policy=host tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 "
          "bits=256/256 verified=yes subject=\"CN=mx.example.com\" "
          "issuer=\"CN=Test CA,O=Example\" code=250 dsn=2.0.0 reason=\"Ok: queued as 4XyZ\" "
          "delay=1.23");
}

TEST_CASE("without TLS the TLS fields are none or -") {
    AttemptResult r = tls_result();
    r.tls = TlsFacts{};
    r.tls.used = "SMTP";
    r.tls.policy = "ifavailable";
    r.tls.verify_policy = "no";
    r.outcome = Outcome::deferred;
    r.code = 451;
    r.dsn = "4.7.5";
    r.reason = "[internal] no tls go-ahead";
    CHECK(format_attempt_line("p", r, true) ==
          "p: status=fallback relay=mx.example.com[192.0.2.1]:25 domain=example.com "
          "tls_policy=ifavailable verify_policy=no tls=none cipher=- bits=- verified=- "
          "subject=- issuer=- code=451 dsn=4.7.5 reason=\"[internal] no tls go-ahead\" "
          "delay=1.23");
}

TEST_CASE("a refused certificate still shows the session's facts") {
    AttemptResult r = tls_result();
    r.tls.used = "unknown"; // the attempt ended before mail went over TLS
    r.tls.verified = "unverified";
    r.outcome = Outcome::deferred;
    r.code = 451;
    r.dsn = "4.7.5";
    r.reason = "[internal] SSL certificate subject does not match host";
    const std::string line = format_attempt_line("p", r, false);
    CHECK(line.find(" tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256 verified=no "
                    "subject=\"CN=mx.example.com\" ") != std::string::npos);
}

TEST_CASE("nothing known: every field still present, empty ones as -") {
    AttemptResult r;
    r.outcome = Outcome::deferred;
    r.mx_name = "mx.example.com";
    r.port = 2525;
    const std::string line = format_attempt_line("p", r, false);
    CHECK(line == "p: status=deferred relay=mx.example.com[-]:2525 domain=- tls_policy=- "
                  "verify_policy=- tls=none cipher=- bits=- verified=- subject=- issuer=- "
                  "code=- dsn=- reason=- delay=0.00");
}

TEST_CASE("verified maps verified/unverified to yes/no") {
    AttemptResult r = tls_result();
    r.tls.verified = "unverified";
    CHECK(format_attempt_line("p", r, false).find(" verified=no ") != std::string::npos);
    r.tls.verified = "";
    CHECK(format_attempt_line("p", r, false).find(" verified=- ") != std::string::npos);
    r.tls.use_bits = "";
    CHECK(format_attempt_line("p", r, false).find(" bits=- ") != std::string::npos);
}

TEST_CASE("hostile server text cannot forge fields or lines") {
    AttemptResult r = tls_result();
    r.reason = "ok\r\nmtatls-send: status=sent relay=evil";
    r.tls.subject = "CN=x\" status=sent";
    const std::string line = format_attempt_line("p", r, false);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.find("reason=\"ok\\x0d\\x0amtatls-send: status=sent relay=evil\"") !=
          std::string::npos);
    CHECK(line.find("subject=\"CN=x\\\" status=sent\"") != std::string::npos);
}

TEST_CASE("recipient lines appear only when the recipients' results differ") {
    AttemptResult r = tls_result();
    CHECK(format_recipient_lines("p", r).empty()); // one recipient
    r.recipients.push_back({"b@example.com", Outcome::sent, 250, "2.0.0", "Ok: queued as 4XyZ"});
    CHECK(format_recipient_lines("p", r).empty()); // same result
    r.recipients.push_back(
        {"c d@example.com", Outcome::bounced, 550, "5.1.1", "no such user (in reply to RCPT TO)"});
    const auto lines = format_recipient_lines("p", r);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "p: rcpt=<a@example.com> status=sent code=250 dsn=2.0.0 "
                      "reason=\"Ok: queued as 4XyZ\"");
    CHECK(lines[2] == "p: rcpt=\"<c d@example.com>\" status=bounced code=550 dsn=5.1.1 "
                      "reason=\"no such user (in reply to RCPT TO)\"");
}
