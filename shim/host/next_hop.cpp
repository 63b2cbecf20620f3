// next_hop.cpp - parsing the next-hop forms (see next_hop.h).
#include "next_hop.h"

#include "ascii_case.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace mtatls::host {
namespace {

constexpr std::size_t max_name_length = 253; // RFC 1035, without the final dot
constexpr std::size_t max_label_length = 63;
constexpr std::size_t max_service_length = 32; // a service name, at most

bool is_ipv4(const std::string& text) {
    in_addr address{};
    return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
    in6_addr address{};
    return inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// A service name as Postfix takes one: a letter, then letters, digits and
// '-' (what /etc/services lists).
bool is_service_name(std::string_view text) {
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    return !text.empty() && text.size() <= max_service_length && letter(text.front()) &&
           std::all_of(text.begin(), text.end(),
                       [&](char c) { return letter(c) || (c >= '0' && c <= '9') || c == '-'; });
}

bool parse_port(std::string_view text, NextHopSyntax syntax, NextHop& hop, std::string& error) {
    if (syntax.service_names && is_service_name(text)) {
        hop.port = 0;
        hop.service = std::string(text);
        return true;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
        value > 65535) {
        error =
            "invalid port " + quoted(text) +
            (syntax.service_names ? " (want 1 to 65535 or a service name)" : " (want 1 to 65535)");
        return false;
    }
    hop.port = static_cast<uint16_t>(value);
    return true;
}

bool starts_with_ipv6_tag(std::string_view text) {
    constexpr std::string_view tag = "ipv6:";
    if (text.size() < tag.size()) return false;
    for (std::size_t i = 0; i < tag.size(); ++i)
        if (ascii_lower(text[i]) != tag[i]) return false;
    return true;
}

std::optional<NextHop> fail(std::string& error, std::string message) {
    error = std::move(message);
    return std::nullopt;
}

} // namespace

std::string host_name_problem(std::string_view name) {
    if (name.empty()) return "is empty";
    if (name.back() == '.') name.remove_suffix(1);
    if (name.empty()) return "is only a dot";
    if (name.size() > max_name_length)
        return "is longer than " + std::to_string(max_name_length) + " characters";
    bool all_numeric = true;
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            const std::size_t length = i - label_start;
            if (length == 0) return "has an empty label";
            if (length > max_label_length)
                return "has a label longer than " + std::to_string(max_label_length) +
                       " characters";
            label_start = i + 1;
            continue;
        }
        const char c = name[i];
        const bool digit = c >= '0' && c <= '9';
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!digit && !letter && c != '-' && c != '_') {
            if (static_cast<unsigned char>(c) >= 0x80)
                return "is not ASCII (write an internationalized name in its xn-- form)";
            return "contains a character other than letters, digits, '-', '_' and '.'";
        }
        all_numeric = all_numeric && digit;
    }
    if (all_numeric) return "is all digits and dots but not an IPv4 address";
    return {};
}

std::string canonical_name(std::string_view name) {
    if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
    return ascii_lower(name);
}

std::optional<NextHop> parse_next_hop(std::string_view text, std::string& error,
                                      NextHopSyntax syntax) {
    NextHop hop;
    if (text.empty()) return fail(error, "empty next hop");
    std::string_view host = text;
    std::string_view port_text;
    bool bracketed = false;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return fail(error, "missing ']' in " + quoted(text));
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return fail(error, "unexpected text after ']' in " + quoted(text) +
                                       " (want [HOST] or [HOST]:PORT)");
            port_text = rest.substr(1);
            if (port_text.empty()) return fail(error, "empty port in " + quoted(text));
        }
        bracketed = true;
    } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
        if (text.find(':', colon + 1) != std::string_view::npos) {
            // Two colons or more: only a bare IPv6 address (without a port)
            // makes sense; [ADDRESS]:PORT is the way to give one a port.
            if (!is_ipv6(std::string(text)))
                return fail(error, quoted(text) +
                                       " is neither HOST:PORT nor an IPv6 address (write IPv6 "
                                       "addresses as [ADDRESS] or [ADDRESS]:PORT)");
            hop.kind = NextHopKind::ip_literal;
            hop.name = canonical_name(text);
            return hop;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (port_text.empty()) return fail(error, "empty port in " + quoted(text));
    }
    if (!port_text.empty() && !parse_port(port_text, syntax, hop, error)) return std::nullopt;
    if (host.empty()) return fail(error, "empty host name in " + quoted(text));

    // RFC 5321 §4.1.3 writes an IPv6 address literal as [IPv6:...].
    if (bracketed && starts_with_ipv6_tag(host)) {
        const std::string address(host.substr(5));
        if (!is_ipv6(address))
            return fail(error, quoted(text) + " has an IPv6: tag but no IPv6 address");
        hop.kind = NextHopKind::ip_literal;
        hop.name = canonical_name(address);
        return hop;
    }
    const std::string name(host);
    if (is_ipv4(name) || (bracketed && is_ipv6(name))) {
        hop.kind = NextHopKind::ip_literal;
        hop.name = canonical_name(name);
        return hop;
    }
    if (const std::string why = host_name_problem(name); !why.empty())
        return fail(error, (bracketed ? "host name " : "domain ") + quoted(name) + " " + why);
    hop.kind = bracketed ? NextHopKind::host_lookup : NextHopKind::mx_lookup;
    hop.name = canonical_name(name);
    return hop;
}

std::string describe(const NextHop& hop) {
    std::string text;
    switch (hop.kind) {
    case NextHopKind::mx_lookup: text = hop.name; break;
    case NextHopKind::host_lookup: text = "[" + hop.name + "]"; break;
    case NextHopKind::ip_literal:
        text = hop.name.find(':') != std::string::npos ? "[" + hop.name + "]" : hop.name;
        break;
    }
    if (!hop.service.empty())
        text += ":" + hop.service;
    else if (hop.port != 25)
        text += ":" + std::to_string(hop.port);
    return text;
}

} // namespace mtatls::host
