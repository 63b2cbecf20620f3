// postfix_protocols.cpp - tls_protocols to protocols= (see the header).
#include "postfix_protocols.h"

#include "ascii_case.h"

#include <array>

namespace mtatls::postfix {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

// Lowest first, as OpenSSL's range is read.
constexpr std::array<uint8_t, 4> ascending = {tls1_0, tls1_1, tls1_2, tls1_3};

} // namespace

const char* postfix_protocol_name(uint8_t bit) {
    switch (bit) {
    case tls1_0: return "TLSv1";
    case tls1_1: return "TLSv1.1";
    case tls1_2: return "TLSv1.2";
    case tls1_3: return "TLSv1.3";
    default: return "?";
    }
}

ProtocolMapping map_protocols(std::string_view tls_protocols, bool tls13_suites_empty) {
    ProtocolMapping mapping;
    uint8_t bits = 0;
    std::string_view rest = tls_protocols;
    for (;;) {
        const auto colon = rest.find(':');
        std::string_view token = trim(rest.substr(0, colon));
        bool add = true;
        if (!token.empty() && (token.front() == '+' || token.front() == '-')) {
            add = token.front() == '+';
            token.remove_prefix(1);
        }
        const std::string name = host::ascii_lower(token);
        uint8_t these = 0;
        if (name == "all")
            these = tls1_2 | tls1_3;
        else if (name == "tlsv1.3")
            these = tls1_3;
        else if (name == "tlsv1.2")
            these = tls1_2;
        else if (name == "tlsv1.1")
            these = tls1_1;
        else if (name == "tlsv1.0" || name == "tlsv1")
            these = tls1_0;
        else if (name != "sslv2" && name != "sslv3") {
            mapping.error = "cannot read tls_protocols \"" + std::string(tls_protocols) + "\"";
            return mapping;
        }
        bits = add ? static_cast<uint8_t>(bits | these) : static_cast<uint8_t>(bits & ~these);
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    mapping.enabled = bits;
    if (tls13_suites_empty) bits = static_cast<uint8_t>(bits & ~tls1_3);
    // The lowest contiguous run of enabled versions.
    uint8_t low = 0;
    uint8_t high = 0;
    for (const uint8_t bit : ascending) {
        if ((bits & bit) != 0) {
            if (low == 0) low = bit;
            high = bit;
        } else if (low != 0) {
            break;
        }
    }
    if (low == 0) {
        mapping.error = "tls_protocols \"" + std::string(tls_protocols) + "\"" +
                        (tls13_suites_empty && (mapping.enabled & tls1_3) != 0
                             ? " with no TLS 1.3 suites (tlsv13_ciphersuites is empty)"
                             : "") +
                        " leaves no protocol version";
        return mapping;
    }
    for (const uint8_t bit : ascending)
        if (bit >= low && bit <= high)
            mapping.effective = static_cast<uint8_t>(mapping.effective | bit);
    mapping.attribute = std::string(">=") + postfix_protocol_name(low);
    if (high != tls1_3) mapping.attribute += std::string(":<=") + postfix_protocol_name(high);
    mapping.legacy = low <= tls1_1;
    mapping.ok = true;
    return mapping;
}

} // namespace mtatls::postfix
