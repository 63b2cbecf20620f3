// failover_test.cpp - which failed attempts pass the message on to the next
// MX host: every stage crossed with every outcome, and the transaction
// stage by its recipients.
#include "failover.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::host;

namespace {

AttemptResult result(Outcome outcome, Stage stage, std::vector<Outcome> recipients = {}) {
    AttemptResult r;
    r.outcome = outcome;
    r.stage = stage;
    for (std::size_t i = 0; i < recipients.size(); ++i)
        r.recipients.push_back(
            {"r" + std::to_string(i) + "@example.com", recipients[i], 0, "", ""});
    return r;
}

const char* stage_name(Stage stage) {
    switch (stage) {
    case Stage::resolve: return "resolve";
    case Stage::connect: return "connect";
    case Stage::greeting: return "greeting";
    case Stage::hello: return "hello";
    case Stage::tls: return "tls";
    case Stage::transaction: return "transaction";
    case Stage::message: return "message";
    case Stage::local: return "local";
    }
    return "?";
}

} // namespace

TEST_CASE("a deferred attempt tries the next MX when the failure concerns that server") {
    const auto D = Outcome::deferred;
    struct Case {
        Stage stage;
        bool next;
        const char* why;
    };
    const Case cases[] = {
        {Stage::connect, true, "no connection (refused, timed out, unreachable)"},
        {Stage::greeting, true, "a 4xx or 5xx banner, a silent or garbled one"},
        {Stage::hello, true, "EHLO/HELO refused or lost"},
        {Stage::tls, true, "STARTTLS missing under required, refused, handshake, certificate"},
        {Stage::transaction, true, "a 4xx to MAIL FROM shared by every recipient"},
        {Stage::message, false, "the server may hold the message: no second copy elsewhere"},
        {Stage::local, false, "this side's problem meets every MX alike"},
        {Stage::resolve, false, "no attempt was made"},
    };
    for (const Case& c : cases) {
        CHECK_MESSAGE(try_next_mx(result(D, c.stage, {D, D})) == c.next, stage_name(c.stage), ": ",
                      c.why);
        // Sent and bounced never move on, at any stage.
        CHECK_MESSAGE(!try_next_mx(result(Outcome::sent, c.stage, {Outcome::sent})),
                      stage_name(c.stage));
        CHECK_MESSAGE(!try_next_mx(result(Outcome::bounced, c.stage, {Outcome::bounced})),
                      stage_name(c.stage));
    }
}

TEST_CASE("in the transaction, only a deferral every recipient shares moves on") {
    const auto D = Outcome::deferred;
    const auto B = Outcome::bounced;
    struct Case {
        const char* name;
        std::vector<Outcome> recipients;
        bool next;
    };
    const Case cases[] = {
        {"one recipient deferred (greylisting at this MX)", {D}, true},
        {"all deferred", {D, D, D}, true},
        {"one bounced, one deferred: the next MX would be offered the bounced one again",
         {B, D},
         false},
        {"no recipient list at all", {}, true},
    };
    for (const Case& c : cases)
        CHECK_MESSAGE(try_next_mx(result(D, Stage::transaction, c.recipients)) == c.next, c.name);
    // A 5xx to RCPT for every recipient makes the attempt bounced: no next MX.
    CHECK_FALSE(try_next_mx(result(B, Stage::transaction, {B, B})));
}
