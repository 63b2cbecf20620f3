// yaml_writer.cpp - Config to YAML, stanzas in declaration order.
#include "config/yaml_writer.h"

#include <yaml-cpp/yaml.h>

#include <unordered_map>

namespace mtatls::config {
namespace {

using Children = std::unordered_map<const Stanza*, std::vector<const Stanza*>>;

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
