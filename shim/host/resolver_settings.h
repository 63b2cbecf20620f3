// resolver_settings.h - which DNS servers the host asks: the `resolver`
// directive (global scope; the module checks its syntax at load time) or
// mtatls-send's --resolver, which wins; without either, the system
// resolver configuration (/etc/resolv.conf).
//
// The value is one or more ADDR[@PORT] (IPv4 or IPv6 address, port 53 by
// default), separated by spaces or commas: the form libunbound's
// ub_ctx_set_fwd takes, so an IPv6 address needs no brackets.  The host
// reads the directive like the log settings (log_settings.h): through
// CONFIG_EXPLAIN on an empty policy key (explain.h).
#pragma once

#include "module_loader.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

inline constexpr const char* resolver_directive = "resolver";

struct DnsServer {
    std::string address; // numeric, as written
    uint16_t port = 53;

    // "ADDR@PORT", for ub_ctx_set_fwd and messages.
    [[nodiscard]] std::string text() const;
    friend bool operator==(const DnsServer&, const DnsServer&) = default;
};

// Parses the list; nullopt with `error` set (naming the entry at fault)
// when an entry is not ADDR or ADDR@PORT or the list is empty.
std::optional<std::vector<DnsServer>> parse_dns_servers(std::string_view text, std::string& error);

// The `resolver` value of the configuration loaded into `module`, "" when
// it is not set (or the module does not know the directive).  A failed
// CONFIG_EXPLAIN is added to `problems`.
std::string read_resolver_setting(const Module& module, std::vector<std::string>& problems);

} // namespace mtatls::host
