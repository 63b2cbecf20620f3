// mtatls_send.cpp - `mtatls-send`: deliver one message to one next hop over
// SMTP with the module's outbound TLS policy, for MTA pipe transports.
//
// The message is read from standard input before connecting; one line per
// attempt goes to standard error, in the form the configuration chooses
// (key=value by default, JSON Lines, or the admin's templates), after
// Postfix's "TLS connection established" summary when a handshake
// completed; the exit status is a sysexits(3) value the MTA understands
// (0 sent, 75 deferred, 69 bounced).
// The next hop is a domain (its MX hosts, tried in order: RFC 5321 §5.1),
// [host] or an address (mx_resolver.h); a failed attempt passes the
// message to the next MX host when the failure concerns that server
// (failover.h), all within --attempt-timeout.  When an opportunistic TLS
// attempt fails and the module allows it, a second attempt on a NEW
// connection to the same host delivers without TLS.
// Under --pipe (an MTA's pipe transport) the output starts with one
// "X.Y.Z reason" line that Postfix's pipe(8) takes as the delivery status.
#include "attempt_log.h"
#include "command_support.h"
#include "failover.h"
#include "log_settings.h"
#include "message.h"
#include "mx_resolver.h"
#include "pipe_status.h"
#include "resolver_settings.h"
#include "send_options.h"
#include "session.h"
#include "text/log_safe.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
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
                      "                   --next-hop DESTINATION [--mx-name NAME] [--helo NAME]\n"
                      "                   [--resolver ADDR[@PORT][,...]] [--mx-address-limit N]\n"
                      "                   [--timeout SECONDS] [--attempt-timeout SECONDS]\n"
                      "                   [--defer-local-errors] [--pipe]\n"
                      "                   -f SENDER [--] RCPT... < MESSAGE\n"
                      "       mtatls-send --version | --help\n"
                      "DESTINATION: DOMAIN[:PORT] (its MX hosts), [HOST][:PORT] (no MX lookup),\n"
                      "an IPv4 address or [IPv6] (no DNS); PORT defaults to 25.\n"
                      "Exit: 0 sent, 75 deferred, 69 bounced, 64 usage, 78 configuration, 70 "
                      "internal.\n");
    return code;
}

// Standard error, line by line.  Under --pipe the lines are held until
// the end, so that the status line can come first.
class Output {
  public:
    void hold() { holding_ = true; }
    void line(const std::string& text) {
        if (holding_)
            held_.push_back(text);
        else
            write(text);
    }
    // Writes `status` (if any), then what was held.
    void finish(const std::string& status) {
        if (!status.empty()) write(status);
        for (const std::string& text : held_)
            write(text);
        held_.clear();
        holding_ = false;
    }

  private:
    static void write(const std::string& text) {
        std::fprintf(stderr, "%s\n", text.c_str());
        std::fflush(stderr);
    }
    bool holding_ = false;
    std::vector<std::string> held_;
};

Output output;

void print_line(const std::string& line) { output.line(line); }

// How the run ended: the exit code and, for --pipe, the status line.
struct Finished {
    int exit = exit_ok;
    std::string status;
};

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
// `message` goes to the log and, under --pipe, into the status line
// (4.3.5 "system incorrectly configured", or 4.3.0).
Finished local_error(const host::SendOptions& options, int code, const std::string& message) {
    print_line(std::string(program) + ": " + message);
    return {options.defer_local_errors ? exit_tempfail : code,
            host::local_failure_status_line(code == exit_config ? "4.3.5" : "4.3.0", message)};
}

Finished finished(const host::AttemptResult& result) {
    return {exit_code(result.outcome), host::pipe_status_line(result)};
}

void report(const host::AttemptResult& result, bool fallback, const host::LogSettings& settings) {
    for (const std::string& line : host::format_attempt_lines(program, result, fallback, settings))
        print_line(line);
}

