// equivalence_test.cpp - the two syntaxes mean the same thing: a Momentum
// file, its hand-written YAML twin, and `convert`'s output resolve to the
// same value for every directive and every (binding, domain).
#include "config/yaml_writer.h"

#include "../../support/config_fixture.h"

#include <doctest/doctest.h>

using namespace mtatls::config;
using mtatls::test::compile_text;

namespace {

const char* const momentum_text = R"(
TLS = "ifavailable"
tls_ca = "@PKI@/bundle.pem"
domain "legacy.example" { tls_ciphers = "DEFAULT:!RC4" tls_verify = no }
domain "/\.bank\.example$/" { tls = required tls_verify = host }
binding_group "outbound" {
  tls_verify = "optional"
  domain "partner.example" { tls = "required" }
  binding "east" {
    tls_certificate = "@PKI@/client.pem"
    tls_key = "@PKI@/client.key"
    domain "partner.example" { tls_verify = "host" }
  }
}
binding "customer-1" {
  tls_certificate = "@PKI@/client-combined.pem"
  domain "trusted.partner.example.com" { tls = required tls_ciphers = "HIGH:!aNULL" }
  domain "/^mx[0-9]\./" { tls_certificate = none }
  domain "legacy.example" { tls_protocols = "+ALL:+TLSv1.1" }
}
)";

const char* const yaml_text = R"(
tls: ifavailable
tls_ca: "@PKI@/bundle.pem"
domain:
  legacy.example: {tls_ciphers: "DEFAULT:!RC4", tls_verify: "no"}
  "/\\.bank\\.example$/": {tls: required, tls_verify: host}
binding_group:
  outbound:
    tls_verify: optional
    domain:
      partner.example: {tls: required}
    binding:
      east:
        tls_certificate: "@PKI@/client.pem"
        tls_key: "@PKI@/client.key"
        domain:
          partner.example: {tls_verify: host}
binding:
  customer-1:
    tls_certificate: "@PKI@/client-combined.pem"
    domain:
      trusted.partner.example.com: {tls: required, tls_ciphers: "HIGH:!aNULL"}
      "/^mx[0-9]\\./": {tls_certificate: none}
      legacy.example: {tls_protocols: "+ALL:+TLSv1.1"}
)";

struct Key {
    const char* group;
    const char* binding;
    const char* domain;
};

const Key keys[] = {
    {"", "", "other.example"},          {"", "", "legacy.example"},
    {"", "", "www.bank.example"},       {"", "east", "partner.example"},
    {"", "east", "other.example"},      {"outbound", "", "partner.example"},
    {"outbound", "", "x.bank.example"}, {"", "customer-1", "trusted.partner.example.com"},
    {"", "customer-1", "mx1.example"},  {"", "customer-1", "legacy.example"},
    {"", "nobody", "partner.example"},
};

void require_same(const Config& a, const Config& b) {
    for (const Key& key : keys) {
        const Effective ea = a.resolve({key.group, key.binding, key.domain});
        const Effective eb = b.resolve({key.group, key.binding, key.domain});
        for (const auto& d : all_directives()) {
            INFO(key.group, "/", key.binding, "/", key.domain, " ", d.name);
            CHECK_MESSAGE(ea[d.id].value == eb[d.id].value, "got ", eb[d.id].value, ", want ",
                          ea[d.id].value);
            CHECK(ea.rank(d.id) == eb.rank(d.id));
        }
    }
}

} // namespace

TEST_CASE("Momentum syntax and YAML give identical effective policies") {
    const auto momentum = compile_text("twin.conf", momentum_text);
    const auto yaml = compile_text("twin.yaml", yaml_text);
    REQUIRE_MESSAGE(momentum.config, momentum.text());
    REQUIRE_MESSAGE(yaml.config, yaml.text());
    require_same(*momentum.config, *yaml.config);
}

TEST_CASE("convert's YAML resolves exactly like its Momentum source") {
    const auto momentum = compile_text("source.conf", momentum_text);
    REQUIRE_MESSAGE(momentum.config, momentum.text());
    const std::string converted = to_yaml(*momentum.config, "source.conf");
    const auto yaml = compile_text("converted.yaml", converted);
    REQUIRE_MESSAGE(yaml.config, yaml.text(), converted);
    require_same(*momentum.config, *yaml.config);
    // And converting the converted file changes nothing but the comment.
    const std::string again = to_yaml(*yaml.config, "source.conf");
    CHECK(again == converted);
}
