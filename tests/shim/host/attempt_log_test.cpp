// attempt_log_test.cpp - log value escaping, the attempt/recipient lines
// in every form (key=value, JSON Lines, custom) and the Postfix summary.
#include "attempt_log.h"
#include "json_reader.h"
#include "text/log_safe.h"

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

// ---- JSON Lines ------------------------------------------------------------------

namespace {

using mtatls::test::Json;
using mtatls::test::JsonReader;

AttemptResult json_sample() {
    AttemptResult r = tls_result();
    r.sender = "s@example.org";
    r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1795946400));
    r.delay_seconds = 0.041;
    r.tls.achieved = "verified";
    r.macros = {{"outbound_tls:outbound_tls_cipher", "TLS_AES_256_GCM_SHA384"},
                {"{verify}", "OK"},
                {"mtatls:tls", "required+host:verified"}};
    return r;
}

Json parse_json(const std::string& line) {
    std::string error;
    const std::optional<Json> parsed = JsonReader::parse(line, error);
    REQUIRE_MESSAGE(parsed.has_value(), "not JSON (", error, "): ", line);
    return *parsed;
}

} // namespace

TEST_CASE("the JSON line, byte for byte") {
    CHECK(format_json_line("mtatls-send", json_sample(), false) ==
          R"({"program":"mtatls-send","time":"2026-11-29T10:00:00Z","status":"sent",)"
          R"("mx":"mx.example.com","address":"192.0.2.1","port":25,"domain":"example.com",)"
          R"("sender":"s@example.org","recipients":[{"address":"a@example.com","status":"sent",)"
          R"("code":250,"dsn":"2.0.0","reason":"Ok: queued as 4XyZ"}],"code":250,"dsn":"2.0.0",)"
          R"("reason":"Ok: queued as 4XyZ","delay":0.04,"fallback":false,"macros":{)"
          R"("outbound_tls:outbound_tls_cipher":"TLS_AES_256_GCM_SHA384","{verify}":"OK",)"
          R"("mtatls:tls":"required+host:verified"}})");
}

TEST_CASE("the JSON line parses back: field names, types and values") {
    AttemptResult r = json_sample();
    r.outcome = Outcome::deferred;
    r.code = 0; // no reply at all
    r.dsn = "4.4.1";
    r.reason = "[internal] connect: \"refused\"\r\n\x1b[31m%n";
    r.address.clear();
    r.sender.clear();
    r.recipients = {{"a@example.com", Outcome::deferred, 0, "4.4.1", "x"},
                    {"b@example.com", Outcome::bounced, 550, "5.1.1", "no such user"}};
    r.macros.emplace_back("outbound_tls:outbound_tls_subject", std::string("CN=a\0\n\"b", 8));
    const std::string line = format_json_line("mtatls-send", r, true);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(mtatls::text::is_log_safe(line));
    const Json json = parse_json(line);
    REQUIRE(json.kind == Json::Kind::object);
    std::vector<std::string> keys;
    for (const auto& [key, value] : json.object)
        keys.push_back(key);
    CHECK(keys == std::vector<std::string>{"program", "time", "status", "mx", "address", "port",
                                           "domain", "sender", "recipients", "code", "dsn",
                                           "reason", "delay", "fallback", "macros"});
    const auto str = [&json](const char* key) {
        const Json* v = json.get(key);
        REQUIRE_MESSAGE(v != nullptr, key);
        CHECK_MESSAGE(v->kind == Json::Kind::string, key);
        return v->string;
    };
    CHECK(str("program") == "mtatls-send");
    CHECK(str("time") == "2026-11-29T10:00:00Z");
    CHECK(str("status") == "fallback");
    CHECK(str("address").empty());
    CHECK(str("sender").empty());
    CHECK(str("reason") == "[internal] connect: \"refused\"\\x0d\\x0a\\x1b[31m%n");
    CHECK(json.get("port")->kind == Json::Kind::number);
    CHECK(json.get("port")->number == 25);
    CHECK(json.get("code")->kind == Json::Kind::null);
    CHECK(json.get("delay")->kind == Json::Kind::number);
    CHECK(json.get("delay")->number_text == "0.04");
    CHECK(json.get("fallback")->kind == Json::Kind::boolean);
    CHECK(json.get("fallback")->boolean);
    const Json* recipients = json.get("recipients");
    REQUIRE(recipients->kind == Json::Kind::array);
    REQUIRE(recipients->array.size() == 2);
    CHECK(recipients->array[0].get("code")->kind == Json::Kind::null);
    CHECK(recipients->array[1].get("address")->string == "b@example.com");
    CHECK(recipients->array[1].get("status")->string == "bounced");
    CHECK(recipients->array[1].get("code")->number == 550);
    CHECK(recipients->array[1].get("dsn")->string == "5.1.1");
    const Json* macros = json.get("macros");
    REQUIRE(macros->kind == Json::Kind::object);
    CHECK(macros->object.size() == 4);
    CHECK(macros->get("{verify}")->string == "OK");
    CHECK(macros->get("outbound_tls:outbound_tls_subject")->string == "CN=a\\x00\\x0a\"b");
}

