// document.cpp - names of stanza kinds.
#include "config/document.h"

#include "config/directive.h"

#include <array>

namespace mtatls::config {

const char* keyword(StanzaKind kind) {
    switch (kind) {
    case StanzaKind::global: return "global";
    case StanzaKind::binding_group: return "binding_group";
    case StanzaKind::binding: return "binding";
    case StanzaKind::domain: return "domain";
    }
    return "?";
}

namespace {
constexpr std::array<StanzaKind, 3> named_kinds{StanzaKind::binding_group, StanzaKind::binding,
                                                StanzaKind::domain};
} // namespace

std::optional<StanzaKind> find_stanza_kind(std::string_view word) {
    for (const StanzaKind kind : named_kinds)
        if (iequals(word, keyword(kind))) return kind;
    return std::nullopt;
}

std::string suggest_stanza_keyword(std::string_view word) {
    std::array<const char*, named_kinds.size()> names{};
    for (std::size_t i = 0; i < named_kinds.size(); ++i)
        names[i] = keyword(named_kinds[i]);
    return closest_match(word, names);
}

} // namespace mtatls::config
