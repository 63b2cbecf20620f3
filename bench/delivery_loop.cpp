// delivery_loop.cpp - one client of the "delivery" benchmark: N full STARTTLS
// deliveries to one next hop, in one process, either through the module
// (the shim/host engine, exactly as mtatls-send drives it) or with plain
// OpenSSL doing the same SMTP dialogue without the module.
//
// Both modes do the same work per delivery: connect, banner, EHLO, STARTTLS,
// a full handshake (no session is ever reused) verified against --ca for
// --mx-name, EHLO, MAIL, RCPT, DATA with the same ~2 KB message, QUIT.  The
// program prints deliveries per second and the user+sys CPU of its own
// process per delivery (getrusage), so the two modes compare the module's
// overhead directly; bench/delivery.py puts them next to mtatls-send and
// Postfix.  A benchmark, not a test: it only fails when deliveries fail,
// because then the figures would describe something else.
//
// Usage: delivery-loop --mode module|openssl --next-hop HOST:PORT --count N
//                      [--concurrency C] [--ca FILE] [--config FILE]
//                      [--module PATH] [--mx-name NAME]
//   module mode needs --config (tls required, verify host); openssl mode
//   needs --ca.  C threads share the N deliveries.

#include "command_support.h"
#include "message.h"
#include "send_options.h"
#include "session.h"
#include "smtp/reply.h"
#include "socket.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace mtatls;
using Clock = std::chrono::steady_clock;

constexpr const char* helo_name = "client.example.test";
constexpr const char* sender = "bench@client.example.test";
constexpr const char* recipient = "rcpt@example.test";

struct Options {
    std::string mode;
    std::string host;
    uint16_t port = 0;
    std::string mx_name = "mx.example.test";
    long count = 0;
    long concurrency = 1;
    std::string ca;
    std::string config;
    std::string module;
};

// About 2 KB of headers and text, the same bytes in both modes.
std::string message_text() {
    std::string text = "From: <" + std::string(sender) + ">\nTo: <" + recipient +
                       ">\nSubject: delivery benchmark\nMessage-ID: <bench@client.example.test>\n"
                       "\n";
    while (text.size() < 2000)
        text += "The quick brown fox jumps over the lazy dog, again and again and again.\n";
    return text;
}

// Shared between the threads: the next delivery to do, and what failed.
class Work {
  public:
    explicit Work(long count) : count_(count) {}
    bool take() { return next_.fetch_add(1) < count_; }
    void fail(const std::string& why) {
        const std::lock_guard lock(mutex_);
        if (failed_++ == 0) first_error_ = why;
    }
    [[nodiscard]] long failed() const { return failed_; }
    [[nodiscard]] const std::string& first_error() const { return first_error_; }

  private:
    long count_;
    std::atomic<long> next_{0};
    std::mutex mutex_;
    long failed_ = 0;
    std::string first_error_;
};

// ---------------------------------------------------------------- module

// What mtatls-send does per delivery: one run_attempt with the module's
// hooks (no plaintext retry can happen: the policy requires TLS).
struct ModuleClient {
    std::unique_ptr<host::Module> module;
    host::ConnectionHooks hooks;
    host::AttemptParams params;

    static ModuleClient open(const Options& options) {
        ModuleClient client;
        std::string error;
        client.module = host::Module::load(command::module_path(options.module), error);
        if (!client.module) throw std::runtime_error(error);
        std::string diagnostics;
        const int status =
            client.module->config_load(options.config, [&diagnostics](const mtatls_diagnostic& d) {
                if (d.severity != MTATLS_SEVERITY_NOTE)
                    diagnostics += "\n  " + command::format_diagnostic(d);
            });
        if (status != MTATLS_STATUS_OK)
            throw std::runtime_error(options.config + ": " + host::status_text(status) +
                                     diagnostics);
        client.hooks = host::ConnectionHooks::from_module(*client.module);
        if (const std::string missing = client.hooks.missing(); !missing.empty())
            throw std::runtime_error("module does not implement " + missing);

        host::AttemptParams& p = client.params;
        p.host = options.host;
        p.port = options.port;
        p.mx_name = options.mx_name;
        p.helo = helo_name;
        p.domain = "example.test";
        p.sender = sender;
        p.recipients = {recipient};
        p.timeouts = host::timeouts_for(host::SendOptions{});
        return client;
    }

    void deliver(std::string_view wire) const {
        const host::AttemptResult result = host::run_attempt(hooks, params, wire);
        if (result.outcome != host::Outcome::sent)
            throw std::runtime_error(std::to_string(result.code) + " " + result.reason);
        // A benchmark of TLS deliveries must not quietly measure plaintext.
        if (result.tls.used != "TLS" || result.tls.verified != "verified")
            throw std::runtime_error("sent, but tls=" + result.tls.used +
                                     " verified=" + result.tls.verified);
    }
};

