// protocols.cpp - parsing of `tls_protocols`.
#include "config/protocols.h"

#include "config/directive.h"

#include <algorithm>
#include <array>
#include <utility>

namespace mtatls::config {
namespace {

struct Token {
    const char* name;
    uint8_t bits;
};

constexpr std::array<Token, 8> tokens{{
    {"all", protocol_tls1_2 | protocol_tls1_3},
    {"sslv2", 0},
    {"sslv3", 0},
    {"tlsv1", protocol_tls1_0},
    {"tlsv1.0", protocol_tls1_0},
    {"tlsv1.1", protocol_tls1_1},
    {"tlsv1.2", protocol_tls1_2},
    {"tlsv1.3", protocol_tls1_3},
}};

} // namespace

ProtocolSet parse_protocols(std::string_view text) {
    ProtocolSet set;
    std::size_t start = 0;
    bool any = false;
    while (start <= text.size()) {
        std::size_t end = text.find(':', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view token = text.substr(start, end - start);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
            token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
            token.remove_suffix(1);
        const std::size_t offset = start;
        start = end + 1;
        if (token.empty()) {
            set.error = "empty protocol token";
            set.error_offset = offset;
            return set;
        }
        bool enable = true;
        if (token.front() == '+' || token.front() == '-') {
            enable = token.front() == '+';
            token.remove_prefix(1);
        }
        const std::string name = lowercase(token);
        const Token* found = nullptr;
        for (const Token& t : tokens)
            if (name == t.name) found = &t;
        if (found == nullptr) {
            set.error = "unknown protocol \"" + std::string(token) +
                        "\" (expected ALL, SSLv2, SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3)";
            set.error_offset = offset;
            return set;
        }
        any = true;
        if (found->bits == 0) {
            if (enable)
                set.warnings.push_back(std::string(token) +
                                       " can never be enabled; the token has no effect");
            continue;
        }
        if (enable)
            set.bits = static_cast<uint8_t>(set.bits | found->bits);
        else
            set.bits = static_cast<uint8_t>(set.bits & ~found->bits);
        if (end == text.size()) break;
    }
    if (!any)
        set.error = "no protocol given";
    else if (set.bits == 0)
        set.error = "enables no protocol version";
    return set;
}

std::string protocol_gap_problem(uint8_t bits) {
    static constexpr std::array<std::pair<uint8_t, const char*>, 4> versions{{
        {protocol_tls1_0, "TLSv1.0"},
        {protocol_tls1_1, "TLSv1.1"},
        {protocol_tls1_2, "TLSv1.2"},
        {protocol_tls1_3, "TLSv1.3"},
    }};
    std::size_t lowest = versions.size();
    std::size_t highest = 0;
    for (std::size_t i = 0; i < versions.size(); ++i) {
        if ((bits & versions[i].first) == 0) continue;
        lowest = std::min(lowest, i);
        highest = i;
    }
    std::string missing;
    for (std::size_t i = lowest + 1; i < highest; ++i) {
        if ((bits & versions[i].first) != 0) continue;
        missing += std::string(missing.empty() ? "" : " and ") + versions[i].second;
    }
    if (missing.empty()) return {};
    return "leaves out " + missing + " between " + versions[lowest].second + " and " +
           versions[highest].second +
           "; OpenSSL negotiates a contiguous range only and would offer the lowest part "
           "alone: enable " +
           missing + " too, or remove the versions below it";
}

} // namespace mtatls::config
