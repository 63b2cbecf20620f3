// daemon_log.h - mtatls-policyd's log: one line per event on standard
// error (systemd's journal, or a file the service manager chooses),
// "mtatls-policyd: SEVERITY: text", written with one write(2) under a lock
// so lines from the event loop and the reload thread never interleave.
// Text that came from a client is made log-safe by the caller's
// quote() (no control byte can forge a line).
#pragma once

#include <mutex>
#include <string>
#include <string_view>

namespace mtatls::postfix {

class DaemonLog {
  public:
    explicit DaemonLog(std::string program, int fd = 2) : program_(std::move(program)), fd_(fd) {}

    void info(std::string_view text) { write("info", text); }
    void warning(std::string_view text) { write("warning", text); }
    void error(std::string_view text) { write("error", text); }
    // A line that carries its own severity (a diagnostic, a finding).
    void plain(std::string_view text) { write({}, text); }

  private:
    void write(std::string_view severity, std::string_view text);

    std::string program_;
    int fd_;
    std::mutex mutex_;
};

// `text` in double quotes, log-safe, '"' and '\' escaped: for names, keys
// and replies that a client chose.
std::string quote(std::string_view text);

} // namespace mtatls::postfix
