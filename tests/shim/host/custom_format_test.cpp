// custom_format_test.cpp - custom log templates: references, %%, unknown
// names, every delivery:* field, the template per outcome, and hostile
// values that must come out as one log-safe line.
#include "attempt_log.h"
#include "custom_format.h"
#include "text/log_safe.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace mtatls::host;

namespace {

const std::map<std::string, std::string, std::less<>> values{
    {"a", "A"},
    {"{verify}", "OK"},
    {"outbound_tls:outbound_tls_cipher", "TLS_AES_256_GCM_SHA384"},
    {"newline", "one\r\ntwo"},
    {"quotes", "say \"hi\" 'x'"},
    {"format", "%n%s%%{a}"},
    {"ansi", "\x1b[31mred\x1b[0m"},
    {"nul", std::string("a\0b", 3)},
    {"separator", "x\xe2\x80\xa8y"},
    {"invalid", "\xff\xfe"},
};

std::string lookup(std::string_view name) {
    const auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
}

AttemptResult sample() {
    AttemptResult r;
    r.outcome = Outcome::sent;
    r.code = 250;
    r.dsn = "2.0.0";
    r.reason = "Ok: queued as 4XyZ";
    r.mx_name = "mx.example.com";
    r.address = "192.0.2.1";
    r.port = 2525;
    r.domain = "example.com";
    r.sender = "s@example.org";
    r.delay_seconds = 1.234;
    r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1795946400));
    r.recipients = {{"a@example.com", Outcome::sent, 250, "2.0.0", "ok"},
                    {"b@example.com", Outcome::sent, 250, "2.0.0", "ok"}};
    r.macros = {{"mtatls:tls", "required+host:verified"}, {"{verify}", "OK"}};
    return r;
}

} // namespace

TEST_CASE("template rendering table") {
    struct Case {
        std::string tmpl;
        std::string want;
    };
    const Case cases[] = {
        {"", ""},
        {"plain text", "plain text"},
        {"%{a}", "A"},
        {"x=%{a} y=%{a}", "x=A y=A"},
        {"100%%", "100%"},
        {"%%{a}", "%{a}"}, // %% then literal text
        {"%%%{a}", "%A"},
        {"%{{verify}}", "OK"}, // sendmail names keep their braces
        {"[%{outbound_tls:outbound_tls_cipher}]", "[TLS_AES_256_GCM_SHA384]"},
        {"unknown=<%{no:such}>", "unknown=<>"},
        {"%{delivery:nothing}", ""},
        // Hostile values: one line, nothing raw, nothing re-expanded.
        {"r=%{newline}", "r=one\\x0d\\x0atwo"},
        {"q=%{quotes}", "q=say \"hi\" 'x'"},
        {"f=%{format}", "f=%n%s%%{a}"},
        {"e=%{ansi}", "e=\\x1b[31mred\\x1b[0m"},
        {"n=%{nul}", "n=a\\x00b"},
        {"s=%{separator}", "s=x\\xe2\\x80\\xa8y"},
        {"i=%{invalid}", "i=\\xff\\xfe"},
        // A template the module would refuse is written as safe literal text.
        {"bad %d %{a}", "bad %d %{a}"},
        {"tab\there %{a}", "tab\\x09here %{a}"},
        {"open %{a", "open %{a"},
    };
    for (const Case& c : cases) {
        const std::string got = render_template(c.tmpl, lookup);
        CHECK_MESSAGE(got == c.want, "template \"", c.tmpl, "\": got \"", got, "\", want \"",
                      c.want, "\"");
        CHECK(mtatls::text::is_log_safe(got));
    }
}

TEST_CASE("template_names lists each reference once, in order") {
    CHECK(template_names("%{b} %{a} %{b} %% %{{verify}}") ==
          std::vector<std::string>{"b", "a", "{verify}"});
    CHECK(template_names("no refs %%").empty());
    CHECK(template_names("bad %x %{a}").empty());
}

TEST_CASE("every delivery:* field") {
    const AttemptResult r = sample();
    struct Case {
        const char* name;
        std::string want;
    };
    const Case cases[] = {
        {"delivery:status", "sent"},
        {"delivery:relay", "mx.example.com[192.0.2.1]:2525"},
        {"delivery:mx", "mx.example.com"},
        {"delivery:address", "192.0.2.1"},
        {"delivery:port", "2525"},
        {"delivery:domain", "example.com"},
        {"delivery:sender", "s@example.org"},
        {"delivery:recipients", "a@example.com,b@example.com"},
        {"delivery:code", "250"},
        {"delivery:dsn", "2.0.0"},
        {"delivery:reason", "Ok: queued as 4XyZ"},
        {"delivery:delay", "1.23"},
        {"delivery:time", "2026-11-29T10:00:00Z"},
        {"delivery:program", "mtatls-send"},
        {"delivery:unknown", ""},
        {"status", ""}, // only the delivery: namespace
    };
    for (const Case& c : cases) {
        const std::string got = delivery_field(c.name, "mtatls-send", r, false);
        CHECK_MESSAGE(got == c.want, c.name, ": got \"", got, "\", want \"", c.want, "\"");
    }
    CHECK(delivery_field("delivery:status", "p", r, true) == "fallback");
    AttemptResult none = r;
    none.code = 0;
    none.address.clear();
    none.sender.clear();
    CHECK(delivery_field("delivery:code", "p", none, false).empty());
    CHECK(delivery_field("delivery:relay", "p", none, false) == "mx.example.com[-]:2525");
    CHECK(delivery_field("delivery:sender", "p", none, false).empty());
}

TEST_CASE("the template follows the outcome") {
    LogSettings settings;
    settings.form = LogForm::custom;
    settings.delivery_format = "D %{delivery:status} %{mtatls:tls}";
    settings.transientfailure_format = "T %{delivery:status} %{{verify}}";
    settings.permanentfailure_format = "P %{delivery:status} %{delivery:code}";
    AttemptResult r = sample();
    CHECK(format_custom_line("p", r, false, settings) == "D sent required+host:verified");
    r.outcome = Outcome::deferred;
    r.code = 451;
    CHECK(format_custom_line("p", r, false, settings) == "T deferred OK");
    CHECK(format_custom_line("p", r, true, settings) == "T fallback OK");
    r.outcome = Outcome::bounced;
    r.code = 550;
    CHECK(format_custom_line("p", r, false, settings) == "P bounced 550");
}

TEST_CASE("hostile server and certificate text in a custom line stays one safe line") {
    LogSettings settings;
    settings.form = LogForm::custom;
    settings.transientfailure_format =
        "%{delivery:reason}|%{outbound_tls:outbound_tls_subject}|%{delivery:recipients}";
    AttemptResult r = sample();
    r.outcome = Outcome::deferred;
    r.reason = "no\r\nmtatls-send: status=sent %n \x1b[2J";
    r.recipients[0].address = "x\"y@example.com";
    r.macros.emplace_back("outbound_tls:outbound_tls_subject",
                          std::string("CN=a\0b\xe2\x80\xae", 9));
    const std::string line = format_custom_line("p", r, false, settings);
    CHECK(line == "no\\x0d\\x0amtatls-send: status=sent %n \\x1b[2J|CN=a\\x00b\\xe2\\x80\\xae|"
                  "x\"y@example.com,b@example.com");
    CHECK(mtatls::text::is_log_safe(line));
}
