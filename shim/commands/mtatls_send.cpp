// mtatls_send.cpp - `mtatls-send`: deliver one message to one next hop over
// SMTP with the module's outbound TLS policy, for MTA pipe transports.
//
// The message is read from standard input before connecting; one line per
// attempt goes to standard error, in the form the configuration chooses
// (key=value by default, JSON Lines, or the admin's templates), after
// Postfix's "TLS connection established" summary when a handshake
// completed; the exit status is a sysexits(3) value the MTA understands
// (0 sent, 75 deferred, 69 bounced).
// When an opportunistic TLS attempt fails and the module allows it, a
// second attempt on a NEW connection delivers without TLS.
#include "attempt_log.h"
#include "command_support.h"
#include "log_settings.h"
#include "message.h"
#include "send_options.h"
#include "session.h"
#include "text/log_safe.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

using namespace mtatls;
using namespace mtatls::command;

const char* const program = "mtatls-send";

int usage(FILE* out, int code) {
    std::fprintf(out, "usage: mtatls-send --config FILE [--module PATH] [--binding NAME]\n"
                      "                   [--binding-group NAME] [--domain DOMAIN]\n"
                      "                   --next-hop HOST[:PORT] [--mx-name NAME] [--helo NAME]\n"
                      "                   [--timeout SECONDS] [--attempt-timeout SECONDS]\n"
                      "                   [--defer-local-errors]\n"
                      "                   -f SENDER [--] RCPT... < MESSAGE\n"
                      "       mtatls-send --version | --help\n"
                      "HOST may be a name, an IPv4 address or [IPv6]; PORT defaults to 25.\n"
                      "Exit: 0 sent, 75 deferred, 69 bounced, 64 usage, 78 configuration, 70 "
                      "internal.\n");
    return code;
}

void print_line(const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
}

std::string local_host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

int exit_code(host::Outcome outcome) {
    switch (outcome) {
    case host::Outcome::sent: return exit_ok;
    case host::Outcome::bounced: return exit_unavailable;
    case host::Outcome::deferred: return exit_tempfail;
    }
    return exit_tempfail;
}

// A problem on this host, not with the message: 78/70 as sysexits says,
// or 75 with --defer-local-errors (Postfix's pipe bounces on 78 and 70).
int local_error(const host::SendOptions& options, int code) {
    return options.defer_local_errors ? exit_tempfail : code;
}

void report(const host::AttemptResult& result, bool fallback, const host::LogSettings& settings) {
    for (const std::string& line : host::format_attempt_lines(program, result, fallback, settings))
        print_line(line);
}

// The macros each attempt looks up for its log line, beyond the TLS facts
// of the key=value line: for JSON every macro the module lists (MACRO_LIST
// stage 0; without that hook, the TLS facts this host knows), for custom
// templates the names they refer to.
std::vector<std::string> macro_names(const host::Module& module,
                                     const host::LogSettings& settings) {
    switch (settings.form) {
    case host::LogForm::keyvalue: return {};
    case host::LogForm::custom: return host::template_macro_names(settings);
    case host::LogForm::json: break;
    }
    std::vector<std::string> listed;
    if (module.macro_list(0, listed) != MTATLS_STATUS_OK) {
        listed.clear();
        for (const char* name : host::tls_fact_names)
            listed.emplace_back(name);
    }
    std::vector<std::string> names;
    for (std::string& name : listed)
        if (std::find(names.begin(), names.end(), name) == names.end())
            names.push_back(std::move(name));
    return names;
}

