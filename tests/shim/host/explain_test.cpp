// explain_test.cpp - CONFIG_EXPLAIN's entries as values, through the real
// module: every directive with its value and origin, the key selecting
// binding and domain, the filter by name, and the module's diagnostics.
#include "explain.h"

#include "real_module.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace mtatls;
using namespace mtatls::host;

namespace {

const std::string config = "tls: ifavailable\n"
                           "binding_group:\n"
                           "  g:\n"
                           "    binding:\n"
                           "      b:\n"
                           "        domain:\n"
                           "          d.example: {tls: required, tls_verify: host}\n";

const ExplainedSetting* find(const Explanation& explained, const std::string& name) {
    const auto found =
        std::find_if(explained.settings.begin(), explained.settings.end(),
                     [&](const ExplainedSetting& setting) { return setting.name == name; });
    return found != explained.settings.end() ? &*found : nullptr;
}

} // namespace

TEST_CASE("every directive, with its value and where it comes from") {
    const std::string path = test::load_config("explain.yaml", config);
    const Module& module = *test::real_module();
    struct Row {
        ExplainKey key;
        std::string tls;      // effective value of `tls`
        std::string location; // where it is set
        bool verify_set;      // tls_verify set (else the built-in default)
    };
    const Row rows[] = {
        {{}, "ifavailable", path + ":1:1", false},
        {{"", "b", "other.example"}, "ifavailable", path + ":1:1", false},
        {{"", "b", "D.Example."}, "required", path + ":7:23", true},
        {{"g", "b", "d.example"}, "required", path + ":7:23", true},
    };
    for (const Row& row : rows) {
        CAPTURE(row.key.binding);
        CAPTURE(row.key.domain);
        const Explanation explained = explain(module, row.key);
        REQUIRE(explained.status == MTATLS_STATUS_OK);
        CHECK(explained.errors.empty());
        CHECK(explained.settings.size() > 20); // every directive the module knows
        const ExplainedSetting* tls = find(explained, "tls");
        REQUIRE(tls != nullptr);
        CHECK(tls->value == row.tls);
        CHECK_FALSE(tls->is_default());
        CHECK(tls->location() == row.location);
        const ExplainedSetting* verify = find(explained, "tls_verify");
        REQUIRE(verify != nullptr);
        CHECK(verify->is_default() == !row.verify_set);
        CHECK(verify->value == (row.verify_set ? "host" : "no"));
        CHECK(verify->location().empty() == !row.verify_set);
    }
}

TEST_CASE("only the directives asked for, in the module's order") {
    test::load_config("names.conf", "tls = required\nresolver = \"::1\"\n");
    const Explanation explained =
        explain(*test::real_module(), {}, {"resolver", "tls", "nonsense"});
    REQUIRE(explained.status == MTATLS_STATUS_OK);
    REQUIRE(explained.settings.size() == 2);
    CHECK(explained.settings[0].name == "tls");
    CHECK(explained.settings[0].value == "required");
    CHECK(explained.settings[1].name == "resolver");
    CHECK(explained.settings[1].value == "::1");
}

TEST_CASE("the module's diagnostics: errors collected, every one passed on") {
    test::load_config("diagnostics.yaml", config);
    std::vector<std::string> seen;
    // Binding "b" is declared in group "g": the module warns and uses "g".
    const Explanation explained =
        explain(*test::real_module(), {"h", "b", "d.example"}, {"tls"},
                [&](const mtatls_diagnostic& d) { seen.emplace_back(d.message); });
    REQUIRE(explained.status == MTATLS_STATUS_OK);
    CHECK(explained.errors.empty()); // a warning is not an error
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].find("declared in binding_group \"g\"") != std::string::npos);
    REQUIRE(explained.settings.size() == 1);
    CHECK(explained.settings[0].value == "required");
}

TEST_CASE("ExplainedSetting::location") {
    CHECK(ExplainedSetting{"tls", "no", "default", "", 0, 0}.location().empty());
    CHECK(ExplainedSetting{"tls", "no", "global", "/f.conf", 0, 0}.location() == "/f.conf");
    CHECK(ExplainedSetting{"tls", "no", "global", "/f.conf", 3, 0}.location() == "/f.conf:3");
    CHECK(ExplainedSetting{"tls", "no", "global", "/f.conf", 3, 7}.location() == "/f.conf:3:7");
}
