// module_state_test.cpp - reload is atomic (a failed reload keeps the old
// policy), connections keep the policy they started with, and macros.
#include "attempt/macros.h"
#include "module_state.h"

#include "../support/test_paths.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>

using namespace mtatls;
using config::Directive;

namespace {

std::string temp_file(const std::string& name) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("mtatls-state-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

} // namespace

TEST_CASE("a failed reload keeps the configuration in force and says why") {
    ModuleState state;
    const std::string path = temp_file("reload.yaml");
    test::write_file(path, "tls: required\n");
    config::Diagnostics first;
    REQUIRE(state.load(path, first));
    const auto before = state.current();

    test::write_file(path, "tls: sometimes\n");
    config::Diagnostics second;
    CHECK_FALSE(state.load(path, second));
    CHECK(second.has_errors());
    CHECK(state.current() == before);
    CHECK(state.current()->resolve({"", "", "x.example"}).tls() == config::TlsMode::required);

    test::write_file(path, "tls: ifavailable\n");
    config::Diagnostics third;
    CHECK(state.load(path, third));
    CHECK(state.current()->resolve({"", "", "x.example"}).tls() == config::TlsMode::ifavailable);
}

TEST_CASE("a connection keeps the policy it started with across a reload") {
    ModuleState state;
    const std::string path = temp_file("keep.yaml");
    test::write_file(path, "tls: required\n");
    config::Diagnostics diagnostics;
    REQUIRE(state.load(path, diagnostics));
    const auto connection = state.open({"", "", "x.example"}, "mx.x.example", "192.0.2.7", 25);
    REQUIRE(connection);
    test::write_file(path, "tls: \"no\"\n");
    REQUIRE(state.load(path, diagnostics));
    CHECK(connection->policy.tls() == config::TlsMode::required);
    attempt::AttemptFacts facts;
    facts.connection = connection.get();
    CHECK(attempt::macro_value(facts, "outbound_tls:outbound_tls_type") == "required");
    CHECK(attempt::macro_value(facts, "outbound_tls:local_ip") == "192.0.2.7");
    CHECK(attempt::macro_value(facts, "mtatls:policy:TLS") == "required");
    CHECK(attempt::macro_value(facts, "mtatls:policy_scope:tls") == "global");
    CHECK(attempt::macro_value(facts, "mtatls:policy_scope:tls_verify") == "default");
    CHECK_FALSE(attempt::macro_value(facts, "no:such:macro"));
}

TEST_CASE("without a configuration nothing is resolved") {
    ModuleState state;
    CHECK_FALSE(state.open({"", "", "x"}, "", "", 0));
    std::string note;
    CHECK_FALSE(state.explain({"", "", "x"}, note));
}

TEST_CASE("explain lists every directive with its origin") {
    ModuleState state;
    const std::string path = temp_file("explain.yaml");
    test::write_file(path, "tls: required\n");
    config::Diagnostics diagnostics;
    REQUIRE(state.load(path, diagnostics));
    std::string note;
    const auto lines = state.explain({"", "", "x.example"}, note);
    REQUIRE(lines);
    REQUIRE(lines->size() == config::directive_count);
    CHECK((*lines)[0].name == "tls");
    CHECK((*lines)[0].scope == "global");
    CHECK((*lines)[0].line == 1);
    CHECK((*lines)[2].value == "(system trust store)");
    CHECK((*lines)[2].scope == "default");
}

TEST_CASE("one shared SSL_CTX per distinct TLS policy, fresh after a reload") {
    ModuleState state;
    const std::string path = temp_file("contexts.yaml");
    // Three domains: two with the same TLS-relevant settings from different
    // scopes, one with other ciphers, one without TLS at all.
    test::write_file(path, test::with_pki("tls: required\n"
                                          "tls_ca: \"@PKI@/ca.pem\"\n"
                                          "domain:\n"
                                          "  a.example: {tls_verify: host}\n"
                                          "  b.example: {tls_verify: optional}\n"
                                          "  c.example: {tls_ciphers: \"HIGH:!aNULL\"}\n"
                                          "  d.example: {tls: \"no\"}\n"));
    config::Diagnostics diagnostics;
    const bool loaded = state.load(path, diagnostics);
    for (const auto& d : diagnostics.items())
        MESSAGE(d.message);
    REQUIRE(loaded);
    CHECK(state.context_count() == 0); // built on first use, not at load

    const auto a = state.open({"", "", "a.example"}, "mx.a.example", "192.0.2.1", 25);
    const auto b = state.open({"", "", "b.example"}, "mx.b.example", "192.0.2.2", 25);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->tls_context == b->tls_context); // tls_verify does not shape the context
    CHECK(state.context_count() == 1);
    const auto c = state.open({"", "", "c.example"}, "mx.c.example", "192.0.2.3", 25);
    CHECK(c->tls_context != a->tls_context);
    CHECK(state.context_count() == 2);
    const auto d = state.open({"", "", "d.example"}, "mx.d.example", "192.0.2.4", 25);
    CHECK_FALSE(d->tls_context);
    CHECK(state.context_count() == 2);

    REQUIRE(state.load(path, diagnostics));
    CHECK(state.context_count() == 0);
    CHECK(a->tls_context); // the open connection keeps its context alive
}