// The DNS servers to ask: --resolver, else the `resolver` directive, else
// none (the system's).  False (and a message) when the configured value
// is unusable; the module checks it at load, so that means a module and a
// host that disagree.
bool dns_servers(const host::SendOptions& options, const host::Module& module,
                 std::vector<host::DnsServer>& servers) {
    servers = options.resolver;
    if (!servers.empty() || options.next_hop.kind == host::NextHopKind::ip_literal) return true;
    std::vector<std::string> problems;
    const std::string configured = host::read_resolver_setting(module, problems);
    for (const std::string& problem : problems)
        print_line(std::string(program) + ": warning: " + text::log_safe(problem));
    if (configured.empty()) return true;
    std::string error;
    const auto parsed = host::parse_dns_servers(configured, error);
    if (!parsed) {
        print_line(std::string(program) + ": " + options.config +
                   ": resolver: " + text::log_safe(error));
        return false;
    }
    servers = *parsed;
    return true;
}

// The line of a delivery that ended before any connection: the next hop
// did not resolve, or resolved to "no mail here".
host::AttemptResult lookup_failure(const host::AttemptParams& params, const host::NextHop& hop,
                                   const host::DnsFailure& failure, double delay) {
    host::AttemptResult result;
    result.outcome = failure.outcome;
    result.code = failure.code;
    result.dsn = failure.dsn;
    result.reason = failure.reason;
    result.stage = host::Stage::resolve;
    result.mx_name = hop.name;
    result.port = hop.port;
    result.domain = params.domain;
    result.sender = params.sender;
    result.delay_seconds = delay;
    result.time = std::chrono::system_clock::now();
    for (const std::string& name : params.macro_names)
        result.macros.emplace_back(name, std::string());
    for (const std::string& address : params.recipients)
        result.recipients.push_back(
            {address, failure.outcome, failure.code, failure.dsn, failure.reason});
    return result;
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

Finished send(const host::SendOptions& options) {
    // Read everything first: a message that cannot be read must not leave
    // a half-opened SMTP transaction behind.
    host::MessageInput input = host::read_message(STDIN_FILENO);
    if (!input.text) {
        print_line(std::string(program) + ": " + input.error);
        // Too large will stay too large (bounce); a read error may pass.
        if (input.too_large)
            return {options.pipe ? exit_unavailable : exit_usage,
                    "5.3.4 message too large for mtatls-send: " + input.error};
        return {exit_tempfail, "4.3.0 cannot read the message: " + input.error};
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
    if (!module) return local_error(options, exit_config, error);
    int errors = 0;
    const int status = module->config_load(options.config, [&errors](const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_NOTE) return;
        if (d.severity == MTATLS_SEVERITY_ERROR) ++errors;
        print_line(std::string(program) + ": " + format_diagnostic(d));
    });
    if (status == MTATLS_STATUS_CONFIG)
        return local_error(options, exit_config,
                           options.config + ": " + std::to_string(errors) + " error" +
                               (errors == 1 ? "" : "s") + "; configuration not valid");
    if (status != MTATLS_STATUS_OK)
        return local_error(options, exit_software,
                           options.config + ": " + host::status_text(status));
    std::vector<std::string> log_problems;
    const host::LogSettings log_settings = host::read_log_settings(*module, log_problems);
    for (const std::string& problem : log_problems)
        print_line(std::string(program) + ": warning: " + text::log_safe(problem));
    const host::ConnectionHooks hooks = host::ConnectionHooks::from_module(*module);
    if (const std::string missing = hooks.missing(); !missing.empty())
        return local_error(options, exit_software,
                           "module " + module->path() + " does not implement " + missing);

    std::vector<host::DnsServer> servers;
    if (!dns_servers(options, *module, servers))
        return local_error(options, exit_config, options.config + ": resolver not usable");

    host::AttemptParams params;
    params.port = options.next_hop.port;
    params.helo = options.helo.empty() ? local_host_name() : options.helo;
    params.binding_group = options.binding_group;
    params.binding = options.binding;
    params.domain = options.domain;
    params.sender = options.sender;
    params.recipients = options.recipients;
    params.timeouts = host::timeouts_for(options);
    params.macro_names = macro_names(*module, log_settings);
    // --attempt-timeout covers the whole delivery: DNS, every MX host, a
    // plaintext retry.
    const auto start = host::Deadline::Clock::now();
    params.deadline = host::Deadline::after(params.timeouts.attempt, start);

    host::DestinationRequest request;
    request.next_hop = options.next_hop;
    request.mx_name = options.mx_name;
    request.servers = servers;
    request.address_limit = options.mx_address_limit;
    const host::Destination destination = host::find_destination(
        request, host::earliest(host::Deadline::after(params.timeouts.dns, start), params.deadline),
        host::random_pick());
    if (destination.hosts.empty()) {
        const double delay =
            std::chrono::duration<double>(host::Deadline::Clock::now() - start).count();
        const host::AttemptResult result = lookup_failure(
            params, options.next_hop,
            destination.failure.value_or(host::DnsFailure{host::Outcome::deferred, 451, "4.4.3",
                                                          "[internal] no host to deliver to"}),
            delay);
        report(result, false, log_settings);
        return finished(result);
    }

    host::AttemptResult result;
    for (const host::MxHost& mx : destination.hosts) {
        params.host = mx.name;
        params.mx_name = mx.name;
        params.addresses = mx.addresses;
        params.conn_flags = 0;
        result = host::run_attempt(hooks, params, wire);
        if (result.retry_plaintext && result.outcome == host::Outcome::deferred) {
            report(result, true, log_settings);
            // The module allowed it after an opportunistic failure: a fresh
            // connection to the same address, flagged so that the module
            // answers PLAINTEXT at EHLO.
            params.conn_flags = MTATLS_CONN_PLAINTEXT_RETRY;
            if (!result.address.empty()) params.addresses = {result.address};
            result = host::run_attempt(hooks, params, wire);
        }
        report(result, false, log_settings);
        if (!host::try_next_mx(result) || params.deadline.expired()) break;
    }
    return finished(result);
}

} // namespace

