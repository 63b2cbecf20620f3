// document.h - a configuration file as parsed, before validation.
//
// Both readers (YAML and Momentum syntax) produce this same tree, so every
// rule after parsing (names, values, scopes, files, resolution) is written
// once.  Nothing here is checked yet except the syntax itself.
#pragma once

#include "config/diagnostics.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::config {

enum class StanzaKind { global, binding_group, binding, domain };

// The keyword of a stanza kind as written in both syntaxes.
const char* keyword(StanzaKind kind);

// The named stanza kind a keyword stands for (case-insensitive), if any.
std::optional<StanzaKind> find_stanza_kind(std::string_view word);

// The stanza keyword `word` is a likely typo of, or empty.
std::string suggest_stanza_keyword(std::string_view word);

enum class Syntax { yaml, momentum };

// One `name = value` (Momentum) or `name: value` (YAML) line.
struct RawSetting {
    std::string name;  // as written; matched case-insensitively later
    std::string value; // unquoted text
    SourcePos pos;     // of the name
    SourcePos value_pos;
};

struct RawStanza {
    StanzaKind kind = StanzaKind::global;
    std::string name; // empty for global; "/regex/" for regex domains
    SourcePos pos;
    std::vector<RawSetting> settings;
    std::vector<RawStanza> children; // in declaration order
};

// Something a Momentum file holds that is not outbound TLS configuration.
struct IgnoredItem {
    std::string what; // e.g. `option "max_outbound_connections"` or `stanza "esmtp_listener"`
    SourcePos pos;
};

struct Document {
    Syntax syntax = Syntax::yaml;
    std::vector<std::string> files; // files[0] is the main file; includes follow
    RawStanza root;                 // kind == global
    std::vector<IgnoredItem> ignored;

    [[nodiscard]] const std::string& file_name(const SourcePos& pos) const {
        static const std::string none;
        return pos.file < files.size() ? files[pos.file] : none;
    }
};

} // namespace mtatls::config
