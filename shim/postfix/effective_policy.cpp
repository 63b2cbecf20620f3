// effective_policy.cpp - the effective policy of a (binding, domain) and
// lookups in it (see effective_policy.h).
#include "effective_policy.h"

namespace mtatls::postfix {

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
    host::Explanation explained = host::explain(module, {"", binding, domain});
    if (explained.status != MTATLS_STATUS_OK) {
        error = std::string("CONFIG_EXPLAIN failed: ") + host::status_text(explained.status);
        if (!explained.errors.empty()) error += " (" + explained.errors.front() + ")";
    }
    policy.assign(std::move(explained.settings));
    return explained.status;
}

} // namespace mtatls::postfix