TEST_CASE("a JSON line with no recipients and no macros is still complete") {
    AttemptResult r;
    r.mx_name = "mx";
    r.port = 25;
    const Json json = parse_json(format_json_line("p", r, false));
    CHECK(json.get("recipients")->array.empty());
    CHECK(json.get("macros")->kind == Json::Kind::object);
    CHECK(json.get("macros")->object.empty());
    CHECK(json.get("delay")->number_text == "0.00");
}

// ---- the Postfix summary ---------------------------------------------------------

TEST_CASE("the Postfix summary line, word for word, for each category") {
    struct Case {
        const char* achieved;
        const char* word; // nullptr: no line
    };
    const Case cases[] = {
        {"verified", "Verified"},   {"trusted", "Trusted"}, {"untrusted", "Untrusted"},
        {"anonymous", "Anonymous"}, {"none", nullptr},      {"", nullptr},
        {"Verified", nullptr},      {"something", nullptr},
    };
    for (const Case& c : cases) {
        AttemptResult r = tls_result();
        r.mx_name = "mx.example.test";
        r.address = "127.0.0.1";
        r.tls.achieved = c.achieved;
        r.tls.use_bits = "128";
        r.tls.alg_bits = "256";
        const std::optional<std::string> line = format_summary_line("mtatls-send", r);
        if (c.word == nullptr) {
            CHECK_MESSAGE(!line, c.achieved, ": ", line.value_or(""));
            continue;
        }
        REQUIRE_MESSAGE(line.has_value(), c.achieved);
        CHECK(*line == std::string("mtatls-send: ") + c.word +
                           " TLS connection established to mx.example.test[127.0.0.1]:25: "
                           "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (128/256 bits)");
    }
}

TEST_CASE("the summary line escapes what it shows") {
    AttemptResult r = tls_result();
    r.tls.achieved = "untrusted";
    r.tls.cipher = "X\r\nmtatls-send: status=sent";
    const std::string line = format_summary_line("p", r).value();
    CHECK(mtatls::text::is_log_safe(line));
    CHECK(line.find("with cipher X\\x0d\\x0amtatls-send: status=sent (") != std::string::npos);
}

// ---- every line of an attempt ------------------------------------------------------

TEST_CASE("format_attempt_lines: the summary first, then the chosen form") {
    AttemptResult r = json_sample();
    r.recipients.push_back({"b@example.com", Outcome::bounced, 550, "5.1.1", "no"});
    const std::string summary =
        "p: Verified TLS connection established to mx.example.com[192.0.2.1]:25: TLSv1.3 "
        "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)";

    LogSettings settings; // keyvalue with summary: the default
    auto lines = format_attempt_lines("p", r, false, settings);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == summary);
    CHECK(lines[1] == format_attempt_line("p", r, false));
    CHECK(lines[2] == format_recipient_lines("p", r)[0]);
    CHECK(lines[3] == format_recipient_lines("p", r)[1]);

    settings.postfix_summary = false;
    lines = format_attempt_lines("p", r, false, settings);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == format_attempt_line("p", r, false));

    settings.form = LogForm::json;
    lines = format_attempt_lines("p", r, true, settings);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0] == format_json_line("p", r, true));

    settings.form = LogForm::custom;
    settings.postfix_summary = true;
    settings.delivery_format = "D %{delivery:recipients} %{{verify}}";
    lines = format_attempt_lines("p", r, false, settings);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == summary);
    CHECK(lines[1] == "D a@example.com,b@example.com OK");

    // No handshake: no summary, whatever the setting.
    r.tls.achieved = "none";
    settings.form = LogForm::keyvalue;
    lines = format_attempt_lines("p", r, false, settings);
    CHECK(lines.front() == format_attempt_line("p", r, false));
}
