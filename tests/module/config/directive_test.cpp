// directive_test.cpp - the directive table and name matching.
#include "config/directive.h"

#include <doctest/doctest.h>

using namespace mtatls::config;

TEST_CASE("directive names match case-insensitively and typos get a hint") {
    CHECK(find_directive("TLS_Verify") == Directive::tls_verify);
    CHECK(find_directive("tlsv13_ciphersuites") == Directive::tlsv13_ciphersuites);
    CHECK(find_directive("Resolver") == Directive::resolver);
    CHECK_FALSE(find_directive("tls_verfy"));
    struct Case {
        const char* typo;
        const char* want;
    };
    const Case cases[] = {
        {"tls_verfy", "tls_verify"},
        {"tls_vrefiy", "tls_verify"},
        {"tsl", "tls"},
        {"tls_cert", ""},
        {"tls_certificat", "tls_certificate"},
        {"TLS_PROTOCOL", "tls_protocols"},
        {"resolvr", "resolver"},
        {"resolvers", "resolver"},
        {"max_outbound_connections", ""},
        {"", ""},
    };
    for (const Case& c : cases)
        CHECK_MESSAGE(suggest_directive(c.typo) == c.want, c.typo);
}

TEST_CASE("which unknown Momentum options are meant as TLS directives") {
    CHECK(looks_like_tls_directive("tls_verfy"));
    CHECK(looks_like_tls_directive("TLS_Anything"));
    CHECK(looks_like_tls_directive("ssl_foo"));
    CHECK(looks_like_tls_directive("starttls_foo"));
    CHECK_FALSE(looks_like_tls_directive("max_outbound_connections"));
    CHECK_FALSE(looks_like_tls_directive("bind_address"));
}

TEST_CASE("the table is complete and consistent") {
    const auto& table = all_directives();
    for (std::size_t i = 0; i < table.size(); ++i) {
        const DirectiveInfo& d = table[i];
        CHECK(static_cast<std::size_t>(d.id) == i);
        CHECK(d.scopes != 0);
        if (d.kind == ValueKind::choice || d.kind == ValueKind::boolean) {
            bool default_listed = false;
            for (const char* choice : d.choices)
                default_listed |= std::string(choice) == d.default_value;
            CHECK_MESSAGE(default_listed, d.name);
        }
    }
}

TEST_CASE("resolver: the host's DNS servers, global only, unset by default") {
    const DirectiveInfo& d = info(Directive::resolver);
    CHECK(std::string(d.name) == "resolver");
    CHECK(d.kind == ValueKind::dns_servers);
    CHECK(d.scopes == scope_global);
    CHECK(std::string(d.default_value).empty());
    REQUIRE(d.default_meaning != nullptr);
    CHECK(std::string(d.default_meaning) == "system resolver configuration, /etc/resolv.conf");
    CHECK_FALSE(d.inbound_only);
    CHECK_FALSE(d.obsolete);
    CHECK(static_cast<std::size_t>(Directive::resolver) == directive_count - 1); // never renumbered
}
