// next_hop.h - the forms of mtatls-send's --next-hop, as Postfix writes a
// next-hop destination, and which lookups each form asks for:
//
//   example.com        example.com:2525   MX lookup of example.com (RFC 5321
//                                         §5.1), every MX host on that port
//   [mx.example.com]   [mx.example.com]:2525
//                                         that host's A/AAAA records, no MX
//   192.0.2.25   [192.0.2.25]   [2001:db8::25]   [IPv6:2001:db8::25]
//   (each with an optional :PORT), and a bare IPv6 address without a port
//                                         that address, no DNS at all
//
// Parsing is pure (no DNS), so the forms can be tested as a table.  The
// Postfix policy daemon reads its smtp_tls_policy_maps keys with the same
// parser (shim/postfix/policy_key.h), allowing service names for ports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtatls::host {

enum class NextHopKind {
    mx_lookup,   // a domain: its MX hosts, or the domain itself (implicit MX)
    host_lookup, // [name]: the name's addresses
    ip_literal   // an address: no lookup
};

struct NextHop {
    NextHopKind kind = NextHopKind::mx_lookup;
    // The domain or host name (lower case, without a trailing dot), or the
    // numeric address (without brackets or an "IPv6:" tag).
    std::string name;
    uint16_t port = 25;
    // A service name written where the port goes ("[relay.example]:submission"),
    // with NextHopSyntax::service_names only; `port` is 0 then: the name is
    // not looked up here.  (Initialised, so {kind, name, port} stays a
    // complete initialiser.)
    std::string service{};

    friend bool operator==(const NextHop&, const NextHop&) = default;
};

// Where Postfix's next-hop syntax is wider than what mtatls-send connects to.
struct NextHopSyntax {
    // Postfix takes a service name from /etc/services for a port in any
    // next-hop (relayhost = [relay.example]:submission), so a policy table
    // key may carry one; mtatls-send connects by number only.
    bool service_names = false;
};

// Parses TEXT; nullopt with `error` set (one line, naming the problem and
// the form expected) for anything else.
std::optional<NextHop> parse_next_hop(std::string_view text, std::string& error,
                                      NextHopSyntax syntax = {});

// Why `name` cannot be a host or domain name to look up in DNS ("" when
// it can): ASCII letters, digits, '-' and '_' in labels of 1-63
// characters, at most 253 characters, one trailing dot allowed, not all
// labels numeric (that is an IPv4 address or a typo of one).  Names from
// DNS answers (MX hosts) are checked with the same rule before they reach
// a log line, SNI or a certificate check.
std::string host_name_problem(std::string_view name);

// `name` in lower case without one trailing dot: how names are compared,
// logged and handed to the module.
std::string canonical_name(std::string_view name);

// "domain", "[name]" or the address, with ":port" when it is not 25 (or
// ":service"): the next hop written back the way it was meant (for
// messages).
std::string describe(const NextHop& hop);

} // namespace mtatls::host
