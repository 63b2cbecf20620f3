// log_settings.h - which log form a host writes, as the configuration
// says: tls_log_format, the three custom templates and
// tls_log_postfix_summary (global-scope directives the module validates).
//
// The host reads them after CONFIG_LOAD through CONFIG_EXPLAIN on an
// empty policy key (explain.h): global directives have the same effective
// value under every key.  A module that does not know them (or has no CONFIG_EXPLAIN)
// leaves the defaults: key=value lines with the Postfix summary.
#pragma once

#include "text/log_template.h"

#include "attempt_result.h"
#include "module_loader.h"

#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

enum class LogForm {
    keyvalue, // "PROGRAM: status=... relay=..." (the default)
    json,     // one JSON object per line (JSON Lines)
    custom    // the admin's templates
};

namespace log_directive {
inline constexpr const char* format = "tls_log_format";
inline constexpr const char* delivery = "tls_log_delivery_format";
inline constexpr const char* transient = "tls_log_transientfailure_format";
inline constexpr const char* permanent = "tls_log_permanentfailure_format";
inline constexpr const char* summary = "tls_log_postfix_summary";
} // namespace log_directive

// The template used when the configuration gives none (or an empty one):
// the same constant the module reports as the directives' default.
using text::default_log_template;

struct LogSettings {
    LogForm form = LogForm::keyvalue;
    std::string delivery_format = default_log_template;
    std::string transientfailure_format = default_log_template;
    std::string permanentfailure_format = default_log_template;
    bool postfix_summary = true;

    friend bool operator==(const LogSettings&, const LogSettings&) = default;
};

// Applies one effective directive as CONFIG_EXPLAIN reports it.  Names
// other than the tls_log_* ones are ignored.  Returns why the value cannot
// be used ("" when it can); the setting then keeps its value.
std::string apply_log_setting(LogSettings& settings, std::string_view name, std::string_view value);

// The settings of the configuration loaded into `module`; problems (a
// failed CONFIG_EXPLAIN, a value this host does not understand) are added
// to `problems` as one line each, and the defaults stay in force for
// them.
LogSettings read_log_settings(const Module& module, std::vector<std::string>& problems);

// The template for an attempt: delivery for sent, transient failure for
// deferred and fallback, permanent failure for bounced.
const std::string& template_for(const LogSettings& settings, Outcome outcome, bool fallback);

// The macro names the custom templates refer to (delivery:* fields
// excluded), so that a host can look them up before the connection ends.
std::vector<std::string> template_macro_names(const LogSettings& settings);

} // namespace mtatls::host
