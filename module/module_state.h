// module_state.h - the module's process-wide state behind the ABI: the
// loaded configuration (swapped atomically on reload) and the operations
// the hooks perform.  Nothing here knows about C or the ABI structs beyond
// plain values, so it can be unit-tested directly.
#pragma once

#include "config/compile.h"
#include "config/diagnostics.h"
#include "config/policy.h"
#include "tls/client_context.h"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace mtatls {

// Per delivery attempt: the policy in force when it started.  A reload
// during the attempt does not change it (the Config is kept alive here).
struct Connection {
    std::shared_ptr<const config::Config> config;
    config::Effective policy;
    std::string binding_group;
    std::string binding;
    std::string domain;
    std::string mx_host;
    std::string peer_address;
    uint16_t peer_port = 0;
    // The shared SSL_CTX for this policy; null when tls = no.
    std::shared_ptr<const tls::ClientContext> tls_context;
    // Why no context could be built (a file vanished since the load).
    std::string tls_context_error;
};

struct ExplainLine {
    std::string name;
    std::string value;
    std::string scope; // "default" for built-ins
    std::string file;
    uint32_t line = 0;
    uint32_t column = 0;
};

class ModuleState {
  public:
    // Loads `path`; on success it replaces the configuration in force, on
    // failure the old one stays.  Diagnostics include warnings and notes.
    bool load(const std::string& path, config::Diagnostics& diagnostics);

    [[nodiscard]] std::shared_ptr<const config::Config> current() const;

    // Every effective directive for `key`, in table order.  Empty optional
    // when no configuration is loaded.
    std::optional<std::vector<ExplainLine>> explain(const config::PolicyKey& key,
                                                    std::string& note) const;

    std::unique_ptr<Connection> open(const config::PolicyKey& key, std::string mx_host,
                                     std::string peer_address, uint16_t peer_port) const;

    // How many distinct SSL_CTXs the current configuration has needed.
    [[nodiscard]] std::size_t context_count() const;


  private:
    // A configuration and the SSL_CTXs built for its policies, swapped
    // together so a reload never mixes the two.
    struct Generation {
        std::shared_ptr<const config::Config> config;
        std::shared_ptr<tls::ClientContextCache> contexts;
    };
    [[nodiscard]] Generation generation() const;

    mutable std::mutex mutex_; // guards generation_ (the pointers, not what they hold)
    Generation generation_;
};

// Text the value shows in `mtatls-config eval` (defaults that are not
// values say what they mean, e.g. the system trust store).
std::string display_value(const config::Setting& setting);

} // namespace mtatls