int main(int argc, char** argv) {
    // The module's TLS writes go through write(2): a peer that has gone
    // must give EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    int internal_error_exit = exit_software;
    bool pipe = false;
    // Under --pipe, an internal error is a deferral with a status line.
    const auto internal_error = [&](const std::string& what) {
        print_line(std::string(program) + ": internal error" + (what.empty() ? "" : ": " + what));
        output.finish(pipe ? host::local_failure_status_line(
                                 "4.3.0", "mtatls-send internal error" +
                                              (what.empty() ? std::string() : ": " + what))
                           : std::string());
        return internal_error_exit;
    };
    try {
        const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
        // Known before parsing, so that even a usage error is reported the
        // way the pipe transport needs (and deferred: a broken master.cf
        // entry must not bounce mail).
        pipe = std::find(args.begin(), std::find(args.begin(), args.end(), "--"), "--pipe") !=
               std::find(args.begin(), args.end(), "--");
        if (pipe) {
            output.hold();
            internal_error_exit = exit_tempfail;
        }
        const host::ParsedOptions parsed = host::parse_send_options(args);
        if (parsed.options.help) return usage(stdout, exit_ok);
        if (parsed.options.version) {
            std::printf("mtatls-send %s\n", MTATLS_VERSION);
            return exit_ok;
        }
        if (!parsed.error.empty()) {
            if (pipe) {
                print_line(std::string(program) + ": " + parsed.error);
                output.finish(host::local_failure_status_line(
                    "4.3.5", "mtatls-send command line: " + parsed.error));
                return exit_tempfail;
            }
            std::fprintf(stderr, "%s: %s\n", program, parsed.error.c_str());
            return usage(stderr, exit_usage);
        }
        if (parsed.options.defer_local_errors) internal_error_exit = exit_tempfail;
        const Finished result = send(parsed.options);
        output.finish(parsed.options.pipe ? result.status : std::string());
        return result.exit;
    } catch (const std::exception& e) {
        return internal_error(e.what());
    } catch (...) {
        return internal_error("");
    }
}
