// policy_key_test.cpp - smtp_tls_policy_maps keys to policy domains: the
// rules of the policy table on top of shim/host's next-hop parser (parent
// probes, service-name ports, the key length, no bare IPv6).  The next-hop
// forms themselves are tested in tests/shim/host/next_hop_test.cpp.
#include "policy_key.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::postfix;

namespace {

constexpr auto next_hop = KeyKind::next_hop;
constexpr auto probe = KeyKind::parent_probe;
constexpr auto invalid = KeyKind::invalid;

} // namespace

TEST_CASE("policy table keys, table-driven") {
    struct Row {
        std::string key;
        KeyKind kind;
        std::string want; // the policy domain, or a substring of the error
    };
    const std::string longest_name = std::string(63, 'a') + "." + std::string(63, 'a') + "." +
                                     std::string(63, 'a') + "." + std::string(61, 'b');
    const std::vector<Row> rows = {
        // What Postfix sends: the recipient domain or a transport's next-hop.
        {"example.com", next_hop, "example.com"},
        {"Example.COM.", next_hop, "example.com"},
        {"example.com:2525", next_hop, "example.com"},
        {"[mx.example.com]", next_hop, "mx.example.com"},
        {"[mx.example.com]:587", next_hop, "mx.example.com"},
        {"[mx.example.com]:submission", next_hop, "mx.example.com"}, // a service name
        {"mx.example.com:smtp", next_hop, "mx.example.com"},
        {"[192.0.2.1]", next_hop, "192.0.2.1"},
        {"192.0.2.1:25", next_hop, "192.0.2.1"},
        {"[ipv6:2001:DB8::1]:25", next_hop, "2001:db8::1"},
        {"[2001:db8::1]", next_hop, "2001:db8::1"},
        {longest_name + ".", next_hop, longest_name},
        // Postfix's parent-domain retries: answered NOTFOUND.
        {".example.com", probe, ""},
        {".com", probe, ""},
        {".", probe, ""},
        // Not a next-hop: answered PERM.
        {"", invalid, "empty next hop"},
        {"bad key", invalid, "domain \"bad key\" contains a character other than"},
        {"/var/run/lmtp.sock", invalid, "contains a character other than"},
        {"[mx.example.com", invalid, "missing ']'"},
        {"example.com:0", invalid, "invalid port \"0\" (want 1 to 65535 or a service name)"},
        {"example.com:sub_mission", invalid, "invalid port"},
        {"2001:db8::1", invalid, "in brackets"}, // Postfix would split it at the last ':'
        {"::1", invalid, "in brackets"},
        {std::string(max_key_length, 'a'), invalid, "longer than 253 characters"},
        {std::string(max_key_length + 1, 'a'), invalid, "key longer than 300 bytes"},
        {"." + std::string(max_key_length, 'a'), invalid, "key longer than 300 bytes"},
    };
    for (const Row& row : rows) {
        CAPTURE(row.key);
        const ParsedKey parsed = parse_policy_key(row.key);
        CHECK(parsed.kind == row.kind);
        if (row.kind == next_hop) CHECK(parsed.next_hop.name == row.want);
        if (row.kind == invalid)
            CHECK_MESSAGE(parsed.error.find(row.want) != std::string::npos, "error \"",
                          parsed.error, "\"");
        if (row.kind != invalid) CHECK(parsed.error.empty());
    }
}
