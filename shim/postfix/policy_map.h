// policy_map.h - an effective mtatls policy as a Postfix TLS policy:
// the right-hand side of an smtp_tls_policy_maps entry
// ("verify match=hostname:nexthop protocols=>=TLSv1.2 ..."), plus what
// Postfix cannot express, as findings that name the directive and where
// it was set.  Nothing is dropped silently: every directive either maps
// exactly, maps to a stated approximation with a warning, or is one that
// has no outbound effect.
//
// The table, and why each row is what it is, is in docs/postfix.md
// ("Mapping"); policy_map_test.cpp checks it row by row.  In short:
//
//   tls = no                       none
//   tls = ifavailable              may   (tls_verify ca/host: may + warning)
//   tls = required                 encrypt
//     + tls_verify = host          verify match=hostname:nexthop
//     + tls_verify = ca            the same, + warning (Postfix always checks a name)
//   tls_ca                         tafile= (verify only)
//   tls_protocols                  protocols=>=TLSv1.2[:<=...]
//   tls_ciphers                    ciphers=GRADE exclude=...
//   (always, with TLS)             servername=hostname (mtatls sends SNI)
#pragma once

#include "effective_policy.h"

#include <string>
#include <utility>
#include <vector>

namespace mtatls::postfix {

enum class Severity { warning, note };

struct Finding {
    std::string id; // stable: "ifavailable-verify", "ca-needs-name", ...
    Severity severity = Severity::warning;
    Setting setting;     // the directive that causes it, with its origin
    std::string message; // one line, no origin
};

struct PostfixPolicy {
    // The policy cannot be carried without weakening it in a way no
    // approximation covers (a tafile path Postfix cannot parse, no
    // protocol left): the lookup answers TEMP and Postfix defers.
    bool defer = false;
    std::string defer_reason;

    std::string level; // none, may, encrypt, verify
    std::vector<std::pair<std::string, std::string>> attributes;
    std::vector<Finding> findings;

    // "LEVEL name=value ...": the socketmap OK data.
    [[nodiscard]] std::string text() const;
    [[nodiscard]] bool has_finding(std::string_view id) const;
};

PostfixPolicy map_policy(const EffectivePolicy& policy);

// The mtatls defaults the mapping assumes for a directive the module did
// not report (an older module); "" when it has none.
std::string_view mtatls_default(std::string_view directive);

} // namespace mtatls::postfix
