// next_hop.h - what a smtp_tls_policy_maps key names.
//
// Postfix looks its TLS policy table up by the next-hop destination of a
// delivery (postconf(5), smtp_tls_policy_maps): the recipient domain
// ("example.com"), or the destination a transport, relayhost or
// relay_transport gives, verbatim with its brackets and any non-default
// port ("[mx.example.com]:587", "example.com:2525", "[192.0.2.1]").  For a
// plain domain that is not found, Postfix tries the parent domains as
// ".example.com", ".com".
//
// mtatls resolves a policy for a domain, so the policy domain is the key
// without brackets and port.  Parent probes never reach mtatls: it has an
// answer for every full name already (its domain stanzas, else the
// binding's and global values), so a key starting with '.' is answered
// NOTFOUND.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mtatls::postfix {

struct NextHop {
    std::string domain;     // the policy domain, lower case, no trailing dot
    std::string port;       // "" or the port/service after the name
    bool bracketed = false; // "[...]": an explicit host, no MX lookup
    bool ip_literal = false;
};

enum class NextHopKind {
    next_hop,     // a destination mtatls resolves
    parent_probe, // ".example.com": Postfix's parent-domain retry
    invalid       // not a Postfix next-hop; `error` says why
};

struct ParsedKey {
    NextHopKind kind = NextHopKind::invalid;
    NextHop next_hop;
    std::string error;
};

// Longest key accepted: a 253-byte name, brackets, "ipv6:" and a port.
inline constexpr std::size_t max_key_length = 300;

ParsedKey parse_next_hop(std::string_view key);

} // namespace mtatls::postfix
