// module_loader.cpp - dlopen, the version handshake and hook dispatch.
#include "module_loader.h"

#include <openssl/opensslv.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>

namespace mtatls::host {
namespace {

const uint32_t host_signature = MTATLS_BUILD_SIGNATURE(sizeof(void*), OPENSSL_VERSION_MAJOR);

std::string describe_signature(uint32_t signature) {
    return std::to_string(MTATLS_SIGNATURE_POINTER_SIZE(signature) * 8) + "-bit, OpenSSL " +
           std::to_string(MTATLS_SIGNATURE_OPENSSL_MAJOR(signature));
}

std::string dl_error(const char* fallback) {
    const char* text = dlerror();
    return text != nullptr ? text : fallback;
}

// Adapts std::function handlers to the C sink the ABI uses.
void emit_to_handler(void* arg, const mtatls_diagnostic* diagnostic) {
    if (diagnostic != nullptr) (*static_cast<const DiagnosticHandler*>(arg))(*diagnostic);
}

void append_text(void* arg, const char* text, size_t length) {
    static_cast<std::string*>(arg)->append(text, length);
}

void append_name(void* arg, const char* name) {
    if (name != nullptr) static_cast<std::vector<std::string>*>(arg)->emplace_back(name);
}

void each_entry(void* arg, const mtatls_explain_entry* entry) {
    if (entry != nullptr)
        (*static_cast<const std::function<void(const mtatls_explain_entry&)>*>(arg))(*entry);
}

} // namespace

const char* status_text(int status) {
    switch (status) {
    case MTATLS_STATUS_OK: return "ok";
    case MTATLS_STATUS_ERROR: return "failed";
    case MTATLS_STATUS_CONFIG: return "configuration invalid";
    case MTATLS_STATUS_NOT_FOUND: return "not found";
    case MTATLS_STATUS_TOO_SMALL: return "buffer too small";
    case MTATLS_STATUS_VERSION: return "ABI major version mismatch";
    case MTATLS_STATUS_BAD_ARGUMENT: return "bad argument";
    case MTATLS_STATUS_ALREADY: return "already initialised";
    case MTATLS_STATUS_NO_MEMORY: return "out of memory";
    case MTATLS_STATUS_INTERNAL: return "internal error";
    case MTATLS_STATUS_REFUSED: return "refused by the host";
    default: return "unknown status";
    }
}

const char* verdict_text(int verdict) {
    switch (verdict) {
    case MTATLS_VERDICT_CONTINUE: return "CONTINUE";
    case MTATLS_VERDICT_REJECT: return "REJECT";
    case MTATLS_VERDICT_TEMPFAIL: return "TEMPFAIL";
    default: return "UNKNOWN";
    }
}

std::unique_ptr<Module> Module::load(const std::string& path, std::string& error, LogHandler log) {
    std::unique_ptr<Module> module(new Module());
    module->path_ = path;
    module->log_ = std::move(log);

    // RTLD_NOLOAD finds the file if it is mapped already (by any name for
    // the same file): a second copy would share its globals with the first.
    if (void* existing = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) {
        dlclose(existing);
        error = "module " + path + " is already loaded in this process";
        return nullptr;
    }
    dlerror();
    module->handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module->handle_ == nullptr) {
        error = "cannot load module: " + dl_error(path.c_str());
        return nullptr;
    }
    dlerror();
    void* symbol = dlsym(module->handle_, MTATLS_PLUGIN_ENTRY_SYMBOL);
    if (symbol == nullptr) {
        error = "module " + path +
                " does not export " MTATLS_PLUGIN_ENTRY_SYMBOL "(): not an mtatls plugin";
        return nullptr;
    }
    auto entry = reinterpret_cast<mtatls_plugin_init_fn>(symbol);

    mtatls_host_api api{};
    api.struct_size = sizeof api;
    api.abi_major = MTATLS_ABI_MAJOR;
    api.abi_minor = MTATLS_ABI_MINOR;
    api.build_signature = host_signature;
    api.host_context = module.get();
    api.announce = &Module::announce;
    api.register_hook = &Module::register_hook;
    api.log = &Module::log;

    const int status = entry(&api);
    if (status != MTATLS_STATUS_OK) {
        if (!module->refusal_.empty())
            error = "module " + path + " refused: " + module->refusal_;
        else
            error = "module " + path + " failed to initialise: " + status_text(status);
        return nullptr;
    }
    if (module->name_.empty()) {
        error = "module " + path + " initialised without announcing itself";
        return nullptr;
    }
    return module;
}

Module::~Module() {
    if (has(MTATLS_HOOK_UNLOAD)) {
        const auto [unload, closure] = hook<mtatls_unload_fn>(MTATLS_HOOK_UNLOAD);
        unload(closure);
    }
    if (handle_ != nullptr) dlclose(handle_);
}

