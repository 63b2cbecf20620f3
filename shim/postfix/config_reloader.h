// config_reloader.h - reloading the configuration on SIGHUP without
// stopping the lookups.
//
// CONFIG_LOAD reads and checks every file the configuration names, which
// can take seconds for a large one, so it runs on this thread while the
// event loop keeps answering with the configuration in force (the module
// allows CONFIG_EXPLAIN during a CONFIG_LOAD and swaps atomically).  On
// failure the module keeps the previous configuration: every error is
// logged and the daemon carries on with the old policy.  Requests that
// arrive during a reload are merged into one more reload after it.
//
// The loop learns of finished reloads by reading notify_fd(): one byte
// per reload, '1' for success, '0' for failure.
#pragma once

#include "daemon_log.h"

#include "module_loader.h"
#include "unique_fd.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace mtatls::postfix {

class ConfigReloader {
  public:
    ConfigReloader(const host::Module& module, std::string path, DaemonLog& log);
    ~ConfigReloader(); // waits for a reload under way, then ends the thread
    ConfigReloader(const ConfigReloader&) = delete;
    ConfigReloader& operator=(const ConfigReloader&) = delete;

    // Asks for a reload; returns at once.
    void request();
    // Readable when a reload has finished.
    [[nodiscard]] int notify_fd() const { return notify_read_.get(); }
    // Reads the notifications; true if any reload since the last call
    // succeeded.
    bool drain();

  private:
    void loop();
    void reload_once();

    const host::Module& module_;
    std::string path_;
    DaemonLog& log_;
    host::UniqueFd notify_read_;
    host::UniqueFd notify_write_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool wanted_ = false;
    bool quit_ = false;
    std::thread thread_;
};

} // namespace mtatls::postfix