int send(const host::SendOptions& options) {
    // Read everything first: a message that cannot be read must not leave
    // a half-opened SMTP transaction behind.
    host::MessageInput input = host::read_message(STDIN_FILENO);
    if (!input.text) {
        std::fprintf(stderr, "%s: %s\n", program, input.error.c_str());
        // Too large will stay too large (bounce); a read error may pass.
        return input.too_large ? exit_usage : exit_tempfail;
    }
    const std::string wire = host::to_wire(*input.text);
    input.text.reset();

    std::string error;
    const auto module = host::Module::load(
        module_path(options.module), error, [](int severity, const char* message) {
            const char* level = severity == MTATLS_SEVERITY_ERROR     ? "error"
                                : severity == MTATLS_SEVERITY_WARNING ? "warning"
                                                                      : "note";
            print_line(std::string(program) + ": module severity=" + level +
                       " message=" + host::log_value(message));
        });
    if (!module) {
        std::fprintf(stderr, "%s: %s\n", program, error.c_str());
        return local_error(options, exit_config);
    }
    int errors = 0;
    const int status = module->config_load(options.config, [&errors](const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_NOTE) return;
        if (d.severity == MTATLS_SEVERITY_ERROR) ++errors;
        print_line(std::string(program) + ": " + format_diagnostic(d));
    });
    if (status == MTATLS_STATUS_CONFIG) {
        std::fprintf(stderr, "%s: %s: %d error%s; configuration not valid\n", program,
                     options.config.c_str(), errors, errors == 1 ? "" : "s");
        return local_error(options, exit_config);
    }
    if (status != MTATLS_STATUS_OK) {
        std::fprintf(stderr, "%s: %s: %s\n", program, options.config.c_str(),
                     host::status_text(status));
        return local_error(options, exit_software);
    }
    std::vector<std::string> log_problems;
    const host::LogSettings log_settings = host::read_log_settings(*module, log_problems);
    for (const std::string& problem : log_problems)
        print_line(std::string(program) + ": warning: " + text::log_safe(problem));
    const host::ConnectionHooks hooks = host::ConnectionHooks::from_module(*module);
    if (const std::string missing = hooks.missing(); !missing.empty()) {
        std::fprintf(stderr, "%s: module %s does not implement %s\n", program,
                     module->path().c_str(), missing.c_str());
        return local_error(options, exit_software);
    }

    host::AttemptParams params;
    params.host = options.next_hop_host;
    params.port = options.next_hop_port;
    params.mx_name = options.mx_name;
    params.helo = options.helo.empty() ? local_host_name() : options.helo;
    params.binding_group = options.binding_group;
    params.binding = options.binding;
    params.domain = options.domain;
    params.sender = options.sender;
    params.recipients = options.recipients;
    params.timeouts = host::timeouts_for(options);
    params.macro_names = macro_names(*module, log_settings);

    host::AttemptResult result = host::run_attempt(hooks, params, wire);
    if (result.retry_plaintext && result.outcome == host::Outcome::deferred) {
        report(result, true, log_settings);
        // The module allowed it after an opportunistic failure: a fresh
        // connection, flagged so that the module answers PLAINTEXT at EHLO.
        params.conn_flags = MTATLS_CONN_PLAINTEXT_RETRY;
        result = host::run_attempt(hooks, params, wire);
    }
    report(result, false, log_settings);
    return exit_code(result.outcome);
}

} // namespace

int main(int argc, char** argv) {
    // The module's TLS writes go through write(2): a peer that has gone
    // must give EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    int internal_error_exit = exit_software;
    try {
        const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
        const host::ParsedOptions parsed = host::parse_send_options(args);
        if (parsed.options.help) return usage(stdout, exit_ok);
        if (parsed.options.version) {
            std::printf("mtatls-send %s\n", MTATLS_VERSION);
            return exit_ok;
        }
        if (!parsed.error.empty()) {
            std::fprintf(stderr, "%s: %s\n", program, parsed.error.c_str());
            return usage(stderr, exit_usage);
        }
        if (parsed.options.defer_local_errors) internal_error_exit = exit_tempfail;
        return send(parsed.options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: internal error: %s\n", program, e.what());
        return internal_error_exit;
    } catch (...) {
        std::fprintf(stderr, "%s: internal error\n", program);
        return internal_error_exit;
    }
}
