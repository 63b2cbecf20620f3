// fault_driver.cpp - the client half of the fault test (fault_test.py): many
// deliveries, in one process, through the real module (loaded by the shim
// loader) and the shim/host delivery engine, exactly as mtatls-send drives
// one; each delivery's outcome goes to stdout as one machine-readable line.
//
// Why in-process rather than spawning mtatls-send 500 times: a leak only
// shows when the same process runs many attempts.  So the driver also checks
// itself: the descriptors in /proc/self/fd before the first delivery and
// after the last must be the same (a socket, pipe or file left open by the
// module or the engine is a leak; a descriptor that disappeared means
// someone closed what it did not own), and under the ASan build
// LeakSanitizer checks the heap at exit.
//
// usage: fault-driver --config FILE --module PATH --plan FILE
//                     [--concurrency C] [--timeout S] [--attempt-timeout S]
//                     [--helo-domain NAME]
//   The plan has one delivery per line:
//     ID HOST:PORT MESSAGE-FILE SENDER RCPT [RCPT...]
//   ID is [A-Za-z0-9-]+ and unique; SENDER "<>" is the null sender; the
//   message file holds the message as an MTA hands it over (LF or CRLF).
//   EHLO names ID.HELO-DOMAIN, so that a test server knows which delivery
//   a connection belongs to before any MAIL command.
//
// Output (stdout), one line per event, key=value with log_value() quoting:
//   attempt id= n= server= outcome= code= dsn= tls= verified= retry_plaintext= reason=
//   delivery id= server= outcome= code= dsn= attempts= tls= verified= delay= reason=
//   rcpt id= addr= outcome= code= dsn= reason=
//   fds phase= count= list=        (snapshots; list: fd:target,...)
//   leak fd= target= [vanished=1]  (each leaked descriptor, or one closed
//                                   by someone who did not own it)
//   kept fd= target=               (new, but what a TLS library may keep)
//   summary deliveries= sent= deferred= bounced= seconds= fd_leaks= peak_fds=
// Exit: 0 when every planned delivery ran and no descriptor leaked; 1 on a
// leak or an internal error; 64 on a usage error.  Delivery outcomes do not
// change the exit status: judging them is the test's job.
#include "attempt_log.h"
#include "command_support.h"
#include "message.h"
#include "send_options.h"
#include "session.h"
#include "socket.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace mtatls;
using Clock = std::chrono::steady_clock;

constexpr int exit_leak = 1;

// ---------------------------------------------------------------- options

struct Options {
    std::string config;
    std::string module;
    std::string plan;
    long concurrency = 4;
    long long timeout = 2;
    long long attempt_timeout = 30;
    std::string helo_domain = "client.fault.test";
};

struct Delivery {
    std::string id;
    std::string next_hop; // as written in the plan
    std::string host;
    uint16_t port = 25;
    std::string message_file;
    std::string sender; // "" for <>
    std::vector<std::string> recipients;
};

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 63) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-';
    });
}

// The domain of the first recipient: the policy key, as mtatls-send takes it.
std::string domain_of(const std::string& address) {
    const auto at = address.rfind('@');
    return at == std::string::npos ? std::string() : address.substr(at + 1);
}

std::vector<Delivery> read_plan(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read plan " + path);
    std::vector<Delivery> plan;
    std::vector<std::string> seen;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        Delivery d;
        words >> d.id >> d.next_hop >> d.message_file >> d.sender;
        for (std::string rcpt; words >> rcpt;)
            d.recipients.push_back(rcpt);
        const std::string where = path + ":" + std::to_string(number) + ": ";
        if (!valid_id(d.id)) throw std::runtime_error(where + "bad delivery id");
        if (d.recipients.empty()) throw std::runtime_error(where + "no recipient");
        if (d.sender == "<>") d.sender.clear();
        for (const std::string& address : d.recipients)
            if (const std::string problem = host::address_problem(address); !problem.empty())
                throw std::runtime_error(where + problem);
        std::string error;
        const auto hop = host::parse_host_port(d.next_hop, 25, error);
        if (!hop) throw std::runtime_error(where + error);
        d.host = hop->host;
        d.port = hop->port;
        seen.push_back(d.id);
        plan.push_back(std::move(d));
    }
    std::sort(seen.begin(), seen.end());
    if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
        throw std::runtime_error(path + ": delivery ids are not unique");
    return plan;
}

