// protocols.h - the `tls_protocols` mini-language (`+ALL:-TLSv1.3`).
//
// Tokens are applied left to right to an empty set.  `ALL` means TLS 1.2
// and 1.3 (what OpenSSL 3 enables by default); TLS 1.0/1.1 only when named.
// SSLv2/SSLv3 tokens are accepted for compatibility but can never enable
// anything.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::config {

enum ProtocolBits : uint8_t {
    protocol_tls1_0 = 1,
    protocol_tls1_1 = 2,
    protocol_tls1_2 = 4,
    protocol_tls1_3 = 8,
};

struct ProtocolSet {
    uint8_t bits = 0;
    std::vector<std::string> warnings; // e.g. SSLv3 has no effect
    std::string error;                 // empty when valid
    std::size_t error_offset = 0;      // byte offset of the bad token

    [[nodiscard]] bool has(ProtocolBits bit) const { return (bits & bit) != 0; }
    [[nodiscard]] bool legacy() const { return (bits & (protocol_tls1_0 | protocol_tls1_1)) != 0; }
};

ProtocolSet parse_protocols(std::string_view text);

// Why `bits` cannot be used as it stands, or "": OpenSSL negotiates a
// contiguous range of versions only, and with a version missing in the
// middle a client offers the lowest run alone (TLS 1.0, 1.2 and 1.3 means
// TLS 1.0 only), which is never what the set says.
std::string protocol_gap_problem(uint8_t bits);

} // namespace mtatls::config
