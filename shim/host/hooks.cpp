// hooks.cpp - typed wrappers around the module's connection hooks.
#include "hooks.h"

#include <algorithm>
#include <vector>

namespace mtatls::host {
namespace {

template <typename Fn> BoundHook<Fn> bind(const Module& module, int id) {
    if (!module.has(id)) return {};
    const auto [fn, closure] = module.hook<Fn>(id);
    return {fn, closure};
}

} // namespace

ConnectionHooks ConnectionHooks::from_module(const Module& module) {
    ConnectionHooks hooks;
    hooks.conn_setup = bind<mtatls_conn_setup_fn>(module, MTATLS_HOOK_CONN_SETUP);
    hooks.ehlo = bind<mtatls_ehlo_fn>(module, MTATLS_HOOK_EHLO);
    hooks.starttls_begin = bind<mtatls_starttls_begin_fn>(module, MTATLS_HOOK_STARTTLS_BEGIN);
    hooks.starttls_step = bind<mtatls_starttls_step_fn>(module, MTATLS_HOOK_STARTTLS_STEP);
    hooks.starttls_finish = bind<mtatls_starttls_finish_fn>(module, MTATLS_HOOK_STARTTLS_FINISH);
    hooks.tls_read = bind<mtatls_tls_read_fn>(module, MTATLS_HOOK_TLS_READ);
    hooks.tls_write = bind<mtatls_tls_write_fn>(module, MTATLS_HOOK_TLS_WRITE);
    hooks.tls_shutdown = bind<mtatls_tls_shutdown_fn>(module, MTATLS_HOOK_TLS_SHUTDOWN);
    hooks.macro_lookup = bind<mtatls_macro_lookup_fn>(module, MTATLS_HOOK_MACRO_LOOKUP);
    hooks.conn_end = bind<mtatls_conn_end_fn>(module, MTATLS_HOOK_CONN_END);
    return hooks;
}

std::string ConnectionHooks::missing() const {
    std::string names;
    const auto need = [&names](bool present, const char* name) {
        if (present) return;
        if (!names.empty()) names += ", ";
        names += name;
    };
    need(bool(conn_setup), "CONN_SETUP");
    need(bool(ehlo), "EHLO");
    need(bool(starttls_begin), "STARTTLS_BEGIN");
    need(bool(starttls_step), "STARTTLS_STEP");
    need(bool(starttls_finish), "STARTTLS_FINISH");
    need(bool(tls_read), "TLS_READ");
    need(bool(tls_write), "TLS_WRITE");
    need(bool(tls_shutdown), "TLS_SHUTDOWN");
    need(bool(conn_end), "CONN_END");
    return names;
}

mtatls_reply empty_reply() {
    mtatls_reply reply{};
    reply.struct_size = sizeof reply;
    return reply;
}

ModuleConnection::~ModuleConnection() {
    if (conn_ != nullptr && hooks_->conn_end) hooks_->conn_end.fn(hooks_->conn_end.closure, conn_);
}

int ModuleConnection::setup(const ConnectionHooks& hooks, const mtatls_conn_params& params,
                            mtatls_conn*& out, mtatls_reply& reply) {
    out = nullptr;
    const int verdict = hooks.conn_setup.fn(hooks.conn_setup.closure, &params, &out, &reply);
    if (verdict != MTATLS_VERDICT_CONTINUE && out != nullptr) {
        // The contract says *conn is NULL then; end it anyway rather than leak.
        if (hooks.conn_end) hooks.conn_end.fn(hooks.conn_end.closure, out);
        out = nullptr;
    }
    if (verdict == MTATLS_VERDICT_CONTINUE && out == nullptr) return MTATLS_VERDICT_TEMPFAIL;
    return verdict;
}

EhloDecision ModuleConnection::ehlo(std::string_view reply_bytes) {
    EhloDecision decision;
    mtatls_ehlo_result result{};
    result.struct_size = sizeof result;
    decision.verdict = hooks_->ehlo.fn(hooks_->ehlo.closure, conn_, reply_bytes.data(),
                                       reply_bytes.size(), &result, &decision.reply);
    decision.next = result.next;
    decision.starttls_advertised = result.starttls_advertised != 0;
    return decision;
}

TlsDecision ModuleConnection::starttls_begin(int fd, std::string_view reply_bytes) {
    TlsDecision decision;
    int retry = 0;
    decision.verdict =
        hooks_->starttls_begin.fn(hooks_->starttls_begin.closure, conn_, fd, reply_bytes.data(),
                                  reply_bytes.size(), &decision.reply, &retry);
    decision.retry_plaintext = retry != 0;
    return decision;
}

int ModuleConnection::starttls_step() {
    return hooks_->starttls_step.fn(hooks_->starttls_step.closure, conn_);
}

TlsDecision ModuleConnection::starttls_finish() {
    TlsDecision decision;
    int retry = 0;
    decision.verdict =
        hooks_->starttls_finish.fn(hooks_->starttls_finish.closure, conn_, &decision.reply, &retry);
    decision.retry_plaintext = retry != 0;
    return decision;
}

int ModuleConnection::tls_read(void* buffer, std::size_t size, std::size_t& done) {
    done = 0;
    return hooks_->tls_read.fn(hooks_->tls_read.closure, conn_, buffer, size, &done);
}

int ModuleConnection::tls_write(const void* buffer, std::size_t size, std::size_t& done) {
    done = 0;
    return hooks_->tls_write.fn(hooks_->tls_write.closure, conn_, buffer, size, &done);
}

int ModuleConnection::tls_shutdown() {
    return hooks_->tls_shutdown.fn(hooks_->tls_shutdown.closure, conn_);
}

std::string ModuleConnection::macro(const char* name) {
    if (!hooks_->macro_lookup) return {};
    std::vector<char> buffer(256);
    for (int tries = 0; tries < 2; ++tries) {
        std::size_t length = 0;
        const int status = hooks_->macro_lookup.fn(hooks_->macro_lookup.closure, conn_, name,
                                                   buffer.data(), buffer.size(), &length);
        if (status == MTATLS_STATUS_OK)
            return std::string(buffer.data(), std::min(length, buffer.size() - 1));
        if (status != MTATLS_STATUS_TOO_SMALL || length + 1 <= buffer.size()) return {};
        buffer.resize(length + 1);
    }
    return {};
}

} // namespace mtatls::host
