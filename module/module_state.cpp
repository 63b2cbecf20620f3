// module_state.cpp - configuration swap, explanation and per-attempt policy.
#include "module_state.h"

#include "config/load.h"

namespace mtatls {

using config::Directive;

bool ModuleState::load(const std::string& path, config::Diagnostics& diagnostics) {
    std::shared_ptr<const config::Config> fresh = config::load_config(path, diagnostics);
    if (!fresh) return false;
    auto contexts = std::make_shared<tls::ClientContextCache>();
    std::lock_guard lock(mutex_);
    generation_ = {std::move(fresh), std::move(contexts)};
    return true;
}

ModuleState::Generation ModuleState::generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
}

std::shared_ptr<const config::Config> ModuleState::current() const { return generation().config; }

std::size_t ModuleState::context_count() const {
    const Generation now = generation();
    return now.contexts ? now.contexts->size() : 0;
}

std::string display_value(const config::Setting& setting) {
    const auto& directive = config::info(setting.id);
    if (setting.owner == nullptr && directive.default_meaning != nullptr &&
        setting.value == directive.default_value)
        return setting.value.empty() ? std::string("(") + directive.default_meaning + ")"
                                     : setting.value + " (" + directive.default_meaning + ")";
    return setting.value;
}

std::optional<std::vector<ExplainLine>> ModuleState::explain(const config::PolicyKey& key,
                                                             std::string& note) const {
    const std::shared_ptr<const config::Config> config = current();
    if (!config) return std::nullopt;
    const config::Effective effective = config->resolve(key);
    note = effective.note();
    std::vector<ExplainLine> lines;
    for (const auto& directive : config::all_directives()) {
        const config::Setting& setting = effective[directive.id];
        ExplainLine line;
        line.name = directive.name;
        line.value = display_value(setting);
        if (setting.owner == nullptr) {
            line.scope = "default";
        } else {
            line.scope = setting.owner->scope_path();
            line.file = config->file_name(setting.pos);
            line.line = setting.pos.line;
            line.column = setting.pos.column;
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

std::unique_ptr<Connection> ModuleState::open(const config::PolicyKey& key, std::string mx_host,
                                              std::string peer_address, uint16_t peer_port) const {
    const Generation now = generation();
    if (!now.config) return nullptr;
    auto connection = std::make_unique<Connection>();
    connection->config = now.config;
    connection->policy = connection->config->resolve(key);
    if (connection->policy.tls() != config::TlsMode::no)
        connection->tls_context = now.contexts->get(
            tls::ClientTlsSettings::from(connection->policy), connection->tls_context_error);
    connection->binding_group = key.binding_group;
    connection->binding = key.binding;
    connection->domain = key.domain;
    connection->mx_host = std::move(mx_host);
    connection->peer_address = std::move(peer_address);
    connection->peer_port = peer_port;
    return connection;
}

} // namespace mtatls
