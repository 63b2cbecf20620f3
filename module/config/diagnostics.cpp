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

namespace {

// Diagnostics are one line each: control bytes from the configuration
// (a heredoc value, a hostile file name) are shown escaped.
std::string one_line(std::string text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 15];
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace

void Diagnostics::add(Severity severity, std::string file, SourcePos pos, std::string scope,
                      std::string message) {
    message = one_line(std::move(message));
    scope = one_line(std::move(scope));
    file = one_line(std::move(file));
    if (severity == Severity::error) ++error_count_;
    items_.push_back(Diagnostic{severity, std::move(file), pos.line, pos.column, std::move(scope),
                                std::move(message)});
}

} // namespace mtatls::config
