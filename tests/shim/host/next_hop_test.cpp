// next_hop_test.cpp - the next-hop forms of --next-hop (Postfix's syntax):
// which ones look up MX records, which only addresses, which no DNS at
// all, the names refused before any lookup, and the service names only
// the Postfix policy daemon's keys may carry (its own rules on top are in
// tests/shim/postfix/policy_key_test.cpp).
#include "next_hop.h"

#include <doctest/doctest.h>

#include <string>

using namespace mtatls::host;

namespace {

constexpr auto mx = NextHopKind::mx_lookup;
constexpr auto host = NextHopKind::host_lookup;
constexpr auto ip = NextHopKind::ip_literal;
// The syntax of Postfix's policy table keys: service names for ports.
constexpr NextHopSyntax postfix{.service_names = true};

// A name of exactly 253 bytes, the longest DNS allows.
const std::string longest_name = std::string(63, 'a') + "." + std::string(63, 'a') + "." +
                                 std::string(63, 'a') + "." + std::string(61, 'b');

} // namespace

TEST_CASE("next-hop forms") {
    struct Case {
        std::string text;
        std::string name;
        NextHopKind kind;
        uint16_t port;
        std::string service = {};  // a service name given for the port
        NextHopSyntax syntax = {}; // mtatls-send's, unless `postfix`
    };
    const Case cases[] = {
        // A domain: MX lookup.
        {"example.com", "example.com", mx, 25},
        {"example.com:2525", "example.com", mx, 2525},
        {"Example.COM.", "example.com", mx, 25}, // lower case, trailing dot dropped
        {"localhost", "localhost", mx, 25},
        {"mx_1.example-2.com", "mx_1.example-2.com", mx, 25},
        {"123.example", "123.example", mx, 25},
        {longest_name, longest_name, mx, 25},
        {longest_name + ".", longest_name, mx, 25},
        // [name]: addresses only.
        {"[mx.example.com]", "mx.example.com", host, 25},
        {"[MX.example.com.]:587", "mx.example.com", host, 587},
        // IP literals: no DNS at all, with or without brackets.
        {"192.0.2.1", "192.0.2.1", ip, 25},
        {"192.0.2.1:26", "192.0.2.1", ip, 26},
        {"[192.0.2.1]", "192.0.2.1", ip, 25},
        {"[192.0.2.1]:27", "192.0.2.1", ip, 27},
        {"[192.0.2.1]:25", "192.0.2.1", ip, 25},
        {"127.0.0.1:2525", "127.0.0.1", ip, 2525}, // what the older tests use
        {"[2001:db8::1]", "2001:db8::1", ip, 25},
        {"[2001:DB8::1]:465", "2001:db8::1", ip, 465},
        {"[IPv6:2001:db8::1]", "2001:db8::1", ip, 25}, // RFC 5321 address literal
        {"[ipv6:::1]:2525", "::1", ip, 2525},
        {"[ipv6:2001:DB8::1]:25", "2001:db8::1", ip, 25},
        {"2001:db8::1", "2001:db8::1", ip, 25}, // bare IPv6: no port possible
        {"::1", "::1", ip, 25},
        // Service names for ports, where Postfix takes them (port 0 then).
        {"[mx.example.com]:submission", "mx.example.com", host, 0, "submission", postfix},
        {"example.com:smtp", "example.com", mx, 0, "smtp", postfix},
        {"192.0.2.1:smtp", "192.0.2.1", ip, 0, "smtp", postfix},
        {"[2001:db8::1]:x-smtp-2", "2001:db8::1", ip, 0, "x-smtp-2", postfix},
        {"h:" + std::string(32, 's'), "h", mx, 0, std::string(32, 's'), postfix}, // the longest
        {"[mx.example.com]:587", "mx.example.com", host, 587, "", postfix},       // numbers as ever
        {"example.com", "example.com", mx, 25, "", postfix},
    };
    for (const Case& c : cases) {
        std::string error;
        const auto got = parse_next_hop(c.text, error, c.syntax);
        REQUIRE_MESSAGE(got, "\"", c.text, "\": ", error);
        CHECK_MESSAGE(got->service == c.service, c.text, ": got service \"", got->service, "\"");
        CHECK_MESSAGE(got->kind == c.kind, c.text, ": kind ", static_cast<int>(got->kind),
                      ", want ", static_cast<int>(c.kind));
        CHECK_MESSAGE(got->name == c.name, c.text, ": got name \"", got->name, "\", want \"",
                      c.name, "\"");
        CHECK_MESSAGE(got->port == c.port, c.text, ": got port ", got->port, ", want ", c.port);
    }
}

