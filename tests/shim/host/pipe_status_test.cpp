// pipe_status_test.cpp - the --pipe status line: the enhanced code pipe(8)
// takes as the delivery status, and the reason, for each kind of result.
#include "pipe_status.h"

#include <doctest/doctest.h>

#include <string>

using namespace mtatls::host;

namespace {

AttemptResult result(Outcome outcome, int code, std::string dsn, std::string reason, Stage stage) {
    AttemptResult r;
    r.outcome = outcome;
    r.code = code;
    r.dsn = std::move(dsn);
    r.reason = std::move(reason);
    r.stage = stage;
    r.mx_name = "mx1.example.net";
    r.address = "192.0.2.7";
    r.port = 25;
    return r;
}

} // namespace

TEST_CASE("the status line names the code pipe(8) must use and why") {
    struct Row {
        const char* what;
        AttemptResult result;
        const char* line;
    };
    const Row rows[] = {
        {"sent in plaintext",
         result(Outcome::sent, 250, "2.0.0", "Ok: queued as X", Stage::message),
         "2.0.0 sent in plaintext to mx1.example.net[192.0.2.7]:25: 250 2.0.0 Ok: queued as X"},
        {"mtatls refused plaintext",
         result(Outcome::deferred, 451, "4.7.6", "[internal] STARTTLS required but not advertised",
                Stage::tls),
         "4.7.6 [internal] STARTTLS required but not advertised (host "
         "mx1.example.net[192.0.2.7]:25)"},
        {"a server's 5xx to RCPT",
         result(Outcome::bounced, 550, "5.1.1",
                "<a@example.net>: Recipient address rejected (in reply to RCPT TO)",
                Stage::transaction),
         "5.1.1 host mx1.example.net[192.0.2.7]:25 said: 550 5.1.1 <a@example.net>: Recipient "
         "address rejected (in reply to RCPT TO)"},
        {"a 4xx without an enhanced code gets 4.0.0",
         result(Outcome::deferred, 421, "", "too busy (in reply to MAIL FROM)", Stage::transaction),
         "4.0.0 host mx1.example.net[192.0.2.7]:25 said: 421 too busy (in reply to MAIL FROM)"},
        {"the code's class follows the outcome (a 5.x.x text on a deferral)",
         result(Outcome::deferred, 451, "5.7.1", "odd server", Stage::transaction),
         "4.7.1 host mx1.example.net[192.0.2.7]:25 said: 451 5.7.1 odd server"},
        {"a malformed enhanced code is not passed on",
         result(Outcome::bounced, 554, "5.x.1", "no", Stage::transaction),
         "5.0.0 host mx1.example.net[192.0.2.7]:25 said: 554 5.x.1 no"},
        {"DNS: null MX",
         result(Outcome::bounced, 556, "5.1.10",
                "[internal] example.net does not accept mail (null MX)", Stage::resolve),
         "5.1.10 [internal] example.net does not accept mail (null MX) (next hop "
         "mx1.example.net)"},
        {"a server's text cannot forge a line",
         result(Outcome::bounced, 550, "5.7.1", "no\r\n4.0.0 forged", Stage::transaction),
         "5.7.1 host mx1.example.net[192.0.2.7]:25 said: 550 5.7.1 no\\x0d\\x0a4.0.0 forged"},
    };
    for (const Row& row : rows) {
        INFO(row.what);
        CHECK(pipe_status_line(row.result) == row.line);
    }
}

TEST_CASE("a success names the TLS it went over") {
    AttemptResult r = result(Outcome::sent, 250, "2.0.0", "Ok", Stage::message);
    r.tls.protocol = "TLSv1.3";
    r.tls.cipher = "TLS_AES_256_GCM_SHA384";
    r.tls.verified = "verified";
    // TLS first: Postfix keeps only about 100 characters of a success.
    CHECK(pipe_status_line(r) == "2.0.0 sent over TLSv1.3, verified, TLS_AES_256_GCM_SHA384, to "
                                 "mx1.example.net[192.0.2.7]:25: 250 2.0.0 Ok");
    r.tls.verified = "unverified";
    CHECK(pipe_status_line(r).starts_with("2.0.0 sent over TLSv1.3, not verified, "));
}

TEST_CASE("a very long server text is cut so that the line stays whole") {
    const std::string line = pipe_status_line(
        result(Outcome::bounced, 550, "5.7.1", std::string(5000, 'x'), Stage::transaction));
    CHECK(line.size() < 1000);
    CHECK(line.starts_with("5.7.1 host "));
    CHECK(line.ends_with("..."));
}

TEST_CASE("local failures are always temporary") {
    CHECK(local_failure_status_line("4.3.5", "/etc/mtatls.yaml: 2 errors") ==
          "4.3.5 /etc/mtatls.yaml: 2 errors");
    CHECK(local_failure_status_line("5.3.5", "x") == "4.3.5 x");
    CHECK(local_failure_status_line("", "x") == "4.0.0 x");
}
