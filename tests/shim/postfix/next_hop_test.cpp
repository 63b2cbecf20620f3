// next_hop_test.cpp - smtp_tls_policy_maps keys to policy domains.
#include "next_hop.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::postfix;

TEST_CASE("next-hop keys, table-driven") {
    struct Row {
        const char* key;
        NextHopKind kind;
        const char* domain; // or the error
        const char* port;
        bool bracketed;
    };
    const std::vector<Row> rows = {
        {"example.com", NextHopKind::next_hop, "example.com", "", false},
        {"Example.COM.", NextHopKind::next_hop, "example.com", "", false},
        {"[mx.example.com]", NextHopKind::next_hop, "mx.example.com", "", true},
        {"[mx.example.com]:587", NextHopKind::next_hop, "mx.example.com", "587", true},
        {"[mx.example.com]:submission", NextHopKind::next_hop, "mx.example.com", "submission",
         true},
        {"example.com:2525", NextHopKind::next_hop, "example.com", "2525", false},
        {"[192.0.2.1]", NextHopKind::next_hop, "192.0.2.1", "", true},
        {"[192.0.2.1]:25", NextHopKind::next_hop, "192.0.2.1", "25", true},
        {"192.0.2.1:25", NextHopKind::next_hop, "192.0.2.1", "25", false},
        {"[ipv6:2001:DB8::1]:25", NextHopKind::next_hop, "2001:db8::1", "25", true},
        {"[2001:db8::1]", NextHopKind::next_hop, "2001:db8::1", "", true},
        {"mx_1.example.com", NextHopKind::next_hop, "mx_1.example.com", "", false},
        {"localhost", NextHopKind::next_hop, "localhost", "", false},
        {".example.com", NextHopKind::parent_probe, "", "", false},
        {".com", NextHopKind::parent_probe, "", "", false},
        {"", NextHopKind::invalid, "empty key", "", false},
        {"[mx.example.com", NextHopKind::invalid, "'[' without ']'", "", false},
        {"[mx.example.com]587", NextHopKind::invalid, "text after ']' that is not \":port\"", "",
         false},
        {"[mx.example.com]:", NextHopKind::invalid, "invalid port \"\"", "", false},
        {"example.com:0", NextHopKind::invalid, "invalid port \"0\"", "", false},
        {"example.com:65536", NextHopKind::invalid, "invalid port \"65536\"", "", false},
        {"example.com:99999999999999999999", NextHopKind::invalid,
         "invalid port \"99999999999999999999\"", "", false},
        {"example.com:-1", NextHopKind::invalid, "invalid port \"-1\"", "", false},
        {"exa mple.com", NextHopKind::invalid,
         "host name has a character other than letters, digits, '-', '_' and '.'", "", false},
        {"a..b", NextHopKind::invalid, "empty label in host name", "", false},
        {"example.com..", NextHopKind::invalid, "empty label in host name", "", false},
        {"/var/run/lmtp.sock", NextHopKind::invalid,
         "host name has a character other than letters, digits, '-', '_' and '.'", "", false},
        {"[]", NextHopKind::invalid, "empty host name", "", false},
        {"2001:db8::1", NextHopKind::invalid,
         "host name has a character other than letters, digits, '-', '_' and '.'", "", false},
        {"\xc3\xa9.example", NextHopKind::invalid,
         "host name has a character other than letters, digits, '-', '_' and '.'", "", false},
    };
    for (const Row& row : rows) {
        const std::string key = row.key;
        CAPTURE(key);
        const ParsedKey parsed = parse_next_hop(row.key);
        CHECK(parsed.kind == row.kind);
        if (row.kind == NextHopKind::next_hop) {
            CHECK(parsed.next_hop.domain == std::string(row.domain));
            CHECK(parsed.next_hop.port == std::string(row.port));
            CHECK(parsed.next_hop.bracketed == row.bracketed);
        } else if (row.kind == NextHopKind::invalid) {
            CHECK(parsed.error == std::string(row.domain));
        }
    }
}

TEST_CASE("lengths") {
    const std::string label(63, 'a');
    const std::string name = label + "." + label + "." + label + "." + std::string(61, 'b');
    REQUIRE(name.size() == 253);
    CHECK(parse_next_hop(name).kind == NextHopKind::next_hop);
    CHECK(parse_next_hop(name + ".").kind == NextHopKind::next_hop);
    CHECK(parse_next_hop(name + "c").error == "host name longer than 253 bytes");
    CHECK(parse_next_hop(std::string(64, 'a') + ".example").error ==
          "host name label longer than 63 bytes");
    CHECK(parse_next_hop(std::string(max_key_length + 1, 'a')).error ==
          "key longer than 300 bytes");
}
