// policy_key.cpp - smtp_tls_policy_maps keys (see policy_key.h).
#include "policy_key.h"

#include <utility>

namespace mtatls::postfix {
namespace {

ParsedKey with_kind(KeyKind kind, std::string error = {}) {
    ParsedKey parsed;
    parsed.kind = kind;
    parsed.error = std::move(error);
    return parsed;
}

} // namespace

ParsedKey parse_policy_key(std::string_view key) {
    if (key.size() > max_key_length)
        return with_kind(KeyKind::invalid,
                         "key longer than " + std::to_string(max_key_length) + " bytes");
    if (key.starts_with('.')) return with_kind(KeyKind::parent_probe);
    ParsedKey parsed;
    auto hop = host::parse_next_hop(key, parsed.error, {.service_names = true});
    if (!hop) return parsed;
    // Postfix splits an unbracketed next-hop at its last ':' (host:port),
    // so it never sends a bare IPv6 address; mtatls-send takes one.
    if (hop->kind == host::NextHopKind::ip_literal && !key.starts_with('[') &&
        hop->name.find(':') != std::string::npos)
        return with_kind(KeyKind::invalid,
                         "an IPv6 address in a next-hop is written in brackets ([ipv6:ADDRESS])");
    parsed.kind = KeyKind::next_hop;
    parsed.next_hop = std::move(*hop);
    return parsed;
}

} // namespace mtatls::postfix
