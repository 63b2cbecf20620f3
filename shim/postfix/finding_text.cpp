// finding_text.cpp - printing findings (see finding_text.h).
#include "finding_text.h"

namespace mtatls::postfix {

std::string finding_text(const Finding& finding, const std::string& config_file) {
    std::string out;
    std::string location = finding.setting.location();
    if (location.empty()) location = config_file;
    if (!location.empty()) out += location + ": ";
    out += finding.severity == Severity::warning ? "warning: " : "note: ";
    out += "[" + finding.setting.scope + "] postfix: " + finding.message;
    return out;
}

std::string finding_identity(const Finding& finding) {
    return finding.id + '\n' + finding.setting.scope + '\n' + finding.setting.location();
}

} // namespace mtatls::postfix
