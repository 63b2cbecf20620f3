// abi_entry.cpp - the module's side of the plugin ABI: the one exported
// symbol and the C trampolines registered as hooks.
//
// This is the only file with extern "C" code.  Every trampoline catches
// everything: a C++ exception must never unwind into the host MTA, so a
// failure becomes a status, a TEMPFAIL verdict or a diagnostic instead.
#include "attempt/attempt.h"
#include "config/load.h"
#include "config/yaml_writer.h"
#include "module_state.h"

#include <mtatls/plugin.h>
#include <openssl/opensslv.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <new>

extern const char mtatls_schema_json[];
extern const std::size_t mtatls_schema_json_size;

struct mtatls_conn {
    mtatls::attempt::Attempt attempt;
};

namespace mtatls {
namespace {

constexpr const char* module_version = MTATLS_VERSION;
const uint32_t module_signature = MTATLS_BUILD_SIGNATURE(sizeof(void*), OPENSSL_VERSION_MAJOR);

std::atomic<bool> initialised{false};

// Every field up to and including `log` is needed from the host.
constexpr std::size_t min_host_api_size = offsetof(mtatls_host_api, log) + sizeof(void*);

const char* c_str_or_null(const std::string& text) { return text.empty() ? nullptr : text.c_str(); }

void emit(const mtatls_diag_sink* sink, const config::Diagnostic& d) {
    if (sink == nullptr || sink->emit == nullptr) return;
    mtatls_diagnostic out{};
    out.struct_size = sizeof out;
    out.severity = d.severity == config::Severity::error     ? MTATLS_SEVERITY_ERROR
                   : d.severity == config::Severity::warning ? MTATLS_SEVERITY_WARNING
                                                             : MTATLS_SEVERITY_NOTE;
    out.file = c_str_or_null(d.file);
    out.line = d.line;
    out.column = d.column;
    out.scope = c_str_or_null(d.scope);
    out.message = d.message.c_str();
    sink->emit(sink->arg, &out);
}

void emit_all(const mtatls_diag_sink* sink, const config::Diagnostics& diagnostics) {
    for (const auto& d : diagnostics.items())
        emit(sink, d);
}

void emit_error(const mtatls_diag_sink* sink, const std::string& message) {
    config::Diagnostic d;
    d.message = message;
    emit(sink, d);
}

void set_reply(mtatls_reply* reply, int code, const char* enhanced, const std::string& text) {
    if (reply == nullptr || reply->struct_size < sizeof(mtatls_reply)) return;
    reply->smtp_code = code;
    std::snprintf(reply->enhanced, sizeof reply->enhanced, "%s", enhanced);
    std::snprintf(reply->text, sizeof reply->text, "%s", text.c_str());
}

std::string_view view(const char* text) { return text == nullptr ? std::string_view() : text; }

bool valid_key(const mtatls_policy_key* key) {
    return key != nullptr && key->struct_size >= sizeof(mtatls_policy_key);
}

config::PolicyKey to_key(const mtatls_policy_key& key) {
    return {view(key.binding_group), view(key.binding), view(key.domain)};
}

// ---- hooks ----------------------------------------------------------------

int config_load(void* closure, const char* path, const mtatls_diag_sink* diag) noexcept {
    try {
        if (path == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
        config::Diagnostics diagnostics;
        const bool ok = static_cast<ModuleState*>(closure)->load(path, diagnostics);
        emit_all(diag, diagnostics);
        return ok ? MTATLS_STATUS_OK : MTATLS_STATUS_CONFIG;
    } catch (const std::bad_alloc&) {
        emit_error(diag, "out of memory while loading the configuration");
        return MTATLS_STATUS_NO_MEMORY;
    } catch (...) {
        emit_error(diag, "internal error while loading the configuration");
        return MTATLS_STATUS_INTERNAL;
    }
}

int config_explain(void* closure, const mtatls_policy_key* key, mtatls_explain_fn each, void* arg,
                   const mtatls_diag_sink* diag) noexcept {
    try {
        if (!valid_key(key) || each == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
        std::string note;
        const auto lines = static_cast<ModuleState*>(closure)->explain(to_key(*key), note);
        if (!lines) {
            emit_error(diag, "no configuration is loaded");
            return MTATLS_STATUS_ERROR;
        }
        if (!note.empty()) {
            config::Diagnostic d;
            d.severity = config::Severity::warning;
            d.message = note;
            emit(diag, d);
        }
        for (const ExplainLine& line : *lines) {
            mtatls_explain_entry entry{};
            entry.struct_size = sizeof entry;
            entry.name = line.name.c_str();
            entry.value = line.value.c_str();
            entry.scope = line.scope.c_str();
            entry.file = c_str_or_null(line.file);
            entry.line = line.line;
            entry.column = line.column;
            each(arg, &entry);
        }
        return MTATLS_STATUS_OK;
    } catch (...) {
        emit_error(diag, "internal error while explaining the policy");
        return MTATLS_STATUS_INTERNAL;
    }
}

int config_export(void*, const char* path, mtatls_text_fn out, void* arg,
                  const mtatls_diag_sink* diag) noexcept {
    try {
        if (path == nullptr || out == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
        config::Diagnostics diagnostics;
        config::CompileOptions options;
        options.check_files = false; // a conversion is about text, possibly from another host
        const auto config = config::load_config(path, diagnostics, options);
        emit_all(diag, diagnostics);
        if (!config) return MTATLS_STATUS_CONFIG;
        const std::string yaml = config::to_yaml(*config, path);
        out(arg, yaml.data(), yaml.size());
        return MTATLS_STATUS_OK;
    } catch (...) {
        emit_error(diag, "internal error while converting the configuration");
        return MTATLS_STATUS_INTERNAL;
    }
}

int config_schema(void*, mtatls_text_fn out, void* arg) noexcept {
    if (out == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
    out(arg, mtatls_schema_json, mtatls_schema_json_size);
    return MTATLS_STATUS_OK;
}

// The smallest conn_params a host may pass: ABI 1.0 without `flags`.
constexpr std::size_t min_conn_params_size = offsetof(mtatls_conn_params, peer_port) + 2;

void set_failure(mtatls_reply* reply, const attempt::FailureReply& failure) {
    set_reply(reply, failure.code, failure.enhanced, failure.text);
}

// Maps the attempt's decision onto a verdict (and the retry flag).
int verdict_of(const attempt::Result& result, mtatls_reply* reply, int* retry_plaintext) {
    if (retry_plaintext != nullptr) *retry_plaintext = 0;
    switch (result.action) {
    case attempt::Action::plaintext:
    case attempt::Action::starttls:
    case attempt::Action::use_tls: return MTATLS_VERDICT_CONTINUE;
    case attempt::Action::retry_plaintext:
        if (retry_plaintext != nullptr) *retry_plaintext = 1;
        set_failure(reply, result.reply);
        return MTATLS_VERDICT_TEMPFAIL;
    case attempt::Action::tempfail: break;
    }
    set_failure(reply, result.reply);
    return MTATLS_VERDICT_TEMPFAIL;
}

int internal_error(mtatls_reply* reply, const char* where) {
    set_reply(reply, 451, "4.3.0", std::string("[internal] mtatls: internal error ") + where);
    return MTATLS_VERDICT_TEMPFAIL;
}

int conn_setup(void* closure, const mtatls_conn_params* params, mtatls_conn** conn,
               mtatls_reply* reply) noexcept {
    try {
        if (conn != nullptr) *conn = nullptr;
        if (params == nullptr || conn == nullptr || params->struct_size < min_conn_params_size ||
            !valid_key(&params->policy)) {
            set_reply(reply, 451, "4.3.5", "[internal] mtatls: bad connection parameters");
            return MTATLS_VERDICT_TEMPFAIL;
        }
        const uint32_t flags =
            params->struct_size >= sizeof(mtatls_conn_params) ? params->flags : 0;
        auto state = static_cast<ModuleState*>(closure)->open(
            to_key(params->policy), std::string(view(params->mx_host)),
            std::string(view(params->peer_address)), params->peer_port);
        if (!state) {
            set_reply(reply, 451, "4.3.5", "[internal] mtatls: no configuration loaded");
            return MTATLS_VERDICT_TEMPFAIL;
        }
        if (state->policy.tls() != config::TlsMode::no && !state->tls_context) {
            // A file that passed the load-time checks is gone or broken:
            // a local problem to fix, never a reason to downgrade.
            set_reply(reply, 451, "4.3.5",
                      "[internal] mtatls: TLS context unusable: " + state->tls_context_error);
            return MTATLS_VERDICT_TEMPFAIL;
        }
        *conn = new mtatls_conn{
            attempt::Attempt(std::move(state), (flags & MTATLS_CONN_PLAINTEXT_RETRY) != 0)};
        return MTATLS_VERDICT_CONTINUE;
    } catch (...) {
        return internal_error(reply, "at connection setup");
    }
}

int ehlo(void*, mtatls_conn* conn, const char* reply_bytes, size_t length,
         mtatls_ehlo_result* result, mtatls_reply* reply) noexcept {
    try {
        if (conn == nullptr || (reply_bytes == nullptr && length > 0) || result == nullptr ||
            result->struct_size < sizeof(mtatls_ehlo_result))
            return internal_error(reply, "(bad EHLO hook arguments)");
        bool advertised = false;
        const attempt::Result decision =
            conn->attempt.ehlo(std::string_view(reply_bytes, length), advertised);
        result->starttls_advertised = advertised ? 1 : 0;
        result->next = decision.action == attempt::Action::starttls ? MTATLS_NEXT_STARTTLS
                                                                    : MTATLS_NEXT_PLAINTEXT;
        return verdict_of(decision, reply, nullptr);
    } catch (...) {
        return internal_error(reply, "in EHLO");
    }
}

int starttls_begin(void*, mtatls_conn* conn, int fd, const char* reply_bytes, size_t length,
                   mtatls_reply* reply, int* retry_plaintext) noexcept {
    try {
        if (retry_plaintext != nullptr) *retry_plaintext = 0;
        if (conn == nullptr || fd < 0 || (reply_bytes == nullptr && length > 0))
            return internal_error(reply, "(bad STARTTLS hook arguments)");
        return verdict_of(conn->attempt.starttls_begin(fd, std::string_view(reply_bytes, length)),
                          reply, retry_plaintext);
    } catch (...) {
        return internal_error(reply, "at STARTTLS");
    }
}

int starttls_step(void*, mtatls_conn* conn) noexcept {
    try {
        if (conn == nullptr) return MTATLS_STEP_FAILED;
        switch (conn->attempt.step()) {
        case tls::Progress::done: return MTATLS_STEP_DONE;
        case tls::Progress::want_read: return MTATLS_STEP_WANT_READ;
        case tls::Progress::want_write: return MTATLS_STEP_WANT_WRITE;
        case tls::Progress::failed: break;
        }
        return MTATLS_STEP_FAILED;
    } catch (...) {
        return MTATLS_STEP_FAILED;
    }
}

int starttls_finish(void*, mtatls_conn* conn, mtatls_reply* reply, int* retry_plaintext) noexcept {
    try {
        if (retry_plaintext != nullptr) *retry_plaintext = 0;
        if (conn == nullptr) return internal_error(reply, "(bad finish hook arguments)");
        return verdict_of(conn->attempt.finish(), reply, retry_plaintext);
    } catch (...) {
        return internal_error(reply, "after the handshake");
    }
}

int io_code(tls::Io io) {
    switch (io) {
    case tls::Io::ok: return MTATLS_IO_OK;
    case tls::Io::want_read: return MTATLS_IO_WANT_READ;
    case tls::Io::want_write: return MTATLS_IO_WANT_WRITE;
    case tls::Io::eof: return MTATLS_IO_EOF;
    case tls::Io::error: break;
    }
    return MTATLS_IO_ERROR;
}

int tls_read(void*, mtatls_conn* conn, void* buffer, size_t size, size_t* done) noexcept {
    try {
        if (done != nullptr) *done = 0;
        if (conn == nullptr || buffer == nullptr || done == nullptr) return MTATLS_IO_ERROR;
        return io_code(conn->attempt.read(buffer, size, *done));
    } catch (...) {
        return MTATLS_IO_ERROR;
    }
}

int tls_write(void*, mtatls_conn* conn, const void* buffer, size_t size, size_t* done) noexcept {
    try {
        if (done != nullptr) *done = 0;
        if (conn == nullptr || buffer == nullptr || done == nullptr) return MTATLS_IO_ERROR;
        return io_code(conn->attempt.write(buffer, size, *done));
    } catch (...) {
        return MTATLS_IO_ERROR;
    }
}

int tls_shutdown(void*, mtatls_conn* conn) noexcept {
    try {
        if (conn == nullptr) return MTATLS_IO_ERROR;
        return io_code(conn->attempt.shutdown());
    } catch (...) {
        return MTATLS_IO_ERROR;
    }
}

int macro_lookup(void*, mtatls_conn* conn, const char* name, char* buffer, size_t size,
                 size_t* length) noexcept {
    try {
        if (conn == nullptr || name == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
        const auto value = conn->attempt.macro(name);
        if (!value) return MTATLS_STATUS_NOT_FOUND;
        if (length != nullptr) *length = value->size();
        if (buffer == nullptr || size <= value->size()) return MTATLS_STATUS_TOO_SMALL;
        std::memcpy(buffer, value->c_str(), value->size() + 1);
        return MTATLS_STATUS_OK;
    } catch (...) {
        return MTATLS_STATUS_INTERNAL;
    }
}

int macro_list(void*, int stage, mtatls_name_fn each, void* arg) noexcept {
    try {
        if (each == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
        std::vector<std::string> names;
        switch (stage) {
        case 0: names = attempt::all_macro_names(); break;
        case MTATLS_HOOK_CONN_SETUP:
            names = attempt::macro_names(attempt::MacroStage::conn_setup);
            break;
        case MTATLS_HOOK_EHLO: names = attempt::macro_names(attempt::MacroStage::ehlo); break;
        case MTATLS_HOOK_STARTTLS_FINISH:
            names = attempt::macro_names(attempt::MacroStage::starttls_finish);
            break;
        default: return MTATLS_STATUS_BAD_ARGUMENT;
        }
        for (const std::string& name : names)
            each(arg, name.c_str());
        return MTATLS_STATUS_OK;
    } catch (...) {
        return MTATLS_STATUS_INTERNAL;
    }
}

void conn_end(void*, mtatls_conn* conn) noexcept { delete conn; }

void unload(void* closure) noexcept {
    delete static_cast<ModuleState*>(closure);
    initialised = false;
}

template <typename Fn> mtatls_hook_fn as_hook(Fn* fn) {
    return reinterpret_cast<mtatls_hook_fn>(fn);
}

} // namespace
} // namespace mtatls

extern "C" __attribute__((visibility("default"))) int
mtatls_plugin_init(const mtatls_host_api* host) {
    using namespace mtatls;
    try {
        if (host == nullptr) return MTATLS_STATUS_BAD_ARGUMENT;
        if (host->struct_size < min_host_api_size) return MTATLS_STATUS_BAD_ARGUMENT;
        if (host->abi_major != MTATLS_ABI_MAJOR) return MTATLS_STATUS_VERSION;
        if (host->announce == nullptr || host->register_hook == nullptr)
            return MTATLS_STATUS_BAD_ARGUMENT;
        if (initialised.exchange(true)) return MTATLS_STATUS_ALREADY;

        mtatls_module_info info{};
        info.struct_size = sizeof info;
        info.abi_major = MTATLS_ABI_MAJOR;
        info.abi_minor = MTATLS_ABI_MINOR;
        info.build_signature = module_signature;
        info.name = "mtatls";
        info.version = module_version;
        if (const int status = host->announce(host->host_context, &info);
            status != MTATLS_STATUS_OK) {
            initialised = false;
            return MTATLS_STATUS_REFUSED;
        }

        auto* state = new ModuleState();
        struct Registration {
            int id;
            mtatls_hook_fn fn;
        };
        const Registration hooks[] = {
            {MTATLS_HOOK_UNLOAD, as_hook(&unload)},
            {MTATLS_HOOK_CONFIG_LOAD, as_hook(&config_load)},
            {MTATLS_HOOK_CONFIG_EXPLAIN, as_hook(&config_explain)},
            {MTATLS_HOOK_CONFIG_EXPORT, as_hook(&config_export)},
            {MTATLS_HOOK_CONFIG_SCHEMA, as_hook(&config_schema)},
            {MTATLS_HOOK_CONN_SETUP, as_hook(&conn_setup)},
            {MTATLS_HOOK_EHLO, as_hook(&ehlo)},
            {MTATLS_HOOK_STARTTLS_BEGIN, as_hook(&starttls_begin)},
            {MTATLS_HOOK_STARTTLS_STEP, as_hook(&starttls_step)},
            {MTATLS_HOOK_STARTTLS_FINISH, as_hook(&starttls_finish)},
            {MTATLS_HOOK_TLS_READ, as_hook(&tls_read)},
            {MTATLS_HOOK_TLS_WRITE, as_hook(&tls_write)},
            {MTATLS_HOOK_TLS_SHUTDOWN, as_hook(&tls_shutdown)},
            {MTATLS_HOOK_MACRO_LOOKUP, as_hook(&macro_lookup)},
            {MTATLS_HOOK_MACRO_LIST, as_hook(&macro_list)},
            {MTATLS_HOOK_CONN_END, as_hook(&conn_end)},
        };
        for (const Registration& hook : hooks) {
            const int status = host->register_hook(host->host_context, hook.id, hook.fn, state);
            if (status == MTATLS_STATUS_NOT_FOUND && hook.id != MTATLS_HOOK_UNLOAD) continue;
            if (status != MTATLS_STATUS_OK) {
                // The unload hook is registered first, so the host can
                // still free `state` through it; without it we must.
                if (hook.id == MTATLS_HOOK_UNLOAD) unload(state);
                return status;
            }
        }
        return MTATLS_STATUS_OK;
    } catch (const std::bad_alloc&) {
        return MTATLS_STATUS_NO_MEMORY;
    } catch (...) {
        return MTATLS_STATUS_INTERNAL;
    }
}
