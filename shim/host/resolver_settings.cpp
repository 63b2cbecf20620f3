// resolver_settings.cpp - the DNS server list and the `resolver` directive
// (see resolver_settings.h).
#include "resolver_settings.h"

#include "explain.h"

#include <arpa/inet.h>

#include <charconv>

namespace mtatls::host {
namespace {

bool is_address(const std::string& text) {
    in_addr v4{};
    in6_addr v6{};
    return inet_pton(AF_INET, text.c_str(), &v4) == 1 ||
           inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

} // namespace

std::string DnsServer::text() const { return address + "@" + std::to_string(port); }

std::optional<std::vector<DnsServer>> parse_dns_servers(std::string_view text, std::string& error) {
    std::vector<DnsServer> servers;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ' || text[i] == ',' || text[i] == '\t') {
            ++i;
            continue;
        }
        const std::size_t end = text.find_first_of(" ,\t", i);
        const std::string_view entry =
            text.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
        i = end == std::string_view::npos ? text.size() : end;

        DnsServer server;
        const std::size_t at = entry.find('@');
        server.address = std::string(entry.substr(0, at));
        if (!is_address(server.address)) {
            error = quoted(entry) +
                    " is not ADDR or ADDR@PORT with an IPv4 or IPv6 address (no names, no "
                    "brackets: 192.0.2.53, 192.0.2.53@5353, 2001:db8::53@53)";
            return std::nullopt;
        }
        if (at != std::string_view::npos) {
            const std::string_view port = entry.substr(at + 1);
            unsigned value = 0;
            const auto [stop, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
            if (port.empty() || ec != std::errc() || stop != port.data() + port.size() ||
                value == 0 || value > 65535) {
                error = "invalid port in " + quoted(entry) + " (want 1 to 65535)";
                return std::nullopt;
            }
            server.port = static_cast<uint16_t>(value);
        }
        servers.push_back(std::move(server));
    }
    if (servers.empty()) {
        error = "no DNS server address given";
        return std::nullopt;
    }
    return servers;
}

std::string read_resolver_setting(const Module& module, std::vector<std::string>& problems) {
    Explanation explained = explain(module, {}, {resolver_directive});
    problems.insert(problems.end(), explained.errors.begin(), explained.errors.end());
    if (explained.status != MTATLS_STATUS_OK && explained.status != MTATLS_STATUS_NOT_FOUND)
        problems.push_back(std::string("cannot read the resolver setting: ") +
                           status_text(explained.status));
    for (ExplainedSetting& setting : explained.settings)
        // The built-in default is shown as "(system resolver ...)": not a
        // value, it means "no resolver set".
        if (!setting.is_default()) return std::move(setting.value);
    return {};
}

} // namespace mtatls::host
