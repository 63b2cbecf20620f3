// policy.cpp - scope resolution over the compiled configuration.
#include "config/policy.h"

#include <bit>

namespace mtatls::config {
namespace {

// Built-in defaults as Settings, so every effective value is a Setting and
// callers never special-case "unset".
std::array<Setting, directive_count> make_defaults() {
    std::array<Setting, directive_count> defaults{};
    for (const auto& entry : all_directives()) {
        Setting& s = defaults[static_cast<std::size_t>(entry.id)];
        s.id = entry.id;
        s.value = entry.default_value;
        for (std::size_t i = 0; i < entry.choices.size(); ++i)
            if (s.value == entry.choices[i]) s.choice = static_cast<int8_t>(i);
    }
    return defaults;
}

const std::array<Setting, directive_count>& defaults() {
    static const std::array<Setting, directive_count> table = make_defaults();
    return table;
}

} // namespace

const Setting& default_setting(Directive directive) {
    return defaults()[static_cast<std::size_t>(directive)];
}

const Setting* Stanza::find(Directive directive) const {
    if ((set_mask & (1u << static_cast<unsigned>(directive))) == 0) return nullptr;
    for (const Setting& s : settings)
        if (s.id == directive) return &s;
    return nullptr;
}

std::string Stanza::scope_path() const {
    if (kind == StanzaKind::global) return "global";
    // Walk up to the root, then print outermost first.
    std::vector<const Stanza*> chain;
    for (const Stanza* s = this; s != nullptr && s->kind != StanzaKind::global; s = s->parent)
        chain.push_back(s);
    std::string path;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if (!path.empty()) path += " / ";
        path += keyword((*it)->kind);
        path += " \"";
        path += (*it)->name;
        path += '"';
    }
    return path;
}

const Stanza* DomainTable::match(const std::string& domain) const {
    if (auto it = exact_.find(domain); it != exact_.end()) return it->second;
    for (const Regex& regex : regexes_) {
        if (regex.literal.usable) {
            const std::string& text = regex.literal.text;
            if (regex.literal.whole ? domain == text : domain.ends_with(text)) return regex.stanza;
            continue;
        }
        try {
            if (std::regex_search(domain, regex.pattern)) return regex.stanza;
        } catch (const std::regex_error&) {
            // A pathological pattern ran out of stack or steps on this
            // name: treat as no match rather than failing the delivery.
        }
    }
    return nullptr;
}

DomainTable::Regex::Literal DomainTable::literal_form(std::string_view source) {
    Regex::Literal literal;
    if (source.empty() || source.back() != '$') return literal;
    source.remove_suffix(1);
    if (!source.empty() && source.front() == '^') {
        literal.whole = true;
        source.remove_prefix(1);
    }
    for (std::size_t i = 0; i < source.size(); ++i) {
        const char c = source[i];
        if (c == '\\' && i + 1 < source.size() && source[i + 1] == '.') {
            literal.text += '.';
            ++i;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            literal.text += c;
        } else {
            return {}; // any other character may be an operator: use the regex
        }
    }
    literal.usable = !literal.text.empty();
    return literal;
}

std::string normalize_domain(std::string_view domain) {
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    return lowercase(domain);
}

Effective Config::resolve(const PolicyKey& key) const {
    Effective result;
    const std::string_view binding_name = key.binding.empty() ? "default" : key.binding;
    const BindingEntry* binding = nullptr;
    if (auto it = bindings_.find(binding_name); it != bindings_.end()) binding = &it->second;

    const GroupEntry* group = nullptr;
    if (binding != nullptr && binding->group != nullptr) {
        group = binding->group;
        if (!key.binding_group.empty() && key.binding_group != group->container.stanza->name)
            result.note_ = "binding \"" + std::string(binding_name) +
                           "\" is declared in binding_group \"" + group->container.stanza->name +
                           "\", not \"" + std::string(key.binding_group) + "\"; using \"" +
                           group->container.stanza->name + "\"";
    } else if (binding != nullptr && !key.binding_group.empty()) {
        // Group membership comes from nesting: a binding declared outside
        // every group has none, whatever the caller says.
        result.note_ = "binding \"" + std::string(binding_name) +
                       "\" is declared outside any binding_group; "
                       "ignoring binding_group \"" +
                       std::string(key.binding_group) + "\"";
    } else if (!key.binding_group.empty()) {
        if (auto it = groups_.find(key.binding_group); it != groups_.end()) group = &it->second;
    }

    const std::string domain = normalize_domain(key.domain);
    // Domain tables are searched lazily, most specific first: a table whose
    // stanzas only set directives already decided by a more specific layer
    // cannot change the result, and skipping it avoids running its regexes
    // on every lookup.
    constexpr uint32_t all = (1u << directive_count) - 1;
    const Stanza* binding_domain =
        binding != nullptr ? binding->container.domains.match_if_useful(domain, all) : nullptr;
    uint32_t decided = binding_domain != nullptr ? binding_domain->set_mask : 0;
    const Stanza* group_domain =
        group != nullptr ? group->container.domains.match_if_useful(domain, all & ~decided)
                         : nullptr;
    if (group_domain != nullptr) decided |= group_domain->set_mask;
    if (binding != nullptr) decided |= binding->container.stanza->set_mask;
    if (group != nullptr) decided |= group->container.stanza->set_mask;
    const Stanza* global_domain = global_.domains.match_if_useful(domain, all & ~decided);

    Effective chosen = resolve_chosen(binding, group, binding_domain, group_domain, global_domain);
    chosen.note_ = std::move(result.note_);
    return chosen;
}

Effective Config::resolve_chosen(const BindingEntry* binding, const GroupEntry* group,
                                 const Stanza* binding_domain, const Stanza* group_domain,
                                 const Stanza* global_domain) const {
    Effective result;
    struct Layer {
        const Stanza* stanza;
        Rank rank;
    };
    const bool grouped_binding = binding != nullptr && binding->group != nullptr;
    const std::array<Layer, 6> layers{{
        {binding_domain, grouped_binding ? Rank::group_binding_domain : Rank::binding_domain},
        {group_domain, Rank::group_domain},
        {binding != nullptr ? binding->container.stanza : nullptr, Rank::binding},
        {group != nullptr ? group->container.stanza : nullptr, Rank::group},
        {global_domain, Rank::global_domain},
        {global_.stanza, Rank::global},
    }};

    uint32_t missing = (1u << directive_count) - 1;
    for (const Layer& layer : layers) {
        if (layer.stanza == nullptr) continue;
        if ((layer.stanza->set_mask & missing) == 0) continue;
        // One pass over the stanza's few settings, not one search per bit.
        for (const Setting& setting : layer.stanza->settings) {
            const auto bit = static_cast<unsigned>(setting.id);
            if ((missing & (1u << bit)) == 0) continue;
            result.settings_[bit] = &setting;
            result.ranks_[bit] = layer.rank;
        }
        missing &= ~layer.stanza->set_mask;
    }
    while (missing != 0) {
        const auto bit = static_cast<unsigned>(std::countr_zero(missing));
        missing &= missing - 1;
        result.settings_[bit] = &default_setting(static_cast<Directive>(bit));
        result.ranks_[bit] = Rank::builtin;
    }
    return result;
}

} // namespace mtatls::config
