// postfix_protocols.h - mtatls `tls_protocols` as the value of Postfix's
// `protocols=` policy attribute.
//
// mtatls applies "+NAME"/"-NAME" tokens to an empty set (ALL = TLS 1.2 and
// 1.3; TLS 1.0/1.1 only when named).  OpenSSL cannot offer a set with a
// hole: from the versions enabled it uses the lowest contiguous run (the
// same in mtatls, which sets the range and the holes, and in Postfix,
// whose manual says so for its exclusion syntax).  That run is written
// with Postfix 3.6's bounds, colon-separated as the policy table needs:
// ">=TLSv1.2", or ">=TLSv1:<=TLSv1.1" when the top is below TLS 1.3.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mtatls::postfix {

enum ProtocolBit : uint8_t {
    tls1_0 = 1,
    tls1_1 = 2,
    tls1_2 = 4,
    tls1_3 = 8,
};

struct ProtocolMapping {
    bool ok = false;
    std::string error;     // when !ok: unparsable, or no version left
    uint8_t enabled = 0;   // what the directive enables
    uint8_t effective = 0; // the lowest contiguous run OpenSSL will use
    std::string attribute; // ">=TLSv1.2" (the value of protocols=)
    bool legacy = false;   // TLS 1.0 or 1.1 in the effective range
};

// Parses mtatls's tls_protocols.  Without TLS 1.3 suites
// (`tls13_suites_empty`) OpenSSL cannot negotiate TLS 1.3, so it is left
// out of the range.
ProtocolMapping map_protocols(std::string_view tls_protocols, bool tls13_suites_empty);

// "TLSv1", "TLSv1.1", ... (Postfix's names) for one bit.
const char* postfix_protocol_name(uint8_t bit);

} // namespace mtatls::postfix
