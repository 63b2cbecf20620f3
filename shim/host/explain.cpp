// explain.cpp - CONFIG_EXPLAIN's entries as values (see explain.h).
#include "explain.h"

#include <algorithm>

namespace mtatls::host {
namespace {

std::string text_or(const char* text, const char* none) { return text != nullptr ? text : none; }

} // namespace

std::string ExplainedSetting::location() const {
    if (file.empty()) return {};
    std::string out = file;
    if (line > 0) {
        out += ':' + std::to_string(line);
        if (column > 0) out += ':' + std::to_string(column);
    }
    return out;
}

Explanation explain(const Module& module, const ExplainKey& key,
                    std::initializer_list<std::string_view> names,
                    const DiagnosticHandler& on_diagnostic) {
    Explanation out;
    mtatls_policy_key abi_key{};
    abi_key.struct_size = sizeof abi_key;
    abi_key.binding_group = key.binding_group.c_str();
    abi_key.binding = key.binding.c_str();
    abi_key.domain = key.domain.c_str();
    // Every directive, without moving them around: the module knows a few
    // dozen, and the policy daemon explains once per lookup.
    out.settings.reserve(names.size() > 0 ? names.size() : 32);
    out.status = module.config_explain(
        abi_key,
        [&](const mtatls_explain_entry& entry) {
            if (entry.name == nullptr) return;
            if (names.size() > 0 &&
                std::find(names.begin(), names.end(), std::string_view(entry.name)) == names.end())
                return;
            ExplainedSetting setting;
            setting.name = entry.name;
            setting.value = text_or(entry.value, "");
            setting.scope = text_or(entry.scope, "default");
            setting.file = text_or(entry.file, "");
            setting.line = entry.line;
            setting.column = entry.column;
            out.settings.push_back(std::move(setting));
        },
        [&](const mtatls_diagnostic& d) {
            if (d.severity == MTATLS_SEVERITY_ERROR && d.message != nullptr)
                out.errors.emplace_back(d.message);
            if (on_diagnostic) on_diagnostic(d);
        });
    return out;
}

} // namespace mtatls::host
