// yaml_reader_test.cpp - the YAML reader: shapes it accepts, positions it
// reports, and hostile documents it survives.
#include "config/yaml_reader.h"

#include <doctest/doctest.h>

using namespace mtatls::config;

namespace {

struct Parsed {
    bool ok;
    Document doc;
    Diagnostics diagnostics;
    std::string first_error() const {
        for (const auto& d : diagnostics.items())
            if (d.severity == Severity::error) return format(d);
        return {};
    }
};

Parsed parse(const std::string& text) {
    Parsed p;
    p.doc.files = {"t.yaml"};
    p.ok = parse_yaml_text(text, p.doc, p.diagnostics);
    return p;
}

} // namespace

TEST_CASE("yaml: stanzas nest and keep declaration order and positions") {
    const Parsed p =
        parse("tls: required\nbinding_group:\n  g:\n    binding:\n      b:\n        domain:\n"
              "          z.example: {tls: \"no\"}\n          a.example: {}\n");
    REQUIRE_MESSAGE(p.ok, p.first_error());
    REQUIRE(p.doc.root.settings.size() == 1);
    CHECK(p.doc.root.settings[0].value_pos.column == 6);
    const RawStanza& group = p.doc.root.children.at(0);
    CHECK(group.kind == StanzaKind::binding_group);
    const RawStanza& binding = group.children.at(0);
    CHECK(binding.pos.line == 5);
    REQUIRE(binding.children.size() == 2);
    CHECK(binding.children[0].name == "z.example"); // declaration order, not sorted
    CHECK(binding.children[1].name == "a.example");
    CHECK(binding.children[0].settings.at(0).value == "no");
}

TEST_CASE("yaml: malformed shapes are errors with positions, never crashes") {
    struct Case {
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"[1, 2]\n", "must be a mapping"},
        {"? [a]\n: b\n", "keys must be plain names"},
        {"binding: [a, b]\n", "expects a mapping of names to stanzas"},
        {"binding:\n  b: 3\n", "expects a mapping of directives"},
        {"binding:\n  ? [x]\n  : {}\n", "binding names must be strings"},
        {"tls: {a: 1}\n", "expects a single value"},
        {"tls: {a\n", "YAML syntax error"},
        {"a: &x [*x]\n", ""}, // recursive alias: any error, no hang
        {"\t- bad indent\n", "YAML syntax error"},
    };
    for (const Case& c : cases) {
        const Parsed p = parse(c.text);
        INFO(std::string(c.text));
        CHECK_FALSE(p.ok);
        CHECK_MESSAGE(p.first_error().find(c.want) != std::string::npos, "got ", p.first_error());
    }
}

TEST_CASE("yaml: alias expansion is bounded") {
    // Nine levels of ten-fold aliases describe a billion domain stanzas.
    std::string text = "x0: &a0 {tls: required}\n";
    for (int i = 1; i < 9; ++i) {
        text += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " {";
        for (int j = 0; j < 10; ++j)
            text += std::string(j ? ", " : "") + "d" + std::to_string(j) + ": *a" +
                    std::to_string(i - 1);
        text += "}\n";
    }
    text += "domain: *a8\n";
    const Parsed p = parse(text);
    CHECK_FALSE(p.ok); // x0.. are unknown keys; and the domain map is refused or bounded
}

TEST_CASE("yaml: an empty document is an empty configuration") {
    CHECK(parse("").ok);
    CHECK(parse("# nothing\n").ok);
    CHECK(parse("binding:\n").ok);
}
