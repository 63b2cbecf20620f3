// log_settings.cpp - reading the tls_log_* directives (see log_settings.h).
#include "log_settings.h"

#include "ascii_case.h"
#include "custom_format.h"
#include "explain.h"
#include "text/log_template.h"

#include <algorithm>

namespace mtatls::host {
namespace {

std::string apply_template(std::string& target, std::string_view name, std::string_view value) {
    if (value.empty()) {
        target = default_log_template;
        return {};
    }
    const text::ParsedTemplate parsed = text::parse_template(value);
    if (!parsed.error.empty())
        return std::string(name) + ": " + parsed.error + " at offset " +
               std::to_string(parsed.error_offset);
    target = std::string(value);
    return {};
}

} // namespace

std::string apply_log_setting(LogSettings& settings, std::string_view name,
                              std::string_view value) {
    if (name == log_directive::format) {
        const std::string word = ascii_lower(value);
        if (word == "keyvalue")
            settings.form = LogForm::keyvalue;
        else if (word == "json")
            settings.form = LogForm::json;
        else if (word == "custom")
            settings.form = LogForm::custom;
        else
            return std::string(name) + ": unknown log format \"" + std::string(value) +
                   "\" (this host knows keyvalue, json, custom)";
        return {};
    }
    if (name == log_directive::summary) {
        const std::string word = ascii_lower(value);
        if (word == "true" || word == "yes" || word == "on" || word == "1")
            settings.postfix_summary = true;
        else if (word == "false" || word == "no" || word == "off" || word == "0")
            settings.postfix_summary = false;
        else
            return std::string(name) + ": not a boolean: \"" + std::string(value) + "\"";
        return {};
    }
    if (name == log_directive::delivery)
        return apply_template(settings.delivery_format, name, value);
    if (name == log_directive::transient)
        return apply_template(settings.transientfailure_format, name, value);
    if (name == log_directive::permanent)
        return apply_template(settings.permanentfailure_format, name, value);
    return {};
}

LogSettings read_log_settings(const Module& module, std::vector<std::string>& problems) {
    LogSettings settings;
    const Explanation explained =
        explain(module, {},
                {log_directive::format, log_directive::delivery, log_directive::transient,
                 log_directive::permanent, log_directive::summary});
    for (const ExplainedSetting& setting : explained.settings)
        if (std::string problem = apply_log_setting(settings, setting.name, setting.value);
            !problem.empty())
            problems.push_back(std::move(problem));
    problems.insert(problems.end(), explained.errors.begin(), explained.errors.end());
    // No CONFIG_EXPLAIN: a module without log settings; the defaults apply.
    if (explained.status != MTATLS_STATUS_OK && explained.status != MTATLS_STATUS_NOT_FOUND)
        problems.push_back(std::string("cannot read the log settings: ") +
                           status_text(explained.status));
    return settings;
}

const std::string& template_for(const LogSettings& settings, Outcome outcome, bool fallback) {
    if (fallback) return settings.transientfailure_format;
    switch (outcome) {
    case Outcome::sent: return settings.delivery_format;
    case Outcome::deferred: return settings.transientfailure_format;
    case Outcome::bounced: return settings.permanentfailure_format;
    }
    return settings.transientfailure_format;
}

std::vector<std::string> template_macro_names(const LogSettings& settings) {
    std::vector<std::string> names;
    for (const std::string* text : {&settings.delivery_format, &settings.transientfailure_format,
                                    &settings.permanentfailure_format})
        for (std::string& name : template_names(*text))
            if (!name.starts_with("delivery:") &&
                std::find(names.begin(), names.end(), name) == names.end())
                names.push_back(std::move(name));
    return names;
}

} // namespace mtatls::host
