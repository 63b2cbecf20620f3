// hooks.h - the module's per-connection hooks as one value, and the RAII
// owner of one mtatls_conn.
//
// ConnectionHooks is plain data (function pointer + closure per hook) so
// the delivery engine does not depend on how the hooks were obtained: from
// a loaded module (from_module) or, in tests, from fakes.  ModuleConnection
// wraps the C calls with typed results and calls CONN_END exactly once.
#pragma once

#include "module_loader.h"

#include <mtatls/plugin.h>

#include <string>

namespace mtatls::host {

template <typename Fn> struct BoundHook {
    Fn fn = nullptr;
    void* closure = nullptr;
    explicit operator bool() const { return fn != nullptr; }
};

struct ConnectionHooks {
    BoundHook<mtatls_conn_setup_fn> conn_setup;
    BoundHook<mtatls_ehlo_fn> ehlo;
    BoundHook<mtatls_starttls_begin_fn> starttls_begin;
    BoundHook<mtatls_starttls_step_fn> starttls_step;
    BoundHook<mtatls_starttls_finish_fn> starttls_finish;
    BoundHook<mtatls_tls_read_fn> tls_read;
    BoundHook<mtatls_tls_write_fn> tls_write;
    BoundHook<mtatls_tls_shutdown_fn> tls_shutdown;
    BoundHook<mtatls_macro_lookup_fn> macro_lookup; // optional: log fields are "-" without it
    BoundHook<mtatls_conn_end_fn> conn_end;

    static ConnectionHooks from_module(const Module& module);
    // Names of required hooks that are missing ("" when complete).
    [[nodiscard]] std::string missing() const;
};

// An mtatls_reply ready to be filled by a hook.
mtatls_reply empty_reply();

struct EhloDecision {
    int verdict = MTATLS_VERDICT_TEMPFAIL;
    int next = MTATLS_NEXT_PLAINTEXT;
    bool starttls_advertised = false;
    mtatls_reply reply = empty_reply();
};

struct TlsDecision {
    int verdict = MTATLS_VERDICT_TEMPFAIL;
    bool retry_plaintext = false;
    mtatls_reply reply = empty_reply();
};

class ModuleConnection {
  public:
    ModuleConnection(const ConnectionHooks& hooks, mtatls_conn* conn)
        : hooks_(&hooks), conn_(conn) {}
    ~ModuleConnection();
    ModuleConnection(const ModuleConnection&) = delete;
    ModuleConnection& operator=(const ModuleConnection&) = delete;

    // CONN_SETUP.  On CONTINUE `out` owns the new connection; otherwise
    // `reply` says why.
    static int setup(const ConnectionHooks& hooks, const mtatls_conn_params& params,
                     mtatls_conn*& out, mtatls_reply& reply);

    EhloDecision ehlo(std::string_view reply_bytes);
    TlsDecision starttls_begin(int fd, std::string_view reply_bytes);
    int starttls_step();
    TlsDecision starttls_finish();
    int tls_read(void* buffer, std::size_t size, std::size_t& done);
    int tls_write(const void* buffer, std::size_t size, std::size_t& done);
    int tls_shutdown();
    // The macro's value, "" when unknown or without a MACRO_LOOKUP hook.
    std::string macro(const char* name);

  private:
    const ConnectionHooks* hooks_;
    mtatls_conn* conn_;
};

} // namespace mtatls::host
