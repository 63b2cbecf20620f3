// ehlo_test.cpp - EHLO capability parsing: exact, case-insensitive
// keywords, legal odd forms, refusals and malformed lists.
#include "smtp/ehlo.h"

#include <doctest/doctest.h>

using mtatls::smtp::EhloState;
using mtatls::smtp::parse_ehlo_bytes;

namespace {

struct Case {
    const char* name;
    std::string bytes;
    EhloState state;
    bool starttls = false;
};

} // namespace

TEST_CASE("EHLO parser: table") {
    using enum EhloState;
    const Case cases[] = {
        {"advertised", "250-mx.example.test hi\r\n250-SIZE 1000\r\n250 STARTTLS\r\n", accepted,
         true},
        {"lower case keyword", "250-mx\r\n250 starttls\r\n", accepted, true},
        {"mixed case keyword", "250-mx\r\n250 StartTls\r\n", accepted, true},
        {"not advertised", "250-mx\r\n250 SIZE 1000\r\n", accepted, false},
        {"single line", "250 mx.example.test\r\n", accepted, false},
        {"bare final line", "250-mx\r\n250-STARTTLS\r\n250\r\n", accepted, true},
        {"XSTARTTLS is not STARTTLS", "250-mx\r\n250 XSTARTTLS\r\n", accepted, false},
        {"STARTTLSX is not STARTTLS", "250-mx\r\n250 STARTTLSX\r\n", accepted, false},
        {"STARTTLS in the greeting", "250-mx says STARTTLS\r\n250 SIZE\r\n", accepted, false},
        {"STARTTLS as a parameter", "250-mx\r\n250 X-OPT STARTTLS\r\n", accepted, false},
        {"old AUTH= form", "250-mx\r\n250-AUTH=LOGIN PLAIN\r\n250 STARTTLS\r\n", accepted, true},
        {"refused 500", "500 5.5.1 what?\r\n", refused},
        {"refused 502", "502 EHLO not implemented\r\n", refused},
        {"refused 421", "421 4.3.2 closing\r\n", refused},
        {"code 220", "220 hello\r\n", malformed},
        {"code 251", "251 hello\r\n", malformed},
        {"keyword with space first", "250-mx\r\n250  STARTTLS\r\n", malformed},
        {"keyword with a dot", "250-mx\r\n250 START.TLS\r\n", malformed},
        {"keyword starting with hyphen", "250-mx\r\n250 -STARTTLS\r\n", malformed},
        {"empty middle line", "250-mx\r\n250-\r\n250 STARTTLS\r\n", malformed},
        {"data after reply", "250 mx\r\n250 STARTTLS\r\n", malformed},
        {"incomplete", "250-mx\r\n250-STARTTLS\r\n", malformed},
        {"differing codes", "250-mx\r\n220 STARTTLS\r\n", malformed},
        {"bare LF", "250-mx\n250 STARTTLS\n", malformed},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const auto parsed = parse_ehlo_bytes(c.bytes);
        CHECK(parsed.state == c.state);
        if (c.state == accepted) CHECK(parsed.capabilities.has("STARTTLS") == c.starttls);
        if (c.state == malformed) CHECK_FALSE(parsed.error.empty());
    }
}

TEST_CASE("EHLO parser: server name and parameters") {
    const auto parsed = parse_ehlo_bytes("250-mx.example.test greets you\r\n250-size 52428800\r\n"
                                         "250 8BITMIME\r\n");
    REQUIRE(parsed.state == EhloState::accepted);
    CHECK(parsed.capabilities.server_name == "mx.example.test");
    REQUIRE(parsed.capabilities.find("SIZE") != nullptr);
    CHECK(parsed.capabilities.find("size")->parameters == "52428800");
    CHECK(parsed.capabilities.has("8bitmime"));
}
