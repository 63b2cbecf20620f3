// explain.h - reading effective directives from the loaded configuration
// through CONFIG_EXPLAIN, for every host-side reader of settings: the log
// form (log_settings.h), the DNS servers (resolver_settings.h), the
// Postfix policy daemon (shim/postfix/effective_policy.h) and
// `mtatls-config eval`.
//
// One place turns the module's C entries (NULL for "none") into values,
// so that every reader sees the same text for the same entry.  Global
// directives have the same effective value under every key; readers of
// them pass an empty key.
#pragma once

#include "module_loader.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

// One directive as CONFIG_EXPLAIN reports it.
struct ExplainedSetting {
    std::string name;  // directive, lower case
    std::string value; // effective value as text
    std::string scope; // "global", "binding \"b\" / domain \"d\"", or "default"
    std::string file;  // empty for built-in defaults
    uint32_t line = 0;
    uint32_t column = 0;

    // A built-in default: the configuration does not set the directive.
    [[nodiscard]] bool is_default() const { return scope == "default"; }
    // "FILE:LINE:COL", "FILE:LINE", "FILE" or "" (a default).
    [[nodiscard]] std::string location() const;
};

// Whose policy to explain; "" for none (no binding means "default").
struct ExplainKey {
    std::string binding_group;
    std::string binding;
    std::string domain;
};

struct Explanation {
    int status = MTATLS_STATUS_OK;          // CONFIG_EXPLAIN's mtatls_status
    std::vector<ExplainedSetting> settings; // in the module's order
    std::vector<std::string> errors;        // the module's error diagnostics, in order
};

// Asks `module` for the effective directives of `key` under the
// configuration in force.  With `names`, only those directives are kept.
// `on_diagnostic`, when given, also sees every diagnostic as it comes
// (mtatls-config eval prints them all).  A module without CONFIG_EXPLAIN
// gives status MTATLS_STATUS_NOT_FOUND and nothing else.
Explanation explain(const Module& module, const ExplainKey& key,
                    std::initializer_list<std::string_view> names = {},
                    const DiagnosticHandler& on_diagnostic = nullptr);

} // namespace mtatls::host