// ---------------------------------------------------------------- openssl

struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

std::string openssl_error(const char* what) {
    char text[256] = "unknown error";
    if (const unsigned long code = ERR_get_error(); code != 0)
        ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return std::string(what) + ": " + text;
}

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    [[nodiscard]] int get() const { return fd_; }

  private:
    int fd_;
};

// One blocking SMTP connection, plaintext until start_tls().
class SmtpConnection {
  public:
    explicit SmtpConnection(const sockaddr_in& address) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        if (fd_.get() < 0 ||
            ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error("connect failed");
    }

    // Sends `line` (with CRLF) and expects a reply of class `expect` (2 or 3).
    smtp::Reply command(std::string_view line, int expect) {
        write(line);
        return reply(expect);
    }

    smtp::Reply reply(int expect) {
        for (;;) {
            smtp::ReplyParse parsed = smtp::parse_reply(buffer_);
            if (parsed.state == smtp::ReplyState::malformed)
                throw std::runtime_error("malformed reply: " + parsed.error);
            if (parsed.state == smtp::ReplyState::complete) {
                buffer_.erase(0, parsed.consumed);
                if (parsed.reply.code / 100 != expect)
                    throw std::runtime_error("unexpected reply " +
                                             std::to_string(parsed.reply.code));
                return parsed.reply;
            }
            char chunk[4096];
            const int got = ssl_ ? SSL_read(ssl_.get(), chunk, sizeof chunk)
                                 : static_cast<int>(::read(fd_.get(), chunk, sizeof chunk));
            if (got <= 0) throw std::runtime_error("connection lost");
            buffer_.append(chunk, static_cast<std::size_t>(got));
        }
    }

    void write(std::string_view bytes) {
        const auto size = static_cast<int>(bytes.size());
        const int wrote = ssl_ ? SSL_write(ssl_.get(), bytes.data(), size)
                               : static_cast<int>(::write(fd_.get(), bytes.data(), bytes.size()));
        if (wrote != size) throw std::runtime_error("write failed");
    }

    // A full handshake; the default verify callback fails it unless the
    // chain ends at --ca and the certificate names `mx_name`.
    void start_tls(SSL_CTX* ctx, const std::string& mx_name) {
        if (!buffer_.empty()) throw std::runtime_error("bytes after the STARTTLS reply");
        ssl_.reset(SSL_new(ctx));
        if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1 ||
            SSL_set_tlsext_host_name(ssl_.get(), mx_name.c_str()) != 1 ||
            SSL_set1_host(ssl_.get(), mx_name.c_str()) != 1)
            throw std::runtime_error(openssl_error("SSL setup"));
        if (SSL_connect(ssl_.get()) != 1) throw std::runtime_error(openssl_error("handshake"));
    }

    // close_notify sent, not waited for (what the module does).
    void shutdown() {
        if (ssl_) SSL_shutdown(ssl_.get());
    }

  private:
    Fd fd_;
    SslPtr ssl_; // after fd_: freed before the socket is closed
    std::string buffer_;
};

struct OpensslClient {
    SslCtxPtr ctx;
    sockaddr_in address{};
    std::string mx_name;

    static OpensslClient open(const Options& options) {
        OpensslClient client;
        client.mx_name = options.mx_name;
        client.address.sin_family = AF_INET;
        client.address.sin_port = htons(options.port);
        if (::inet_pton(AF_INET, options.host.c_str(), &client.address.sin_addr) != 1)
            throw std::runtime_error("openssl mode wants an IPv4 next hop");
        client.ctx.reset(SSL_CTX_new(TLS_client_method()));
        SSL_CTX* ctx = client.ctx.get();
        if (ctx == nullptr || SSL_CTX_load_verify_locations(ctx, options.ca.c_str(), nullptr) != 1)
            throw std::runtime_error(openssl_error("cannot load --ca"));
        // The module's settings: no session cache (every handshake is full).
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        return client;
    }

    void deliver(std::string_view wire) const {
        SmtpConnection c(address);
        c.reply(2);
        const smtp::Reply ehlo = c.command(std::string("EHLO ") + helo_name + "\r\n", 2);
        bool starttls = false;
        for (const std::string& line : ehlo.lines)
            starttls = starttls || line == "STARTTLS";
        if (!starttls) throw std::runtime_error("STARTTLS not offered");
        c.command("STARTTLS\r\n", 2);
        c.start_tls(ctx.get(), mx_name);
        c.command(std::string("EHLO ") + helo_name + "\r\n", 2);
        c.command(std::string("MAIL FROM:<") + sender + ">\r\n", 2);
        c.command(std::string("RCPT TO:<") + recipient + ">\r\n", 2);
        c.command("DATA\r\n", 3);
        c.command(wire, 2);
        c.command("QUIT\r\n", 2);
        c.shutdown();
    }
};

