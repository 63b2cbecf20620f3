// effective_policy.cpp - collecting CONFIG_EXPLAIN's entries.
#include "effective_policy.h"

namespace mtatls::postfix {

std::string Setting::location() const {
    if (file.empty()) return {};
    std::string out = file;
    if (line > 0) {
        out += ':' + std::to_string(line);
        if (column > 0) out += ':' + std::to_string(column);
    }
    return out;
}

void EffectivePolicy::set(Setting setting) {
    for (Setting& existing : settings_) {
        if (existing.name == setting.name) {
            existing = std::move(setting);
            return;
        }
    }
    settings_.push_back(std::move(setting));
}

const Setting* EffectivePolicy::find(std::string_view name) const {
    for (const Setting& setting : settings_)
        if (setting.name == name) return &setting;
    return nullptr;
}

std::string_view EffectivePolicy::value(std::string_view name, std::string_view fallback) const {
    const Setting* setting = find(name);
    return setting != nullptr ? std::string_view(setting->value) : fallback;
}

int read_effective_policy(const host::Module& module, const std::string& binding,
                          const std::string& domain, EffectivePolicy& policy, std::string& error) {
    mtatls_policy_key key{};
    key.struct_size = sizeof key;
    key.binding_group = "";
    key.binding = binding.c_str();
    key.domain = domain.c_str();
    std::string diagnostic;
    policy.reserve(32); // every directive, without moving them around
    const int status = module.config_explain(
        key,
        [&policy](const mtatls_explain_entry& entry) {
            if (entry.name == nullptr) return;
            Setting setting;
            setting.name = entry.name;
            setting.value = entry.value != nullptr ? entry.value : "";
            setting.scope = entry.scope != nullptr ? entry.scope : "default";
            setting.file = entry.file != nullptr ? entry.file : "";
            setting.line = entry.line;
            setting.column = entry.column;
            policy.add(std::move(setting));
        },
        [&diagnostic](const mtatls_diagnostic& d) {
            if (d.severity == MTATLS_SEVERITY_ERROR && d.message != nullptr && diagnostic.empty())
                diagnostic = d.message;
        });
    if (status != MTATLS_STATUS_OK) {
        error = std::string("CONFIG_EXPLAIN failed: ") + host::status_text(status);
        if (!diagnostic.empty()) error += " (" + diagnostic + ")";
    }
    return status;
}

} // namespace mtatls::postfix
