// resolver_settings_test.cpp - the DNS server list (ADDR[@PORT], spaces or
// commas) as --resolver and the `resolver` directive write it, and the
// directive read through the real module's CONFIG_EXPLAIN (unset means
// the system resolver, in either syntax).
#include "resolver_settings.h"

#include "real_module.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls;
using namespace mtatls::host;

TEST_CASE("DNS server lists") {
    struct Case {
        const char* text;
        std::vector<DnsServer> servers; // empty: refused
        const char* error;
    };
    const Case cases[] = {
        {"192.0.2.53", {{"192.0.2.53", 53}}, ""},
        {"127.0.0.1@5353", {{"127.0.0.1", 5353}}, ""},
        {"2001:db8::53", {{"2001:db8::53", 53}}, ""},
        {"::1@5353", {{"::1", 5353}}, ""},
        {"192.0.2.1, 192.0.2.2@54", {{"192.0.2.1", 53}, {"192.0.2.2", 54}}, ""},
        {" 192.0.2.1 ,,192.0.2.2\t::1 ", {{"192.0.2.1", 53}, {"192.0.2.2", 53}, {"::1", 53}}, ""},
        {"", {}, "no DNS server address given"},
        {" , ", {}, "no DNS server address given"},
        {"dns.example", {}, "\"dns.example\" is not ADDR or ADDR@PORT"},
        {"[::1]@53", {}, "\"[::1]@53\" is not ADDR"},
        {"192.0.2.1:53", {}, "\"192.0.2.1:53\" is not ADDR"},
        {"192.0.2.1@", {}, "invalid port in \"192.0.2.1@\""},
        {"192.0.2.1@0", {}, "invalid port"},
        {"192.0.2.1@65536", {}, "invalid port"},
        {"192.0.2.1@53x", {}, "invalid port"},
        {"192.0.2.1, 999.0.0.1", {}, "\"999.0.0.1\" is not ADDR"},
    };
    for (const Case& c : cases) {
        std::string error;
        const auto got = parse_dns_servers(c.text, error);
        if (c.servers.empty()) {
            CHECK_MESSAGE(!got, "\"", c.text, "\" should be refused");
            CHECK_MESSAGE(error.find(c.error) != std::string::npos, "\"", c.text, "\": got \"",
                          error, "\", want \"", c.error, "\"");
            continue;
        }
        REQUIRE_MESSAGE(got, "\"", c.text, "\": ", error);
        CHECK_MESSAGE(*got == c.servers, c.text);
    }
    CHECK(DnsServer{"::1", 5353}.text() == "::1@5353");
}

TEST_CASE("the resolver directive through CONFIG_EXPLAIN") {
    struct Case {
        const char* file;
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"unset.yaml", "tls: ifavailable\n", ""}, // the default: /etc/resolv.conf
        {"set.yaml", "resolver: 127.0.0.1@5353\n", "127.0.0.1@5353"},
        {"list.yaml", "resolver: \"192.0.2.1, 2001:db8::1@54\"\n", "192.0.2.1, 2001:db8::1@54"},
        {"set.conf", "resolver = \"::1\"\ntls = required\n", "::1"},
    };
    for (const Case& c : cases) {
        test::load_config(c.file, c.text);
        std::vector<std::string> problems;
        CHECK_MESSAGE(read_resolver_setting(*test::real_module(), problems) == c.want, c.file);
        CHECK_MESSAGE(problems.empty(), c.file);
    }
}