// ---------------------------------------------------------------- main

double cpu_ms(const rusage& usage, bool user) {
    const timeval& t = user ? usage.ru_utime : usage.ru_stime;
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
}

template <typename Client>
void run_threads(const Client& client, const Options& options, std::string_view wire, Work& work) {
    auto worker = [&] {
        while (work.take()) {
            try {
                client.deliver(wire);
            } catch (const std::exception& e) {
                work.fail(e.what());
            }
        }
    };
    std::vector<std::thread> threads;
    for (long i = 1; i < options.concurrency; ++i)
        threads.emplace_back(worker);
    worker();
    for (std::thread& t : threads)
        t.join();
}

void line(const std::string& label, const std::string& value) {
    std::printf("%-44s %s\n", label.c_str(), value.c_str());
}

std::string fmt(const char* format, double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, format, value);
    return buffer;
}

int usage(const char* why) {
    std::fprintf(stderr,
                 "delivery-loop: %s\n"
                 "usage: delivery-loop --mode module|openssl --next-hop HOST:PORT --count N\n"
                 "                     [--concurrency C] [--ca FILE] [--config FILE]\n"
                 "                     [--module PATH] [--mx-name NAME]\n",
                 why);
    return 64;
}

int run(int argc, char** argv) {
    Options o;
    std::string next_hop;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view arg = argv[i];
        const std::string value = argv[i + 1];
        if (arg == "--mode")
            o.mode = value;
        else if (arg == "--next-hop")
            next_hop = value;
        else if (arg == "--count")
            o.count = std::stol(value);
        else if (arg == "--concurrency")
            o.concurrency = std::stol(value);
        else if (arg == "--ca")
            o.ca = value;
        else if (arg == "--config")
            o.config = value;
        else if (arg == "--module")
            o.module = value;
        else if (arg == "--mx-name")
            o.mx_name = value;
        else
            return usage(("unknown option " + std::string(arg)).c_str());
    }
    if (argc % 2 == 0) return usage("every option takes a value");
    std::string error;
    const auto hop = host::parse_host_port(next_hop, 25, error);
    if (!hop) return usage(("--next-hop: " + error).c_str());
    o.host = hop->host;
    o.port = hop->port;
    if (o.count < 1 || o.concurrency < 1) return usage("--count and --concurrency must be >= 1");
    const bool usable =
        (o.mode == "module" && !o.config.empty()) || (o.mode == "openssl" && !o.ca.empty());
    if (!usable) return usage("--mode module needs --config, --mode openssl needs --ca");

    const std::string wire = host::to_wire(message_text());
    Work work(o.count);
    // Set up (module load, config load, SSL_CTX) before the clock starts:
    // an MTA does that once, not per delivery.
    const auto module = o.mode == "module" ? std::optional(ModuleClient::open(o)) : std::nullopt;
    const auto openssl = o.mode == "openssl" ? std::optional(OpensslClient::open(o)) : std::nullopt;

    rusage before{};
    rusage after{};
    ::getrusage(RUSAGE_SELF, &before);
    const auto start = Clock::now();
    if (module) run_threads(*module, o, wire, work);
    if (openssl) run_threads(*openssl, o, wire, work);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ::getrusage(RUSAGE_SELF, &after);

    const auto n = static_cast<double>(o.count);
    const double user_ms = (cpu_ms(after, true) - cpu_ms(before, true)) / n;
    const double sys_ms = (cpu_ms(after, false) - cpu_ms(before, false)) / n;
    line("mode", o.mode + (o.mode == "module" ? " (shim/host engine + mtatls.so)" : " (raw)"));
    line("deliveries (failed), concurrency", std::to_string(o.count) + " (" +
                                                 std::to_string(work.failed()) + "), " +
                                                 std::to_string(o.concurrency));
    line("message size on the wire", std::to_string(wire.size()) + " bytes");
    line("wall time", fmt("%.3f s", seconds));
    line("deliveries/s", fmt("%.1f", n / seconds));
    line("process CPU per delivery (user+sys)", fmt("%.3f ms", user_ms + sys_ms) +
                                                    fmt(" (user %.3f", user_ms) +
                                                    fmt(", sys %.3f)", sys_ms));
    // One line for bench/delivery.py.
    std::printf("result mode=%s count=%ld failed=%ld seconds=%.6f user_ms=%.6f sys_ms=%.6f\n",
                o.mode.c_str(), o.count, work.failed(), seconds, user_ms, sys_ms);
    if (work.failed() > 0) {
        std::fprintf(stderr, "delivery-loop: %ld of %ld deliveries failed; first: %s\n",
                     work.failed(), o.count, work.first_error().c_str());
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    // A sink that closes early must give EPIPE, not kill the benchmark.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "delivery-loop: %s\n", e.what());
        return 1;
    }
}