// ---------------------------------------------------------------- descriptors

// fd -> what it refers to ("socket:[123]", "/dev/urandom", ...).
using FdTable = std::map<int, std::string>;

FdTable open_fds() {
    FdTable table;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) throw std::runtime_error("cannot list /proc/self/fd");
    const int own = ::dirfd(dir);
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        const int fd = std::atoi(entry->d_name);
        if (fd == own) continue;
        char target[512] = {};
        const std::string link = std::string("/proc/self/fd/") + entry->d_name;
        const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        table[fd] = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
    }
    ::closedir(dir);
    return table;
}

std::size_t fd_count() { return open_fds().size(); }

// What a module may legitimately keep open across attempts: OpenSSL's
// entropy source when it reads /dev/urandom instead of getrandom(2).  A
// socket, a pipe, an eventfd or any other file is never legitimate.
bool legitimately_kept(const std::string& target) {
    return target == "/dev/urandom" || target == "/dev/random" || target == "/dev/srandom";
}

std::string describe(const FdTable& table) {
    std::string text;
    for (const auto& [fd, target] : table) {
        if (!text.empty()) text += ',';
        text += std::to_string(fd) + ':' + target;
    }
    return text;
}

// ---------------------------------------------------------------- output

class Output {
  public:
    void line(const std::string& text) {
        const std::lock_guard lock(mutex_);
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

  private:
    std::mutex mutex_;
};

const char* outcome_word(host::Outcome outcome) {
    switch (outcome) {
    case host::Outcome::sent: return "sent";
    case host::Outcome::deferred: return "deferred";
    case host::Outcome::bounced: return "bounced";
    }
    return "unknown";
}

std::string kv(std::string_view key, std::string_view value) {
    return " " + std::string(key) + "=" + host::log_value(value);
}

// ---------------------------------------------------------------- deliveries

struct Totals {
    std::atomic<long> sent{0};
    std::atomic<long> deferred{0};
    std::atomic<long> bounced{0};
    std::atomic<long> errors{0};
    std::atomic<std::size_t> peak_fds{0};
};

class Driver {
  public:
    Driver(const Options& options, const host::ConnectionHooks& hooks,
           std::vector<std::string> macro_names, Output& out)
        : options_(options), hooks_(hooks), macro_names_(std::move(macro_names)), out_(out) {}

    // One delivery as mtatls-send makes it: an attempt, and when the
    // module allows it after an opportunistic TLS failure, one plaintext
    // retry on a new connection.
    void deliver(const Delivery& d, Totals& totals) const {
        const std::string wire = host::to_wire(read_file(d.message_file));
        host::AttemptParams params;
        params.host = d.host;
        params.port = d.port;
        params.mx_name = "mx.example.test"; // the test certificate's name
        params.helo = d.id + "." + options_.helo_domain;
        params.domain = domain_of(d.recipients.front());
        params.sender = d.sender;
        params.recipients = d.recipients;
        host::SendOptions send_options;
        send_options.timeout = options_.timeout;
        send_options.timeout_given = true;
        send_options.attempt_timeout = options_.attempt_timeout;
        params.timeouts = host::timeouts_for(send_options);
        params.macro_names = macro_names_;

        int attempts = 1;
        host::AttemptResult result = host::run_attempt(hooks_, params, wire);
        report_attempt(d, 1, result);
        if (result.retry_plaintext && result.outcome == host::Outcome::deferred) {
            params.conn_flags = MTATLS_CONN_PLAINTEXT_RETRY;
            attempts = 2;
            result = host::run_attempt(hooks_, params, wire);
            report_attempt(d, 2, result);
        }
        report_delivery(d, attempts, result);
        switch (result.outcome) {
        case host::Outcome::sent: ++totals.sent; break;
        case host::Outcome::deferred: ++totals.deferred; break;
        case host::Outcome::bounced: ++totals.bounced; break;
        }
    }

