// mtatls_policyd.cpp - `mtatls-policyd`: makes Postfix's own smtp client
// follow mtatls policy.  It loads the module, reads the configuration and
// answers Postfix's socketmap lookups for smtp_tls_policy_maps: the
// socketmap name selects the binding, the key is the next-hop, the answer
// the Postfix TLS policy for it (shim/postfix/policy_map.h).
//
// Signals: SIGHUP reloads (on a thread; on failure the previous
// configuration stays), SIGTERM and SIGINT stop cleanly.  Logs go to
// standard error, one line per event.  `--check` prints the policies and
// the mapping's findings for a whole configuration and exits (the same
// check as `mtatls-config check --postfix`).
#include "command_support.h"
#include "config_reloader.h"
#include "daemon_log.h"
#include "policy_responder.h"
#include "policy_scan.h"
#include "policyd_options.h"
#include "socketmap_server.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>

namespace {

using namespace mtatls;
using namespace mtatls::command;
using namespace mtatls::postfix;

const char* const program = "mtatls-policyd";
constexpr int exit_oserr = 71; // sysexits EX_OSERR: cannot listen, no signalfd

std::string absolute(const std::string& path) {
    std::error_code error;
    const auto full = std::filesystem::absolute(path, error);
    return error ? path : full.lexically_normal().string();
}

// Where the build tree's module is found from: this binary is two levels
// below the build tree's root (build/shim/postfix/), one more than the
// other commands.
constexpr int build_depth = 2;

// Loads the configuration at start-up; prints every error and warning.
int initial_load(const host::Module& module, const std::string& file, DaemonLog& log, bool quiet) {
    int errors = 0;
    const int status = module.config_load(file, [&](const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_ERROR) ++errors;
        if (d.severity == MTATLS_SEVERITY_NOTE) return;
        if (!quiet || d.severity == MTATLS_SEVERITY_ERROR) log.plain(format_diagnostic(d));
    });
    if (status == MTATLS_STATUS_OK) return exit_ok;
    if (status == MTATLS_STATUS_CONFIG) {
        log.error(file + ": " + std::to_string(errors) + " error" + (errors == 1 ? "" : "s") +
                  "; configuration not valid, not starting");
        return exit_config;
    }
    log.error(file + ": " + host::status_text(status));
    return exit_software;
}

int run_check(const host::Module& module, const PolicydOptions& options, const std::string& file) {
    ScanOptions scan;
    scan.names = options.check_names;
    scan.next_hops = options.check_next_hops;
    return check_configuration(module, file, scan, program, stdout, stderr) ? exit_ok
                                                                            : exit_software;
}

int serve(const host::Module& module, const PolicydOptions& options, const std::string& file,
          DaemonLog& log) {
    // Signals arrive through a descriptor the loop polls, so handlers
    // never run in the middle of a lookup.  Blocked before any thread
    // starts, so the reload thread never receives them either.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
        log.error("cannot block signals");
        return exit_oserr;
    }
    host::UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd.valid()) {
        log.error(std::string("signalfd: ") + std::strerror(errno));
        return exit_oserr;
    }

    std::vector<Listener> listeners;
    std::string where;
    for (const ListenAddress& address : options.listen) {
        std::string error;
        auto listener = Listener::open(address, options.socket_mode, error);
        if (!listener) {
            log.error("cannot listen on " + address.text() + ": " + error);
            return exit_oserr;
        }
        where += (where.empty() ? "" : ", ") + listener->address().text();
        listeners.push_back(std::move(*listener));
    }

    PolicyResponder responder(module, file, log, options.verbose);
    ConfigReloader reloader(module, file, log);
    SocketmapServer server(std::move(listeners), options.limits, responder, log, options.verbose);
    int stop_signal = 0;
    server.watch(signal_fd.get(), [&] {
        signalfd_siginfo info{};
        while (::read(signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            if (info.ssi_signo == SIGHUP) {
                reloader.request();
            } else if (stop_signal == 0) {
                stop_signal = static_cast<int>(info.ssi_signo);
                log.info(std::string("stopping (") + ::strsignal(stop_signal) + ")");
                server.stop();
            }
        }
    });
    server.watch(reloader.notify_fd(), [&] {
        if (reloader.drain()) responder.forget_reported();
    });
    log.info("started: module " + module.name() + " " + module.version() + ", configuration " +
             file + ", listening on " + where + ", at most " +
             std::to_string(options.limits.max_clients) + " clients");
    if (!server.run()) return exit_oserr;
    log.info("stopped after " + std::to_string(responder.lookups()) + " lookups on " +
             std::to_string(server.connections_accepted()) + " connections");
    return exit_ok;
}

int run(int argc, char** argv) {
    PolicydOptions options;
    std::string error;
    if (!parse_policyd_options(argc, argv, options, error)) {
        std::fprintf(stderr, "%s: %s\n%s", program, error.c_str(), policyd_usage());
        return exit_usage;
    }
    if (options.help) {
        std::fputs(policyd_usage(), stdout);
        return exit_ok;
    }
    if (options.version) {
        std::printf("%s %s\n", program, MTATLS_VERSION);
        return exit_ok;
    }
    // A broken pipe on a client is an error return, not a signal.
    ::signal(SIGPIPE, SIG_IGN);

    DaemonLog log(program);
    const auto module = load_module(program, module_path(options.module, build_depth));
    if (!module) return exit_unavailable;
    for (const int hook : {MTATLS_HOOK_CONFIG_LOAD, MTATLS_HOOK_CONFIG_EXPLAIN}) {
        if (!module->has(hook)) {
            log.error(module->path() + " lacks hook " + std::to_string(hook) +
                      " (CONFIG_LOAD/CONFIG_EXPLAIN); it cannot answer policy lookups");
            return exit_unavailable;
        }
    }
    // The ABI wants an absolute path: relative paths inside the file are
    // taken from its directory, and a daemon's working directory is "/".
    const std::string file = absolute(options.config);
    if (const int code = initial_load(*module, file, log, options.check && options.quiet_load);
        code != exit_ok)
        return code;
    if (options.check) return run_check(*module, options, file);
    return serve(*module, options, file, log);
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: error: %s\n", program, e.what());
        return exit_software;
    }
}
