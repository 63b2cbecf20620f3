// diagnostics.cpp - formatting and collection of configuration diagnostics.
#include "config/diagnostics.h"

namespace mtatls::config {

std::string format(const Diagnostic& d) {
    std::string out;
    if (!d.file.empty()) {
        out += d.file;
        if (d.line > 0) {
            out += ':' + std::to_string(d.line);
            if (d.column > 0) out += ':' + std::to_string(d.column);
        }
        out += ": ";
    }
    switch (d.severity) {
    case Severity::error: out += "error: "; break;
    case Severity::warning: out += "warning: "; break;
    case Severity::note: out += "note: "; break;
    }
    if (!d.scope.empty()) out += "[" + d.scope + "] ";
    out += d.message;
    return out;
}

void Diagnostics::add(Severity severity, std::string file, SourcePos pos, std::string scope,
                      std::string message) {
    if (severity == Severity::error) ++error_count_;
    items_.push_back(Diagnostic{severity, std::move(file), pos.line, pos.column, std::move(scope),
                                std::move(message)});
}

} // namespace mtatls::config
