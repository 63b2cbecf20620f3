// config_reloader.cpp - the reload thread (see config_reloader.h).
#include "config_reloader.h"

#include "command_support.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>

namespace mtatls::postfix {

ConfigReloader::ConfigReloader(const host::Module& module, std::string path, DaemonLog& log)
    : module_(module), path_(std::move(path)), log_(log) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    notify_read_.reset(fds[0]);
    notify_write_.reset(fds[1]);
    thread_ = std::thread([this] { loop(); });
}

ConfigReloader::~ConfigReloader() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        quit_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void ConfigReloader::request() {
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        wanted_ = true;
    }
    wake_.notify_one();
}

bool ConfigReloader::drain() {
    bool succeeded = false;
    char buffer[64];
    for (;;) {
        const ssize_t n = ::read(notify_read_.get(), buffer, sizeof buffer);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i)
            succeeded = succeeded || buffer[i] == '1';
    }
    return succeeded;
}

void ConfigReloader::loop() {
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [this] { return wanted_ || quit_; });
            if (quit_) return;
            wanted_ = false;
        }
        reload_once();
    }
}

void ConfigReloader::reload_once() {
    log_.info("reloading " + path_);
    const auto start = std::chrono::steady_clock::now();
    int errors = 0;
    const int status = module_.config_load(path_, [&](const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_NOTE) return; // ignored options: see mtatls-config check
        if (d.severity == MTATLS_SEVERITY_ERROR) ++errors;
        log_.plain(command::format_diagnostic(d));
    });
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    const bool ok = status == MTATLS_STATUS_OK;
    if (ok)
        log_.info("reloaded " + path_ + " in " + std::to_string(ms) + " ms");
    else if (status == MTATLS_STATUS_CONFIG)
        log_.error("reload of " + path_ + " failed (" + std::to_string(errors) + " error" +
                   (errors == 1 ? "" : "s") +
                   "); the previous configuration stays in force; fix the file and send "
                   "SIGHUP again (mtatls-config check --postfix " +
                   path_ + ")");
    else
        log_.error("reload of " + path_ + " failed: " + host::status_text(status) +
                   "; the previous configuration stays in force");
    const char byte = ok ? '1' : '0';
    while (::write(notify_write_.get(), &byte, 1) < 0 && errno == EINTR) {
    }
}

} // namespace mtatls::postfix
