// policy_key.h - what a smtp_tls_policy_maps key names.
//
// Postfix looks its TLS policy table up by the next-hop destination of a
// delivery (postconf(5), smtp_tls_policy_maps): the recipient domain
// ("example.com"), or the destination a transport, relayhost or
// relay_transport gives, verbatim with its brackets and any non-default
// port ("[mx.example.com]:587", "example.com:2525", "[192.0.2.1]",
// "[relay.example]:submission").  Those are mtatls-send's next-hop forms,
// so the key is read by shim/host's parser (next_hop.h), with service
// names allowed for ports; this layer adds what is particular to the
// policy table.
//
// mtatls resolves a policy for a domain, so the policy domain is the
// parsed name (lower case, without brackets, port and trailing dot).  For
// a plain domain that is not found, Postfix tries the parent domains as
// ".example.com", ".com".  Parent probes never reach mtatls: it has an
// answer for every full name already (its domain stanzas, else the
// binding's and global values), so a key starting with '.' is answered
// NOTFOUND.
#pragma once

#include "next_hop.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::postfix {

enum class KeyKind {
    next_hop,     // a destination mtatls resolves
    parent_probe, // ".example.com": Postfix's parent-domain retry
    invalid       // not a Postfix next-hop; `error` says why
};

struct ParsedKey {
    KeyKind kind = KeyKind::invalid;
    host::NextHop next_hop; // with kind next_hop: next_hop.name is the policy domain
    std::string error;
};

// Longest key accepted: a 253-byte name, brackets, "ipv6:" and a port.
inline constexpr std::size_t max_key_length = 300;

ParsedKey parse_policy_key(std::string_view key);

} // namespace mtatls::postfix
