// policy_test.cpp - scope resolution: every precedence rank, exact before
// regex, regex order, name normalisation, "none" cancelling, the vendor
// example, and the origin each effective value reports.
#include "config/policy.h"

#include "../../support/config_fixture.h"

#include <doctest/doctest.h>

#include <set>

using namespace mtatls;
using namespace mtatls::config;
using mtatls::test::compile_text;

namespace {

// A YAML configuration where each rank in `ranks` sets tls_ca to "/rN"
// (rank 4 is set on both bindings, as /r4 on the grouped binding GB and
// /r4b on the top-level binding B).  File checks are off: the paths are
// only markers.
std::string ranked_config(const std::set<int>& ranks) {
    auto line = [&](int rank, const std::string& indent, const std::string& value) {
        return ranks.contains(rank) ? indent + "tls_ca: " + value + "\n" : std::string();
    };
    std::string y;
    y += line(7, "", "/r7");
    y += "domain:\n  d.example:\n" + line(6, "    ", "/r6") + "    tls: \"no\"\n";
    y += "binding_group:\n  G:\n" + line(5, "    ", "/r5") + "    tls: \"no\"\n";
    y += "    binding:\n      GB:\n" + line(4, "        ", "/r4") + "        tls: \"no\"\n";
    y += "        domain:\n          d.example:\n" + line(1, "            ", "/r1") +
         "            tls: \"no\"\n";
    y += "    domain:\n      d.example:\n" + line(3, "        ", "/r3") + "        tls: \"no\"\n";
    y += "binding:\n  B:\n" + line(4, "    ", "/r4b") + "    tls: \"no\"\n";
    y += "    domain:\n      d.example:\n" + line(2, "        ", "/r2") + "        tls: \"no\"\n";
    return y;
}

} // namespace

TEST_CASE("every precedence rank wins over all ranks below it") {
    struct Case {
        const char* binding;
        int first_rank; // ranks first_rank..7 are set
        const char* want_value;
        Rank want_rank;
    };
    // Grouped binding GB: ranks 1, 3, 4, 5, 6, 7, 8 apply.
    // Top-level binding B, caller says group G: ranks 2, 4, 6, 7, 8 (group
    // membership comes from nesting, so G's stanzas do not apply).
    const Case cases[] = {
        {"GB", 1, "/r1", Rank::group_binding_domain},
        {"GB", 2, "/r3", Rank::group_domain}, // rank 2 belongs to B, not GB
        {"GB", 3, "/r3", Rank::group_domain},
        {"GB", 4, "/r4", Rank::binding},
        {"GB", 5, "/r5", Rank::group},
        {"GB", 6, "/r6", Rank::global_domain},
        {"GB", 7, "/r7", Rank::global},
        {"GB", 8, "", Rank::builtin},
        {"B", 1, "/r2", Rank::binding_domain},
        {"B", 2, "/r2", Rank::binding_domain},
        {"B", 3, "/r4b", Rank::binding}, // B is declared outside G: G never applies
        {"B", 4, "/r4b", Rank::binding},
        {"B", 5, "/r6", Rank::global_domain},
        {"B", 6, "/r6", Rank::global_domain},
        {"B", 7, "/r7", Rank::global},
        {"B", 8, "", Rank::builtin},
    };
    for (const Case& c : cases) {
        std::set<int> ranks;
        for (int r = c.first_rank; r <= 7; ++r)
            ranks.insert(r);
        const auto compiled = compile_text("ranks.yaml", ranked_config(ranks), false);
        REQUIRE_MESSAGE(compiled.config, compiled.text());
        const Effective e = compiled.config->resolve({"G", c.binding, "d.example"});
        INFO("binding ", c.binding, ", ranks ", c.first_rank, "..7");
        CHECK_MESSAGE(e[Directive::tls_ca].value == c.want_value, "got ",
                      e[Directive::tls_ca].value, ", want ", c.want_value);
        CHECK(e.rank(Directive::tls_ca) == c.want_rank);
    }
}

TEST_CASE("a grouped binding finds its group without being told") {
    const auto compiled = compile_text("group.yaml", ranked_config({5, 7}), false);
    REQUIRE(compiled.config);
    CHECK(compiled.config->resolve({"", "GB", "x.example"})[Directive::tls_ca].value == "/r5");
    const Effective wrong = compiled.config->resolve({"H", "GB", "x.example"});
    CHECK(wrong[Directive::tls_ca].value == "/r5");
    CHECK(wrong.note().find("declared in binding_group \"G\"") != std::string::npos);
}

