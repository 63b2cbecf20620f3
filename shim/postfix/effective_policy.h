// effective_policy.h - the effective mtatls policy for one (binding,
// domain), as the module reports it through CONFIG_EXPLAIN (read with
// shim/host's explain.h): every directive with its value and where that
// value comes from.
//
// This is the input of the Postfix mapping (policy_map.h).  It is a plain
// value so that the mapping can be tested, and fuzzed, without a module.
#pragma once

#include "explain.h"
#include "module_loader.h"

#include <string>
#include <string_view>
#include <vector>

namespace mtatls::postfix {

// A directive of the policy, with its value and where it was set.
using Setting = host::ExplainedSetting;

class EffectivePolicy {
  public:
    // Adds or replaces the setting of `setting.name`.
    void set(Setting setting);
    // Takes the settings as CONFIG_EXPLAIN reports them (each once).
    void assign(std::vector<Setting> settings) { settings_ = std::move(settings); }
    // A directive reported by the module, or nullptr.
    [[nodiscard]] const Setting* find(std::string_view name) const;
    // The value of `name`, or `fallback` when the module did not report it
    // (an older module without that directive).
    [[nodiscard]] std::string_view value(std::string_view name, std::string_view fallback) const;
    [[nodiscard]] const std::vector<Setting>& settings() const { return settings_; }

  private:
    std::vector<Setting> settings_; // in the module's order
};

// Asks the module for the effective policy of (binding, domain) under the
// configuration in force.  Returns an mtatls_status; on failure `error`
// says why in one line.
int read_effective_policy(const host::Module& module, const std::string& binding,
                          const std::string& domain, EffectivePolicy& policy, std::string& error);

} // namespace mtatls::postfix