  private:
    static std::string read_file(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + path);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    void report_attempt(const Delivery& d, int n, const host::AttemptResult& r) const {
        out_.line("attempt" + kv("id", d.id) + kv("n", std::to_string(n)) +
                  kv("server", d.next_hop) + kv("outcome", outcome_word(r.outcome)) +
                  kv("code", std::to_string(r.code)) + kv("dsn", r.dsn) + kv("tls", r.tls.used) +
                  kv("verified", r.tls.verified) +
                  kv("retry_plaintext", r.retry_plaintext ? "1" : "0") + kv("reason", r.reason));
    }

    void report_delivery(const Delivery& d, int attempts, const host::AttemptResult& r) const {
        char delay[32];
        std::snprintf(delay, sizeof delay, "%.3f", r.delay_seconds);
        // Recipient lines first: the delivery line closes the record.
        for (const host::RecipientResult& rcpt : r.recipients)
            out_.line("rcpt" + kv("id", d.id) + kv("addr", rcpt.address) +
                      kv("outcome", outcome_word(rcpt.outcome)) +
                      kv("code", std::to_string(rcpt.code)) + kv("dsn", rcpt.dsn) +
                      kv("reason", rcpt.reason));
        out_.line("delivery" + kv("id", d.id) + kv("server", d.next_hop) +
                  kv("outcome", outcome_word(r.outcome)) + kv("code", std::to_string(r.code)) +
                  kv("dsn", r.dsn) + kv("attempts", std::to_string(attempts)) +
                  kv("tls", r.tls.used) + kv("verified", r.tls.verified) + kv("delay", delay) +
                  kv("reason", r.reason));
    }

    const Options& options_;
    const host::ConnectionHooks& hooks_;
    std::vector<std::string> macro_names_;
    Output& out_;
};

// ---------------------------------------------------------------- main

int usage(const std::string& why) {
    std::fprintf(stderr,
                 "fault-driver: %s\n"
                 "usage: fault-driver --config FILE --module PATH --plan FILE [--concurrency C]\n"
                 "                    [--timeout S] [--attempt-timeout S] [--helo-domain NAME]\n",
                 why.c_str());
    return command::exit_usage;
}

long long number(const std::string& option, const std::string& text) {
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used != text.size() || value < 1) throw std::invalid_argument(option + " wants N >= 1");
    return value;
}

// The fds a snapshot `after` has that `before` lacks (or that changed
// what they refer to), and those it lost.
void compare(const FdTable& before, const FdTable& after, FdTable& added, FdTable& vanished) {
    for (const auto& [fd, target] : after) {
        const auto it = before.find(fd);
        if (it == before.end() || it->second != target) added[fd] = target;
    }
    for (const auto& [fd, target] : before) {
        const auto it = after.find(fd);
        if (it == after.end() || it->second != target) vanished[fd] = target;
    }
}

