// module_loader.h - the host side of the plugin ABI, for every command of
// this project and for MTAs that embed it.
//
// Loads an mtatls module with dlopen, checks its version, size and build
// signature, collects the hooks it registers, and offers typed calls.  No
// failure is silent: each one comes back as a sentence for the host's log.
#pragma once

#include <mtatls/plugin.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mtatls::host {

// Human text for a call status ("configuration invalid", ...).
const char* status_text(int status);
// "CONTINUE", "REJECT", "TEMPFAIL".
const char* verdict_text(int verdict);

// The smallest module-info struct this loader understands (ABI 1.0).
inline constexpr std::size_t min_module_info_size =
    offsetof(mtatls_module_info, version) + sizeof(void*);

using DiagnosticHandler = std::function<void(const mtatls_diagnostic&)>;
using LogHandler = std::function<void(int severity, const char* message)>;

class Module {
  public:
    // Loads the module at `path`.  On failure returns nullptr and sets
    // `error` to one line saying why.
    static std::unique_ptr<Module> load(const std::string& path, std::string& error,
                                        LogHandler log = nullptr);
    ~Module();
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] const std::string& version() const { return version_; }
    [[nodiscard]] unsigned abi_minor() const { return abi_minor_; }
    [[nodiscard]] bool has(int hook) const;

    // The registered function for `hook`, cast to its type, and its closure.
    template <typename Fn> [[nodiscard]] std::pair<Fn, void*> hook(int id) const {
        const Entry& entry = hooks_.at(static_cast<std::size_t>(id));
        return {reinterpret_cast<Fn>(entry.fn), entry.closure};
    }

    // Typed calls.  Each returns an mtatls_status; a missing hook gives
    // MTATLS_STATUS_NOT_FOUND.
    int config_load(const std::string& path, const DiagnosticHandler& on_diagnostic) const;
    int config_explain(const mtatls_policy_key& key,
                       const std::function<void(const mtatls_explain_entry&)>& each,
                       const DiagnosticHandler& on_diagnostic) const;
    int config_export(const std::string& path, std::string& yaml,
                      const DiagnosticHandler& on_diagnostic) const;
    int config_schema(std::string& json) const;
    // MACRO_LIST (ABI 1.1): appends the names of the macros first known
    // after hook `stage` (0: every macro) to `names`, in the module's order.
    int macro_list(int stage, std::vector<std::string>& names) const;

  private:
    Module() = default;
    struct Entry {
        mtatls_hook_fn fn = nullptr;
        void* closure = nullptr;
    };
    static int announce(void* context, const mtatls_module_info* info);
    static int register_hook(void* context, int hook, mtatls_hook_fn fn, void* closure);
    static void log(void* context, int severity, const char* message);

    void* handle_ = nullptr;
    std::string path_;
    std::string name_;
    std::string version_;
    unsigned abi_minor_ = 0;
    std::string refusal_; // why announce() refused, if it did
    LogHandler log_;
    std::array<Entry, MTATLS_HOOK_ID_LIMIT> hooks_{};
};

} // namespace mtatls::host
