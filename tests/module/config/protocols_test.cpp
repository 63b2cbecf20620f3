// protocols_test.cpp - the tls_protocols mini-language.
#include "config/protocols.h"

#include <doctest/doctest.h>

using namespace mtatls::config;

TEST_CASE("tls_protocols strings enable the right versions") {
    struct Case {
        const char* text;
        uint8_t bits;
        const char* error; // substring, or nullptr
        std::size_t warnings;
    };
    const Case cases[] = {
        {"+ALL", protocol_tls1_2 | protocol_tls1_3, nullptr, 0},
        {"ALL", protocol_tls1_2 | protocol_tls1_3, nullptr, 0},
        {"+all:-tlsv1.3", protocol_tls1_2, nullptr, 0},
        {"+ALL:-SSLv2:-SSLv3", protocol_tls1_2 | protocol_tls1_3, nullptr, 0},
        {"+ALL:+TLSv1.0:+TLSv1.1", 15, nullptr, 0},
        {"+TLSv1", protocol_tls1_0, nullptr, 0},
        {"+TLSv1.3", protocol_tls1_3, nullptr, 0},
        {" +ALL : -TLSv1.2 ", protocol_tls1_3, nullptr, 0},
        {"+ALL:+SSLv3", protocol_tls1_2 | protocol_tls1_3, nullptr, 1},
        {"+SSLv2:+SSLv3:+TLSv1.2", protocol_tls1_2, nullptr, 2},
        {"", 0, "empty protocol token", 0},
        {"+ALL:", 0, "empty protocol token", 0},
        {"+TLSv1.4", 0, "unknown protocol \"TLSv1.4\"", 0},
        {"*ALL", 0, "unknown protocol", 0},
        {"-ALL", 0, "enables no protocol version", 0},
        {"+SSLv3", 0, "enables no protocol version", 1},
    };
    for (const Case& c : cases) {
        const ProtocolSet set = parse_protocols(c.text);
        INFO("\"", c.text, "\" -> error \"", set.error, "\"");
        if (c.error != nullptr) {
            CHECK(set.error.find(c.error) != std::string::npos);
        } else {
            CHECK(set.error.empty());
            CHECK_MESSAGE(set.bits == c.bits, "bits: got ", int(set.bits), ", want ", int(c.bits));
        }
        CHECK(set.warnings.size() == c.warnings);
    }
}

TEST_CASE("a set with a version missing in the middle is refused") {
    // OpenSSL would offer the lowest contiguous run alone: with TLS 1.0,
    // 1.2 and 1.3 a client offers TLS 1.0 only.
    struct Case {
        uint8_t bits;
        const char* problem; // substring, or "" for a usable set
    };
    const Case cases[] = {
        {protocol_tls1_2 | protocol_tls1_3, ""},
        {protocol_tls1_3, ""},
        {15, ""},
        {protocol_tls1_0 | protocol_tls1_1, ""},
        {protocol_tls1_0 | protocol_tls1_2 | protocol_tls1_3,
         "leaves out TLSv1.1 between TLSv1.0 and TLSv1.3"},
        {protocol_tls1_1 | protocol_tls1_3, "leaves out TLSv1.2 between TLSv1.1 and TLSv1.3"},
        {protocol_tls1_0 | protocol_tls1_3,
         "leaves out TLSv1.1 and TLSv1.2 between TLSv1.0 and TLSv1.3"},
    };
    for (const Case& c : cases) {
        INFO("bits ", int(c.bits));
        const std::string problem = protocol_gap_problem(c.bits);
        if (*c.problem == '\0')
            CHECK(problem.empty());
        else
            CHECK(problem.find(c.problem) != std::string::npos);
    }
}