int Module::announce(void* context, const mtatls_module_info* info) {
    auto* self = static_cast<Module*>(context);
    if (info == nullptr) {
        self->refusal_ = "announced no module information";
        return MTATLS_STATUS_REFUSED;
    }
    if (info->struct_size < min_module_info_size) {
        self->refusal_ = "module info struct is " + std::to_string(info->struct_size) +
                         " bytes, this host needs at least " + std::to_string(min_module_info_size);
        return MTATLS_STATUS_REFUSED;
    }
    if (info->abi_major != MTATLS_ABI_MAJOR) {
        self->refusal_ = "module speaks plugin ABI " + std::to_string(info->abi_major) + "." +
                         std::to_string(info->abi_minor) + ", this host speaks " +
                         std::to_string(MTATLS_ABI_MAJOR) + "." + std::to_string(MTATLS_ABI_MINOR);
        return MTATLS_STATUS_REFUSED;
    }
    if (info->build_signature != host_signature) {
        self->refusal_ = "module was built " + describe_signature(info->build_signature) +
                         ", this host is " + describe_signature(host_signature);
        return MTATLS_STATUS_REFUSED;
    }
    self->name_ = info->name != nullptr ? info->name : "unnamed";
    self->version_ = info->version != nullptr ? info->version : "unknown";
    self->abi_minor_ = info->abi_minor;
    return MTATLS_STATUS_OK;
}

int Module::register_hook(void* context, int hook, mtatls_hook_fn fn, void* closure) {
    auto* self = static_cast<Module*>(context);
    if (self->name_.empty()) return MTATLS_STATUS_REFUSED; // not announced / refused
    if (fn == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
    // A newer module may offer hooks this host does not know: not an error.
    if (hook <= 0 || hook >= MTATLS_HOOK_ID_LIMIT) return MTATLS_STATUS_NOT_FOUND;
    Entry& entry = self->hooks_[static_cast<std::size_t>(hook)];
    if (entry.fn != nullptr) return MTATLS_STATUS_ALREADY;
    entry = Entry{fn, closure};
    return MTATLS_STATUS_OK;
}

void Module::log(void* context, int severity, const char* message) {
    auto* self = static_cast<Module*>(context);
    if (message == nullptr) return;
    if (self->log_)
        self->log_(severity, message);
    else
        std::fprintf(stderr, "mtatls: %s\n", message);
}

bool Module::has(int hook) const {
    return hook > 0 && hook < MTATLS_HOOK_ID_LIMIT &&
           hooks_[static_cast<std::size_t>(hook)].fn != nullptr;
}

int Module::config_load(const std::string& path, const DiagnosticHandler& on_diagnostic) const {
    if (!has(MTATLS_HOOK_CONFIG_LOAD)) return MTATLS_STATUS_NOT_FOUND;
    const auto [fn, closure] = hook<mtatls_config_load_fn>(MTATLS_HOOK_CONFIG_LOAD);
    const mtatls_diag_sink sink{const_cast<DiagnosticHandler*>(&on_diagnostic), &emit_to_handler};
    return fn(closure, path.c_str(), &sink);
}

int Module::config_explain(const mtatls_policy_key& key,
                           const std::function<void(const mtatls_explain_entry&)>& each,
                           const DiagnosticHandler& on_diagnostic) const {
    if (!has(MTATLS_HOOK_CONFIG_EXPLAIN)) return MTATLS_STATUS_NOT_FOUND;
    const auto [fn, closure] = hook<mtatls_config_explain_fn>(MTATLS_HOOK_CONFIG_EXPLAIN);
    const mtatls_diag_sink sink{const_cast<DiagnosticHandler*>(&on_diagnostic), &emit_to_handler};
    return fn(closure, &key, &each_entry,
              const_cast<std::function<void(const mtatls_explain_entry&)>*>(&each), &sink);
}

int Module::config_export(const std::string& path, std::string& yaml,
                          const DiagnosticHandler& on_diagnostic) const {
    if (!has(MTATLS_HOOK_CONFIG_EXPORT)) return MTATLS_STATUS_NOT_FOUND;
    const auto [fn, closure] = hook<mtatls_config_export_fn>(MTATLS_HOOK_CONFIG_EXPORT);
    const mtatls_diag_sink sink{const_cast<DiagnosticHandler*>(&on_diagnostic), &emit_to_handler};
    return fn(closure, path.c_str(), &append_text, &yaml, &sink);
}

int Module::config_schema(std::string& json) const {
    if (!has(MTATLS_HOOK_CONFIG_SCHEMA)) return MTATLS_STATUS_NOT_FOUND;
    const auto [fn, closure] = hook<mtatls_config_schema_fn>(MTATLS_HOOK_CONFIG_SCHEMA);
    return fn(closure, &append_text, &json);
}

int Module::macro_list(int stage, std::vector<std::string>& names) const {
    if (!has(MTATLS_HOOK_MACRO_LIST)) return MTATLS_STATUS_NOT_FOUND;
    const auto [fn, closure] = hook<mtatls_macro_list_fn>(MTATLS_HOOK_MACRO_LIST);
    return fn(closure, stage, &append_name, &names);
}

} // namespace mtatls::host
