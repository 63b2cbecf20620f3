// daemon_log.cpp - whole lines to standard error.
#include "daemon_log.h"

#include "text/log_safe.h"

#include <unistd.h>

#include <cerrno>

namespace mtatls::postfix {

void DaemonLog::write(std::string_view severity, std::string_view text) {
    std::string line;
    line.reserve(program_.size() + severity.size() + text.size() + 5);
    line += program_;
    line += ": ";
    if (!severity.empty()) {
        line += severity;
        line += ": ";
    }
    line += text::is_log_safe(text) ? std::string(text) : text::log_safe(text);
    line += '\n';
    const std::lock_guard<std::mutex> lock(mutex_);
    std::string_view rest = line;
    while (!rest.empty()) {
        const ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return; // nowhere left to report it
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string quote(std::string_view text) {
    // Quotes and backslashes first, so that the \xNN that log_safe()
    // writes for unsafe bytes stays distinguishable from a real backslash.
    std::string escaped;
    escaped.reserve(text.size());
    for (const char c : text) {
        if (c == '"' || c == '\\') escaped += '\\';
        escaped += c;
    }
    return "\"" + text::log_safe(escaped) + "\"";
}

} // namespace mtatls::postfix
