// policy_responder.cpp - socketmap request to Postfix policy (see header).
#include "policy_responder.h"

#include "effective_policy.h"
#include "finding_text.h"
#include "policy_key.h"
#include "policy_map.h"

#include <chrono>

namespace mtatls::postfix {
namespace {

// Distinct problems remembered between reloads; beyond this the set starts
// again (a configuration with that many distinct problems has its full
// list in `mtatls-config check --postfix`).
constexpr std::size_t max_reported = 10000;

} // namespace

void PolicyResponder::report_once(const std::string& identity, const std::string& line) {
    if (reported_.size() >= max_reported) reported_.clear();
    if (reported_.insert(identity).second) log_.plain(line);
}

std::string PolicyResponder::respond(const Request& request) {
    const ParsedKey key = parse_policy_key(request.key);
    switch (key.kind) {
    case KeyKind::parent_probe: return make_reply(ReplyStatus::notfound);
    case KeyKind::invalid:
        return make_reply(ReplyStatus::perm,
                          "invalid next-hop " + quote(request.key) + ": " + key.error);
    case KeyKind::next_hop: break;
    }
    const std::string binding(request.name);
    EffectivePolicy effective;
    std::string error;
    if (read_effective_policy(module_, binding, key.next_hop.name, effective, error) !=
        MTATLS_STATUS_OK) {
        report_once("explain\n" + error, "error: cannot resolve policies: " + error);
        return make_reply(ReplyStatus::temp, "mtatls-policyd: " + error);
    }
    const PostfixPolicy policy = map_policy(effective);
    const std::string context =
        " (socketmap name " + quote(request.name) + ", next-hop " + quote(request.key) + ")";
    for (const Finding& finding : policy.findings)
        if (finding.severity == Severity::warning)
            report_once(finding_identity(finding), finding_text(finding, config_file_) + context);
    if (policy.defer)
        return make_reply(ReplyStatus::temp, "mtatls-policyd: " + policy.defer_reason);
    return make_reply(ReplyStatus::ok, policy.text());
}

void PolicyResponder::rejected(std::string_view payload, std::string_view reason) {
    // At most the start of what a client sent: enough to recognise it.
    constexpr std::size_t shown = 200;
    log_.warning("request " + quote(payload.substr(0, shown)) +
                 (payload.size() > shown ? "..." : "") + ": " + std::string(reason) +
                 "; answered PERM");
}

std::string PolicyResponder::answer(const Request& request) {
    ++lookups_;
    if (!verbose_) return respond(request);
    const auto start = std::chrono::steady_clock::now();
    std::string reply = respond(request);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
    log_.info("lookup name=" + quote(request.name) + " key=" + quote(request.key) +
              " reply=" + quote(reply) + " us=" + std::to_string(micros));
    return reply;
}

} // namespace mtatls::postfix
