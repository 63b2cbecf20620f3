// next_hop.cpp - parsing smtp_tls_policy_maps keys (see next_hop.h).
#include "next_hop.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace mtatls::postfix {
namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Host names as Postfix's valid_hostname() takes them: labels of letters,
// digits, '-' and '_' (which real MX names carry), at most 63 bytes each,
// 253 in all; one trailing dot allowed.
bool valid_hostname(std::string_view name, std::string& why) {
    if (name.ends_with('.')) name.remove_suffix(1);
    if (name.empty()) {
        why = "empty host name";
        return false;
    }
    if (name.size() > 253) {
        why = "host name longer than 253 bytes";
        return false;
    }
    std::size_t label = 0;
    for (const char c : name) {
        if (c == '.') {
            if (label == 0) {
                why = "empty label in host name";
                return false;
            }
            label = 0;
            continue;
        }
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) == 0 && c != '-' && c != '_') {
            why = "host name has a character other than letters, digits, '-', '_' and '.'";
            return false;
        }
        if (++label > 63) {
            why = "host name label longer than 63 bytes";
            return false;
        }
    }
    if (label == 0) {
        why = "empty label in host name";
        return false;
    }
    return true;
}

// A port number or a service name from /etc/services ("submission").
bool valid_port(std::string_view port) {
    if (port.empty() || port.size() > 32) return false;
    if (std::all_of(port.begin(), port.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
        if (port.size() > 5) return false;
        const unsigned long value = std::stoul(std::string(port));
        return value >= 1 && value <= 65535;
    }
    if (std::isalpha(static_cast<unsigned char>(port.front())) == 0) return false;
    return std::all_of(port.begin(), port.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
    });
}

bool is_ipv4(const std::string& text) {
    in_addr address{};
    return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
    in6_addr address{};
    return inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

ParsedKey invalid(std::string why) {
    ParsedKey parsed;
    parsed.error = std::move(why);
    return parsed;
}

} // namespace

ParsedKey parse_next_hop(std::string_view key) {
    if (key.empty()) return invalid("empty key");
    if (key.size() > max_key_length)
        return invalid("key longer than " + std::to_string(max_key_length) + " bytes");
    if (key.front() == '.') {
        ParsedKey parsed;
        parsed.kind = NextHopKind::parent_probe;
        return parsed;
    }
    NextHop hop;
    std::string_view host;
    if (key.front() == '[') {
        const auto close = key.find(']');
        if (close == std::string_view::npos) return invalid("'[' without ']'");
        host = key.substr(1, close - 1);
        std::string_view after = key.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return invalid("text after ']' that is not \":port\"");
            hop.port = std::string(after.substr(1));
            if (!valid_port(hop.port)) return invalid("invalid port \"" + hop.port + "\"");
        }
        hop.bracketed = true;
        // Postfix writes IPv6 literals as [ipv6:2001:db8::1].
        std::string literal(host);
        if (literal.size() > 5 && lower(literal.substr(0, 5)) == "ipv6:") literal.erase(0, 5);
        if (is_ipv4(literal) || is_ipv6(literal)) {
            hop.ip_literal = true;
            hop.domain = lower(literal);
            ParsedKey parsed;
            parsed.kind = NextHopKind::next_hop;
            parsed.next_hop = std::move(hop);
            return parsed;
        }
    } else {
        host = key;
        if (const auto colon = key.rfind(':'); colon != std::string_view::npos) {
            host = key.substr(0, colon);
            hop.port = std::string(key.substr(colon + 1));
            if (!valid_port(hop.port)) return invalid("invalid port \"" + hop.port + "\"");
        }
        if (is_ipv4(std::string(host))) {
            hop.ip_literal = true;
            hop.domain = std::string(host);
            ParsedKey parsed;
            parsed.kind = NextHopKind::next_hop;
            parsed.next_hop = std::move(hop);
            return parsed;
        }
    }
    std::string why;
    if (!valid_hostname(host, why)) return invalid(why);
    hop.domain = lower(host);
    if (hop.domain.ends_with('.')) hop.domain.pop_back();
    ParsedKey parsed;
    parsed.kind = NextHopKind::next_hop;
    parsed.next_hop = std::move(hop);
    return parsed;
}

} // namespace mtatls::postfix