int run(int argc, char** argv) {
    Options o;
    try {
        for (int i = 1; i < argc; i += 2) {
            const std::string arg = argv[i];
            if (i + 1 >= argc) return usage(arg + " needs a value");
            const std::string value = argv[i + 1];
            if (arg == "--config")
                o.config = value;
            else if (arg == "--module")
                o.module = value;
            else if (arg == "--plan")
                o.plan = value;
            else if (arg == "--concurrency")
                o.concurrency = static_cast<long>(number(arg, value));
            else if (arg == "--timeout")
                o.timeout = number(arg, value);
            else if (arg == "--attempt-timeout")
                o.attempt_timeout = number(arg, value);
            else if (arg == "--helo-domain")
                o.helo_domain = value;
            else
                return usage("unknown option " + arg);
        }
    } catch (const std::exception& e) {
        return usage(e.what());
    }
    if (o.config.empty() || o.plan.empty()) return usage("--config and --plan are required");
    const std::vector<Delivery> plan = read_plan(o.plan);
    Output out;

    // Snapshot 1: before the module exists.
    const FdTable at_start = open_fds();
    out.line("fds phase=start count=" + std::to_string(at_start.size()) +
             kv("list", describe(at_start)));
    {
        std::string error;
        const auto module = host::Module::load(command::module_path(o.module), error);
        if (!module) throw std::runtime_error(error);
        std::string diagnostics;
        const int status =
            module->config_load(o.config, [&diagnostics](const mtatls_diagnostic& d) {
                if (d.severity != MTATLS_SEVERITY_NOTE)
                    diagnostics += "\n  " + command::format_diagnostic(d);
            });
        if (status != MTATLS_STATUS_OK)
            throw std::runtime_error(o.config + ": " + host::status_text(status) + diagnostics);
        const host::ConnectionHooks hooks = host::ConnectionHooks::from_module(*module);
        if (const std::string missing = hooks.missing(); !missing.empty())
            throw std::runtime_error("module does not implement " + missing);
        std::vector<std::string> names;
        if (module->macro_list(0, names) != MTATLS_STATUS_OK)
            for (const char* name : host::tls_fact_names)
                names.emplace_back(name);

        // Snapshot 2: module loaded and configured, no delivery yet.  The
        // deliveries must leave exactly this behind.
        const FdTable loaded = open_fds();
        out.line("fds phase=loaded count=" + std::to_string(loaded.size()) +
                 kv("list", describe(loaded)));

        Totals totals;
        totals.peak_fds = loaded.size();
        const Driver driver(o, hooks, names, out);
        std::atomic<std::size_t> next{0};
        const auto start = Clock::now();
        auto worker = [&] {
            for (;;) {
                const std::size_t i = next.fetch_add(1);
                if (i >= plan.size()) return;
                try {
                    driver.deliver(plan[i], totals);
                } catch (const std::exception& e) {
                    ++totals.errors;
                    out.line("error" + kv("id", plan[i].id) + kv("reason", e.what()));
                }
                const std::size_t now = fd_count();
                std::size_t peak = totals.peak_fds.load();
                while (now > peak && !totals.peak_fds.compare_exchange_weak(peak, now)) {
                }
            }
        };
        {
            std::vector<std::jthread> threads;
            for (long t = 1; t < o.concurrency; ++t)
                threads.emplace_back(worker);
            worker();
        } // joined
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

        // Snapshot 3: every delivery over, module still loaded.
        const FdTable after = open_fds();
        out.line("fds phase=after count=" + std::to_string(after.size()) +
                 kv("list", describe(after)));
        FdTable added;
        FdTable vanished;
        compare(loaded, after, added, vanished);
        long leaks = 0;
        for (const auto& [fd, target] : added) {
            const bool kept = legitimately_kept(target);
            out.line(std::string(kept ? "kept" : "leak") + " fd=" + std::to_string(fd) +
                     kv("target", target));
            leaks += kept ? 0 : 1;
        }
        for (const auto& [fd, target] : vanished) {
            // Closed by someone who did not open it: a double close.
            out.line("leak fd=" + std::to_string(fd) + kv("target", target) + " vanished=1");
            ++leaks;
        }
        char figures[64];
        std::snprintf(figures, sizeof figures, "%.3f", seconds);
        out.line("summary deliveries=" + std::to_string(plan.size()) + " sent=" +
                 std::to_string(totals.sent) + " deferred=" + std::to_string(totals.deferred) +
                 " bounced=" + std::to_string(totals.bounced) +
                 " errors=" + std::to_string(totals.errors) + " seconds=" + figures + " fd_leaks=" +
                 std::to_string(leaks) + " peak_fds=" + std::to_string(totals.peak_fds.load()));
        if (leaks > 0 || totals.errors > 0) return exit_leak;
    } // the module is unloaded here

    // Snapshot 4: module unloaded.  Informational: what stays is OpenSSL's
    // (libssl is not unloaded with the module).
    const FdTable at_end = open_fds();
    FdTable added;
    FdTable vanished;
    compare(at_start, at_end, added, vanished);
    out.line("fds phase=unloaded count=" + std::to_string(at_end.size()) +
             kv("added", describe(added)) + kv("vanished", describe(vanished)));
    return command::exit_ok;
}

} // namespace

int main(int argc, char** argv) {
    // A server that goes away mid-write must give EPIPE, not kill the run.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fault-driver: %s\n", e.what());
        return exit_leak;
    }
}