TEST_CASE("domain stanzas: exact before regex, regex in declaration order, names normalised") {
    const auto compiled = compile_text("domains.yaml", R"(
domain:
  "/example\\.com$/": {tls_ca: /regex-first}
  "/\\.com$/": {tls_ca: /regex-second}
  mx.example.com: {tls_ca: /exact}
  Upper.Example.NET.: {tls_ca: /upper}
binding:
  b:
    domain:
      "/^x\\./": {tls_ca: /binding-regex}
)",
                                       false);
    REQUIRE_MESSAGE(compiled.config, compiled.text());
    struct Case {
        const char* binding;
        const char* domain;
        const char* want;
    };
    const Case cases[] = {
        {"", "mx.example.com", "/exact"},         // exact beats an earlier regex
        {"", "MX.Example.COM.", "/exact"},        // case and trailing dot ignored
        {"", "a.example.com", "/regex-first"},    // first matching regex wins
        {"", "a.other.com", "/regex-second"},     // later regex when the first fails
        {"", "upper.example.net", "/upper"},      // stanza names normalised too
        {"", "example.org", ""},                  // nothing matches: default
        {"b", "x.example.com", "/binding-regex"}, // binding regex beats global exact rank
        {"b", "mx.example.com", "/exact"},        // binding regex does not match: global exact
    };
    for (const Case& c : cases) {
        const std::string got =
            mtatls::test::value_of(*compiled.config, "", c.binding, c.domain, Directive::tls_ca);
        CHECK_MESSAGE(got == c.want, c.binding, "/", c.domain, ": got ", got, ", want ", c.want);
    }
}

TEST_CASE("messages without a binding use the binding named default") {
    const auto compiled = compile_text("default.yaml", R"(
tls: ifavailable
binding:
  default: {tls: required}
  other: {}
)",
                                       false);
    REQUIRE(compiled.config);
    CHECK(compiled.config->resolve({"", "", "a.example"}).tls() == TlsMode::required);
    CHECK(compiled.config->resolve({"", "default", "a.example"}).tls() == TlsMode::required);
    CHECK(compiled.config->resolve({"", "other", "a.example"}).tls() == TlsMode::ifavailable);
}

TEST_CASE("tls_certificate none cancels an inherited certificate") {
    const auto compiled = compile_text("none.yaml", R"(
tls_certificate: @PKI@/client.pem
tls_key: @PKI@/client.key
binding:
  plain:
    tls_certificate: none
  inherits: {}
)");
    REQUIRE_MESSAGE(compiled.config, compiled.text());
    const Effective plain = compiled.config->resolve({"", "plain", "a.example"});
    CHECK(plain[Directive::tls_certificate].value == "none");
    CHECK(plain.rank(Directive::tls_certificate) == Rank::binding);
    const Effective inherits = compiled.config->resolve({"", "inherits", "a.example"});
    CHECK(inherits[Directive::tls_certificate].value == mtatls::test::pki("client.pem"));
}

TEST_CASE("the vendor's Outbound TLS example resolves as the reference says") {
    // Momentum syntax, verbatim apart from paths, plus a global tls.
    const auto compiled = compile_text("vendor.conf", R"(
tls = "ifavailable"
binding "customer-1" {
  tls_key = "@PKI@/client.key"
  tls_certificate = "@PKI@/client.pem"
  domain "trusted.partner.example.com" {
    tls = "required"
    tls_ca = "@PKI@/bundle.pem"
  }
}
)");
    REQUIRE_MESSAGE(compiled.config, compiled.text());
    const Config& config = *compiled.config;

    const Effective partner = config.resolve({"", "customer-1", "trusted.partner.example.com"});
    CHECK(partner.tls() == TlsMode::required);
    CHECK(partner[Directive::tls_ca].value == mtatls::test::pki("bundle.pem"));
    CHECK(partner.rank(Directive::tls_ca) == Rank::binding_domain);
    CHECK(partner[Directive::tls_certificate].value == mtatls::test::pki("client.pem"));
    CHECK(partner.rank(Directive::tls_key) == Rank::binding);
    CHECK(partner[Directive::tls].pos.line == 7);

    const Effective other_domain = config.resolve({"", "customer-1", "elsewhere.example"});
    CHECK(other_domain.tls() == TlsMode::ifavailable);
    CHECK(other_domain.rank(Directive::tls) == Rank::global);
    CHECK(other_domain[Directive::tls_certificate].value == mtatls::test::pki("client.pem"));

    const Effective other_binding =
        config.resolve({"", "customer-2", "trusted.partner.example.com"});
    CHECK(other_binding.tls() == TlsMode::ifavailable);
    CHECK(other_binding[Directive::tls_certificate].value == "none");
    CHECK(other_binding.rank(Directive::tls_certificate) == Rank::builtin);
    CHECK(other_binding[Directive::tls_ca].value.empty());
}

TEST_CASE("every effective value names its scope, file and line") {
    const auto compiled =
        compile_text("origin.yaml", "tls: required\nbinding:\n  b:\n    tls_verify: host\n", false);
    REQUIRE(compiled.config);
    const Effective e = compiled.config->resolve({"", "b", "x.example"});
    const Setting& verify = e[Directive::tls_verify];
    REQUIRE(verify.owner != nullptr);
    CHECK(verify.owner->scope_path() == "binding \"b\"");
    CHECK(verify.pos.line == 4);
    CHECK(compiled.config->file_name(verify.pos).ends_with("origin.yaml"));
    CHECK(e[Directive::tls].owner->scope_path() == "global");
    CHECK(e[Directive::tls_ciphers].owner == nullptr);
}