TEST_CASE("next hops that are refused, and why") {
    struct Case {
        std::string text;
        const char* error; // substring of the message
        NextHopSyntax syntax = {};
    };
    const Case cases[] = {
        {"", "empty next hop"},
        {"[]", "empty host name"},
        {"[mx.example", "missing ']'"},
        {"[::1]x", "unexpected text after ']'"},
        {"[mx.example.com]587", "unexpected text after ']'"},
        {"[::1]:", "empty port"},
        {"[mx.example.com]:", "empty port"},
        {"h:", "empty port"},
        {"h:0", "invalid port \"0\""},
        {"h:65536", "invalid port"},
        {"h:25x", "invalid port"},
        {"h:+25", "invalid port"},
        {"h:-1", "invalid port"},
        {"h:99999999999999999999", "invalid port"},
        {"[mx.example.com]:submission", "invalid port \"submission\" (want 1 to 65535)"},
        {":25", "empty host name"},
        {"a:b:c", "neither HOST:PORT nor an IPv6 address"},
        {"2001:db8::1:99999", "neither HOST:PORT"},
        {"[IPv6:192.0.2.1]", "IPv6: tag but no IPv6 address"},
        {"h :25", "domain \"h \" contains a character other than"},
        {"a@b", "contains a character other than"},
        {"a/b", "contains a character other than"},
        {"/var/run/lmtp.sock", "contains a character other than"},
        {"[a b]", "host name \"a b\" contains"},
        {"a..example", "has an empty label"},
        {".example", "has an empty label"},
        {"example..", "has an empty label"},
        {".", "is only a dot"},
        {"1.2.3", "is all digits and dots but not an IPv4 address"},
        {"[1.2.3.4.5]", "is all digits and dots"},
        {"b\xc3\xbc"
         "cher.example",
         "xn-- form"},
        {std::string(64, 'a') + ".example", "label longer than 63"},
        {std::string(200, 'a') + "." + std::string(60, 'b'), "longer than 253"},
        {longest_name + "c", "longer than 253"},
        // Service names: only where Postfix takes them, and only names.
        {"h:0", "invalid port \"0\" (want 1 to 65535 or a service name)", postfix},
        {"h:1smtp", "invalid port \"1smtp\"", postfix},
        {"h:sub_mission", "invalid port", postfix},
        {"h:-smtp", "invalid port", postfix},
        {"h:" + std::string(33, 's'), "invalid port", postfix},
        {"[mx.example.com]:", "empty port", postfix},
    };
    for (const Case& c : cases) {
        std::string error;
        const auto got = parse_next_hop(c.text, error, c.syntax);
        CHECK_MESSAGE(!got, "\"", c.text, "\" should be refused");
        CHECK_MESSAGE(error.find(c.error) != std::string::npos, "\"", c.text, "\": got \"", error,
                      "\", want \"", c.error, "\"");
    }
}

TEST_CASE("host names from DNS answers pass the same check") {
    CHECK(host_name_problem("mx1.example.com").empty());
    CHECK(host_name_problem("mx1.example.com.").empty());
    CHECK(host_name_problem("_srv.example").empty());
    CHECK(host_name_problem(std::string(63, 'a') + ".example").empty());
    CHECK(host_name_problem("mx?.example") ==
          "contains a character other than letters, digits, '-', '_' and '.'");
    CHECK(host_name_problem("") == "is empty");
    CHECK(host_name_problem("10.0.0.1") == "is all digits and dots but not an IPv4 address");
}

TEST_CASE("describe writes a next hop back in its own form") {
    const auto round_trip = [](const char* text) {
        std::string error;
        const auto hop = parse_next_hop(text, error);
        REQUIRE_MESSAGE(hop, text, ": ", error);
        return describe(*hop);
    };
    CHECK(round_trip("example.com") == "example.com");
    CHECK(round_trip("example.com:2525") == "example.com:2525");
    CHECK(round_trip("[mx.example.com]:25") == "[mx.example.com]");
    CHECK(round_trip("[mx.example.com]:26") == "[mx.example.com]:26");
    CHECK(round_trip("192.0.2.1:26") == "192.0.2.1:26");
    CHECK(round_trip("[IPv6:2001:db8::1]:26") == "[2001:db8::1]:26");
    std::string error;
    const auto service = parse_next_hop("[MX.example.com]:submission", error, postfix);
    REQUIRE_MESSAGE(service, error);
    CHECK(describe(*service) == "[mx.example.com]:submission");
    CHECK(canonical_name("MX.Example.") == "mx.example");
    CHECK(canonical_name(".") == ".");
}
