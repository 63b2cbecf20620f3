// yaml_writer.cpp - Config to YAML, stanzas in declaration order.
#include "config/yaml_writer.h"

#include <yaml-cpp/yaml.h>

#include <unordered_map>

namespace mtatls::config {
namespace {

using Children = std::unordered_map<const Stanza*, std::vector<const Stanza*>>;

// YAML allows an implicit key ("name:") of at most 1024 characters as
// written, escapes included; yaml-cpp decides by the raw length.  Past this
// many bytes a name is written as an explicit key ("? name"), which has no
// limit.  (Names are printable UTF-8, so escaping at most doubles them.)
constexpr std::size_t longest_implicit_key = 256;

void emit_body(YAML::Emitter& out, const Stanza& stanza, const Children& children) {
    for (const Setting& setting : stanza.settings)
        out << YAML::Key << info(setting.id).name << YAML::Value << YAML::DoubleQuoted
            << setting.value;
    const auto it = children.find(&stanza);
    if (it == children.end()) return;
    for (auto kind : {StanzaKind::binding_group, StanzaKind::binding, StanzaKind::domain}) {
        bool opened = false;
        for (const Stanza* child : it->second) {
            if (child->kind != kind) continue;
            if (!opened) {
                out << YAML::Key << keyword(kind) << YAML::Value << YAML::BeginMap;
                opened = true;
            }
            if (child->name.size() > longest_implicit_key) out << YAML::LongKey;
            out << YAML::Key << YAML::DoubleQuoted << child->name << YAML::Value << YAML::BeginMap;
            emit_body(out, *child, children);
            out << YAML::EndMap;
        }
        if (opened) out << YAML::EndMap;
    }
}

} // namespace

std::string to_yaml(const Config& config, const std::string& source_name) {
    Children children;
    for (const Stanza& stanza : config.stanzas())
        if (stanza.parent != nullptr) children[stanza.parent].push_back(&stanza);
    YAML::Emitter out;
    out << YAML::Comment("mtatls configuration converted from " + source_name);
    out << YAML::BeginMap;
    emit_body(out, config.global(), children);
    out << YAML::EndMap;
    std::string text = out.c_str();
    text += '\n';
    return text;
}

} // namespace mtatls::config
