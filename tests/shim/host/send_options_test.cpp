// send_options_test.cpp - mtatls-send's command line, the old host:port
// syntax (socket.h), address checks and the timeouts derived from the
// options.  The next-hop forms themselves: next_hop_test.cpp.
#include "send_options.h"
#include "socket.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::host;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> base(std::vector<std::string> extra = {},
                              const std::string& next_hop = "mx.example.com") {
    std::vector<std::string> args = {"--config", "c.yaml", "--next-hop",
                                     next_hop,   "-f",     "s@x.test"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// The same with a next hop that is not looked up in MX records.
std::vector<std::string> host(std::vector<std::string> extra = {}) {
    return base(std::move(extra), "[mx.example.com]");
}

} // namespace

TEST_CASE("valid command lines") {
    SUBCASE("defaults") {
        const ParsedOptions p = parse_send_options(base({"r@example.com"}));
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        const SendOptions& o = p.options;
        CHECK(o.config == "c.yaml");
        CHECK(o.next_hop == NextHop{NextHopKind::mx_lookup, "mx.example.com", 25});
        CHECK(o.mx_name.empty()); // each MX host's own name
        CHECK(o.resolver.empty());
        CHECK(o.mx_address_limit == 5);
        CHECK(o.domain == "example.com");
        CHECK(o.sender == "s@x.test");
        CHECK(o.recipients == std::vector<std::string>{"r@example.com"});
        CHECK(o.timeout == 300);
        CHECK_FALSE(o.timeout_given);
        CHECK(o.attempt_timeout == 1800);
        CHECK(o.helo.empty());
    }
    SUBCASE("everything given, options after recipients too") {
        const ParsedOptions p = parse_send_options({"r1@a.test",
                                                    "--config",
                                                    "c.conf",
                                                    "--module",
                                                    "/m.so",
                                                    "--binding",
                                                    "b",
                                                    "--binding-group",
                                                    "g",
                                                    "--domain",
                                                    "D.test",
                                                    "--next-hop",
                                                    "[2001:db8::1]:2525",
                                                    "--mx-name",
                                                    "mx.d.test",
                                                    "--helo",
                                                    "me.example",
                                                    "--timeout",
                                                    "20",
                                                    "--attempt-timeout",
                                                    "60",
                                                    "--resolver",
                                                    "192.0.2.53, 2001:db8::53@5353",
                                                    "--mx-address-limit",
                                                    "0",
                                                    "-f",
                                                    "",
                                                    "r2@b.test"});
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        const SendOptions& o = p.options;
        CHECK(o.module == "/m.so");
        CHECK(o.binding == "b");
        CHECK(o.binding_group == "g");
        CHECK(o.domain == "D.test");
        CHECK(o.next_hop == NextHop{NextHopKind::ip_literal, "2001:db8::1", 2525});
        CHECK(o.mx_name == "mx.d.test");
        CHECK(o.resolver == std::vector<DnsServer>{{"192.0.2.53", 53}, {"2001:db8::53", 5353}});
        CHECK(o.mx_address_limit == 0);
        CHECK(o.helo == "me.example");
        CHECK(o.timeout == 20);
        CHECK(o.timeout_given);
        CHECK(o.attempt_timeout == 60);
        CHECK(o.sender.empty());
        CHECK(o.recipients == std::vector<std::string>{"r1@a.test", "r2@b.test"});
    }
    SUBCASE("-fSENDER and <> for the null sender") {
        CHECK(parse_send_options({"--config", "c", "--next-hop", "h", "-fme@x", "r@d"})
                  .options.sender == "me@x");
        const ParsedOptions p =
            parse_send_options({"--config", "c", "--next-hop", "h", "-f", "<>", "r@d"});
        REQUIRE(p.error.empty());
        CHECK(p.options.sender.empty());
    }
    SUBCASE("-- makes the rest recipients, even with a leading dash") {
        const ParsedOptions p = parse_send_options(base({"--", "--timeout@x.test", "-r@X.test."}));
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        CHECK(p.options.recipients == std::vector<std::string>{"--timeout@x.test", "-r@X.test."});
        CHECK(p.options.domain == "x.test");
    }
    SUBCASE("an explicit --domain (a relay's policy) may carry several recipient domains") {
        const ParsedOptions p =
            parse_send_options(base({"--domain", "relay.test", "a@x.test", "b@y.test"}));
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        CHECK(p.options.domain == "relay.test");
    }
    SUBCASE("--defer-local-errors") {
        const ParsedOptions p = parse_send_options(base({"--defer-local-errors", "r@d"}));
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        CHECK(p.options.defer_local_errors);
        CHECK_FALSE(p.options.pipe);
    }
    SUBCASE("--pipe implies --defer-local-errors") {
        const ParsedOptions p = parse_send_options(base({"--pipe", "r@d"}));
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        CHECK(p.options.pipe);
        CHECK(p.options.defer_local_errors);
    }
    SUBCASE("an IP literal next hop: no name unless --mx-name gives one") {
        const ParsedOptions p =
            parse_send_options({"--config", "c", "--next-hop", "192.0.2.1:587", "-f", "", "r@d"});
        REQUIRE(p.error.empty());
        CHECK(p.options.mx_name.empty());
        CHECK(p.options.next_hop == NextHop{NextHopKind::ip_literal, "192.0.2.1", 587});
    }
    SUBCASE("--mx-name with [host]") {
        const ParsedOptions p = parse_send_options(host({"--mx-name", "other.example", "r@d"}));
        REQUIRE_MESSAGE(p.error.empty(), p.error);
        CHECK(p.options.next_hop == NextHop{NextHopKind::host_lookup, "mx.example.com", 25});
        CHECK(p.options.mx_name == "other.example");
    }
    SUBCASE("an empty --helo means the default (the host name)") {
        const ParsedOptions p = parse_send_options(base({"--helo", "", "r@d"}));
        CHECK_MESSAGE(p.error.empty(), p.error);
        CHECK(p.options.helo.empty());
    }
    SUBCASE("help and version win") {
        CHECK(parse_send_options({"--help"}).options.help);
        CHECK(parse_send_options({"-h"}).options.help);
        CHECK(parse_send_options({"--version"}).options.version);
    }
}

TEST_CASE("usage errors") {
    struct Case {
        std::vector<std::string> args;
        const char* error; // substring
    };
    const Case cases[] = {
        {{"--next-hop", "h", "-f", "s", "r@d"}, "--config FILE is required"},
        {{"--config", "c", "-f", "s", "r@d"}, "--next-hop DESTINATION is required"},
        {{"--config", "c", "--next-hop", "h", "r@d"}, "-f SENDER is required"},
        {base(), "at least one recipient"},
        {base({"--bogus", "r@d"}), "unknown option --bogus"},
        {base({"r@d", "--timeout"}), "--timeout needs a value"},
        {base({"--timeout", "0", "r@d"}), "--timeout: want whole seconds"},
        {base({"--timeout", "-5", "r@d"}), "--timeout: want whole seconds"},
        {base({"--timeout", "10s", "r@d"}), "--timeout: want whole seconds"},
        {base({"--timeout", "86401", "r@d"}), "--timeout: want whole seconds"},
        {base({"--attempt-timeout", "x", "r@d"}), "--attempt-timeout: want whole seconds"},
        {base({"user"}), "--domain is required"},
        {base({"user@"}), "--domain is required"},
        {base({"r@d\r\nRCPT TO:<evil@x>"}), "contains a control byte"},
        {base({"<r@d>"}), "contains '<' or '>'"},
        {base({"r@d>x"}), "contains '<' or '>'"},
        {base({""}), "empty recipient"},
        {base({std::string(255, 'a')}), "longer than 254"},
        {{"--config", "c", "--next-hop", "h", "-f", "s\n@x", "r@d"}, "sender address contains"},
        {base({"--helo", "my host", "r@d"}), "--helo contains a space"},
        {host({"--mx-name", "mx\x01", "r@d"}), "--mx-name contains"},
        // With an MX lookup each MX host's own name is verified.
        {base({"--mx-name", "mx.example.com", "r@d"}),
         "--mx-name cannot be used with an MX lookup (--next-hop mx.example.com): each MX host's "
         "own name is verified; write --next-hop [mx.example.com]"},
        {base({"--resolver", "dns.example", "r@d"}), "--resolver: \"dns.example\" is not ADDR"},
        {base({"--resolver", "192.0.2.53@0", "r@d"}), "--resolver: invalid port"},
        {base({"--resolver", " , ", "r@d"}), "--resolver: no DNS server address given"},
        {base({"--mx-address-limit", "-1", "r@d"}), "--mx-address-limit: want a number"},
        {base({"--mx-address-limit", "1001", "r@d"}), "--mx-address-limit: want a number"},
        {base({"--mx-address-limit", "5x", "r@d"}), "--mx-address-limit: want a number"},
        {base({"--domain", "d\n", "r@d"}), "contains a space, control"},
        // One run, one domain: a lax or hostile recipient domain must not
        // set the policy (or the accepted certificate name) for the rest.
        {base({"r@a.test", "r@b.test"}), "recipients are in several domains"},
        {base({"r@a.test", "r@A.TEST", "r@evil.test"}), "several domains (a.test, evil.test)"},
        // OpenSSL reads a leading dot as "any subdomain": never a name here.
        {base({"ceo@.com"}), "domain \".com\" has an empty label"},
        {base({"--domain", "a..test", "r@d"}), "has an empty label"},
        {host({"--mx-name", ".example.test", "r@d"}), "--mx-name has an empty label"},
        {{"--config", "c", "--next-hop", "[::1", "-f", "s", "r@d"}, "missing ']'"},
        {{"--config", "c", "--next-hop", "h:0", "-f", "s", "r@d"}, "invalid port"},
        {{"--config", "c", "--next-hop", "h:65536", "-f", "s", "r@d"}, "invalid port"},
        {{"--config", "c", "--next-hop", "h:", "-f", "s", "r@d"}, "empty port"},
        {{"--config", "c", "--next-hop", "a:b:c", "-f", "s", "r@d"}, "neither HOST:PORT"},
    };
    for (const Case& c : cases) {
        const ParsedOptions p = parse_send_options(c.args);
        std::string joined;
        for (const std::string& a : c.args)
            joined += a + " ";
        CHECK_MESSAGE(p.error.find(c.error) != std::string::npos, joined, "-> got \"", p.error,
                      "\", want \"", c.error, "\"");
    }
}

TEST_CASE("next-hop syntax") {
    struct Case {
        const char* text;
        const char* host; // nullptr: error
        uint16_t port;
        bool literal;
    };
    const Case cases[] = {
        {"mx.example.com", "mx.example.com", 25, false},
        {"mx.example.com:2525", "mx.example.com", 2525, false},
        {"[mx.example.com]", "mx.example.com", 25, true},
        {"192.0.2.1", "192.0.2.1", 25, true},
        {"192.0.2.1:26", "192.0.2.1", 26, true},
        {"[192.0.2.1]:27", "192.0.2.1", 27, true},
        {"[2001:db8::1]", "2001:db8::1", 25, true},
        {"[2001:db8::1]:465", "2001:db8::1", 465, true},
        {"2001:db8::1", "2001:db8::1", 25, true}, // bare IPv6, default port
        {"::1", "::1", 25, true},
        {"", nullptr, 0, false},
        {"[]", nullptr, 0, false},
        {"[::1]x", nullptr, 0, false},
        {"[::1]:", nullptr, 0, false},
        {"h:abc", nullptr, 0, false},
        {"h:25x", nullptr, 0, false},
        {"h :25", nullptr, 0, false},
        {"a@b", nullptr, 0, false},
        {"2001:db8::1:99999", nullptr, 0, false}, // not an address, not host:port
    };
    for (const Case& c : cases) {
        std::string error;
        const auto got = parse_host_port(c.text, 25, error);
        if (c.host == nullptr) {
            CHECK_MESSAGE(!got, "\"", c.text, "\" should fail");
            CHECK_MESSAGE(!error.empty(), "\"", c.text, "\" needs an error text");
            continue;
        }
        REQUIRE_MESSAGE(got, "\"", c.text, "\": ", error);
        CHECK_MESSAGE(got->host == c.host, c.text, ": host ", got->host);
        CHECK_MESSAGE(got->port == c.port, c.text, ": port ", got->port);
        CHECK_MESSAGE(got->literal == c.literal, c.text, ": literal ", got->literal);
    }
}

TEST_CASE("timeouts follow the contract") {
    SendOptions o;
    Timeouts t = timeouts_for(o); // defaults: 300 s, attempt 1800 s
    CHECK(t.connect == seconds(30));
    CHECK(t.reply == seconds(300));
    CHECK(t.handshake == seconds(300));
    CHECK(t.data_end == seconds(600)); // max(300, 600): --timeout not given
    CHECK(t.quit == seconds(10));
    CHECK(t.attempt == seconds(1800));
    CHECK(t.dns == seconds(60)); // min(60, timeout)

    o.timeout = 5;
    o.timeout_given = true;
    o.attempt_timeout = 20;
    t = timeouts_for(o);
    CHECK(t.connect == seconds(5)); // min(30, timeout)
    CHECK(t.reply == seconds(5));
    CHECK(t.handshake == seconds(5));
    CHECK(t.data_end == seconds(5)); // given explicitly: the timeout itself
    CHECK(t.quit == seconds(5));
    CHECK(t.attempt == seconds(20));
    CHECK(t.dns == seconds(5));

    o.timeout = 900;
    o.timeout_given = false;
    t = timeouts_for(o);
    CHECK(t.data_end == seconds(900));
    CHECK(t.connect == seconds(30));
}
