// config_roundtrip.h - what both configuration fuzz targets check after a
// reader has produced a Document: compile it (file checks off), and for
// every configuration that compiles, the promise `mtatls-config convert`
// makes (tests/module/config/equivalence_test.cpp): its YAML compiles again,
// converting that changes nothing, and both resolve every policy key the
// file names to the same value for every directive.
#pragma once

#include "fuzz_check.h"

#include "config/compile.h"
#include "config/directive.h"
#include "config/yaml_reader.h"
#include "config/yaml_writer.h"

#include <algorithm>
#include <string>
#include <vector>

namespace mtatls::fuzz {

inline std::string diagnostics_text(const config::Diagnostics& diagnostics) {
    std::string all;
    for (const auto& d : diagnostics.items())
        all += config::format(d) + "\n";
    return all;
}

// Text for a failure message with every byte outside printable ASCII as
// \xNN: the interesting differences are often invisible bytes.
inline std::string visible(std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f && b != '\\') {
            out += c;
        } else {
            out += "\\x";
            out += digits[b >> 4];
            out += digits[b & 0xf];
        }
    }
    return out;
}

// RFC 3629 UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
inline bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto b = static_cast<unsigned char>(text[i]);
        std::size_t n = 0;
        unsigned min = 0, cp = 0;
        if (b < 0x80) {
            ++i;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            n = 1, min = 0x80, cp = b & 0x1f;
        else if (b >= 0xe0 && b <= 0xef)
            n = 2, min = 0x800, cp = b & 0x0f;
        else if (b >= 0xf0 && b <= 0xf4)
            n = 3, min = 0x10000, cp = b & 0x07;
        else
            return false;
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= text.size()) return false;
            const auto c = static_cast<unsigned char>(text[i + k]);
            if ((c & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

// Known bug "non-utf8" (see tests/fuzz/README.md): convert replaces bytes
// that are not UTF-8 with U+FFFD.
inline bool has_non_utf8(const config::Config& configuration) {
    for (const config::Stanza& stanza : configuration.stanzas()) {
        if (!valid_utf8(stanza.name)) return true;
        for (const config::Setting& setting : stanza.settings)
            if (!valid_utf8(setting.value)) return true;
    }
    return false;
}

// Names from the configuration plus a few that match nothing, so that
// both exact and regex domain stanzas and every scope rank get resolved.
// Bounded: resolution cost grows with the product of the lists.
inline void collect_keys(const config::Config& configuration, std::vector<std::string>& groups,
                         std::vector<std::string>& bindings, std::vector<std::string>& domains) {
    constexpr std::size_t max_names = 6;
    groups = {""};
    bindings = {"", "default"};
    domains = {"example.com", "mx.fuzz.test"};
    for (const config::Stanza& stanza : configuration.stanzas()) {
        switch (stanza.kind) {
        case config::StanzaKind::global: break;
        case config::StanzaKind::binding_group:
            if (groups.size() < max_names) groups.push_back(stanza.name);
            break;
        case config::StanzaKind::binding:
            if (bindings.size() < max_names) bindings.push_back(stanza.name);
            break;
        case config::StanzaKind::domain:
            if (domains.size() < max_names && !stanza.name.starts_with('/'))
                domains.push_back(stanza.name);
            break;
        }
    }
}

inline void require_same_policies(const config::Config& a, const config::Config& b,
                                  const std::string& yaml) {
    std::vector<std::string> groups, bindings, domains;
    collect_keys(a, groups, bindings, domains);
    for (const std::string& group : groups)
        for (const std::string& binding : bindings)
            for (const std::string& domain : domains) {
                const config::PolicyKey key{group, binding, domain};
                const config::Effective ea = a.resolve(key);
                const config::Effective eb = b.resolve(key);
                for (const auto& d : config::all_directives()) {
                    if (ea[d.id].value == eb[d.id].value && ea.rank(d.id) == eb.rank(d.id))
                        continue;
                    fail("converted YAML resolves differently from its source",
                         "key (" + visible(group) + ", " + visible(binding) + ", " +
                             visible(domain) + ") directive " + std::string(d.name) +
                             ": source \"" + visible(ea[d.id].value) + "\", converted \"" +
                             visible(eb[d.id].value) + "\"\n" + visible(yaml));
                }
            }
}

// Known bug "yaml-long-key": a name whose escaped form passes 1024
// characters is written as an implicit key, which the reader refuses.  Six
// characters is the longest escape of one byte.
inline bool has_long_name(const config::Config& configuration) {
    for (const config::Stanza& stanza : configuration.stanzas())
        if (stanza.name.size() > 1024 / 6) return true;
    return false;
}

// Known bug "domain-trailing-dots": normalize_domain removes one trailing
// dot, so "x.." is kept as "x." and becomes "x" only after a conversion.
inline bool has_dot_ended_domain(const config::Config& configuration) {
    for (const config::Stanza& stanza : configuration.stanzas())
        if (stanza.kind == config::StanzaKind::domain && !stanza.name.starts_with('/') &&
            stanza.name.ends_with('.'))
            return true;
    return false;
}

// Known bug "regex-int-overflow" (see tests/fuzz/README.md): libstdc++'s
// regex compiler overflows a signed long on a back-reference or repetition
// count of 19 or more digits.  Ten digits are already suspect.
inline bool regex_with_long_number(const config::RawStanza& stanza) {
    const std::string& name = stanza.name;
    if (stanza.kind == config::StanzaKind::domain && name.size() >= 2 && name.front() == '/' &&
        name.back() == '/') {
        std::size_t run = 0;
        for (const char c : name) {
            run = c >= '0' && c <= '9' ? run + 1 : 0;
            if (run >= 10) return true;
        }
    }
    for (const config::RawStanza& child : stanza.children)
        if (regex_with_long_number(child)) return true;
    return false;
}

// `document` was read from `source_name` (a path in a scratch directory:
// relative file names resolve against it).
inline void compile_and_round_trip(const config::Document& document, bool read_ok,
                                   config::Diagnostics& diagnostics,
                                   const std::string& source_name) {
    config::CompileOptions options;
    options.check_files = false; // the files named are the fuzzer's inventions
    if (!read_ok) {
        check(diagnostics.has_errors(), "a reader failed without an error message");
        return;
    }
    if (known("regex-int-overflow") && regex_with_long_number(document.root)) return;
    const auto compiled = config::compile(document, diagnostics, options);
    check((compiled != nullptr) == !diagnostics.has_errors(),
          "compile's result disagrees with its diagnostics", diagnostics_text(diagnostics));
    if (!compiled) return;
    if (known("non-utf8") && has_non_utf8(*compiled)) return;
    if (known("yaml-long-key") && has_long_name(*compiled)) return;
    if (known("domain-trailing-dots") && has_dot_ended_domain(*compiled)) return;

    const std::string yaml = config::to_yaml(*compiled, source_name);
    config::Document converted;
    converted.files = {source_name};
    config::Diagnostics converted_diagnostics;
    const bool parsed = config::parse_yaml_text(yaml, converted, converted_diagnostics);
    const auto recompiled =
        parsed ? config::compile(converted, converted_diagnostics, options) : nullptr;
    if (!recompiled)
        fail("the converted YAML of a valid configuration does not compile",
             diagnostics_text(converted_diagnostics) + "--- converted:\n" + yaml);
    const std::string again = config::to_yaml(*recompiled, source_name);
    check(again == yaml, "converting the converted YAML changes it",
          "--- first:\n" + yaml + "--- second:\n" + again);
    require_same_policies(*compiled, *recompiled, yaml);
}

} // namespace mtatls::fuzz
