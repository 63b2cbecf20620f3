// fuzz_starttls_session.cpp - libFuzzer target for the whole STARTTLS state
// machine: the host's delivery engine (shim/host run_attempt) driving the
// real module (build-fuzz/module/mtatls.so, loaded through the shim loader)
// against a server whose every byte comes from the fuzz input.
//
// run_attempt connects by itself (it has no entry point taking a socket),
// so the "server" is a thread behind a listening socket on 127.0.0.1 in
// this process; nothing leaves the machine.
//
// Input format: chunks separated by "@@\n".  The server sends chunk 0 (the
// banner) at once; before each later data chunk it waits until the client
// has sent something (a command, a ClientHello) or 20 ms have passed (the
// client is waiting for more of a reply), so a whole pre-recorded dialogue
// plays out in turn instead of tripping the no-pipelining rule at once.  A
// chunk may hold anything: several replies, half a reply, TLS records.
// Chunks that are one of these words (a line end after it is allowed)
// steer the server instead:
//   !tls             real TLS handshake (certificate for mx.fuzz.test,
//                    signed by the CA the module trusts); later chunks go
//                    out through TLS
//   !tls12           the same, at most TLS 1.2
//   !tls-wrong-name  real handshake with a certificate for another name
//   !close-notify    send close_notify (TLS only)
//   !key-update      send a TLS 1.3 KeyUpdate asking for one back
//   !reset           close with RST at once
//   !raw<bytes>      write <bytes> to the socket as they are, even inside TLS
// After the last chunk the server half-closes (without close_notify) and
// reads until the client closes.
//
// The policy is fixed: tls required, tls_verify host, tls_ca = a CA made
// once per process.  Properties checked on every run (any break aborts):
// - nothing after "STARTTLS\r\n" goes out in clear but a TLS record, and
//   MAIL FROM never goes out in clear (tls required);
// - a message counts as sent only after a real handshake with the right
//   certificate, and only if the server got MAIL FROM inside TLS;
// - the outcome, reply code and enhanced code agree (no permanent dsn on
//   a deferral);
// - the attempt ends within its deadline (plus slack), leaks no fd, and its
//   log lines carry no control byte, whatever the server said.
#include "fuzz_check.h"
#include "fuzz_scratch.h"

#include "attempt_log.h"
#include "hooks.h"
#include "message.h"
#include "module_loader.h"
#include "session.h"
#include "smtp/reply.h"
#include "tls/openssl_ptr.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef MTATLS_FUZZ_MODULE_PATH
#define MTATLS_FUZZ_MODULE_PATH "module/mtatls.so"
#endif

using mtatls::fuzz::check;
using mtatls::fuzz::fail;
using namespace mtatls;
using namespace std::chrono_literals;

namespace {

using tls::BioPtr;
using tls::EvpPkeyPtr;
using tls::SslCtxPtr;
using tls::SslPtr;
using tls::X509Ptr;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, tls::OpenSslDeleter<X509_EXTENSION_free>>;

constexpr std::string_view separator = "@@\n";
// Bounds the 20 ms waits a chunk can cost, so no input runs for long.
constexpr std::size_t max_chunks = 64;
constexpr char mx_name[] = "mx.fuzz.test";
constexpr char sender[] = "sender@fuzz.test";
const std::chrono::milliseconds turn_wait{20};
// Server-side limit on any blocking read or write, so that a client that
// stopped talking cannot park the server thread (the client's own limits
// are the ones under test).
constexpr int server_io_seconds = 1;

void add_extension(X509* cert, X509V3_CTX& ctx, int nid, const char* value) {
    ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail("cannot add a certificate extension");
}

// A certificate for `key`; self-signed (a CA) when `issuer` is null,
// otherwise a server certificate for DNS name `dns`.
X509Ptr make_certificate(EVP_PKEY* key, const char* common_name, const char* dns, X509* issuer,
                         EVP_PKEY* issuer_key) {
    static long serial = 1;
    X509Ptr cert(X509_new());
    if (!cert) fail("X509_new");
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    add_extension(cert.get(), ctx, NID_subject_key_identifier, "hash");
    if (issuer == nullptr) {
        add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert.get(), ctx, NID_authority_key_identifier, "keyid:always");
        add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), ctx, NID_key_usage, "critical,digitalSignature");
        add_extension(cert.get(), ctx, NID_ext_key_usage, "serverAuth");
        add_extension(cert.get(), ctx, NID_subject_alt_name, (std::string("DNS:") + dns).c_str());
    }
    if (X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) fail("X509_sign");
    return cert;
}

SslCtxPtr server_context(X509* cert, EVP_PKEY* key) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx || SSL_CTX_use_certificate(ctx.get(), cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key) != 1)
        fail("cannot set up the server's SSL_CTX");
    // No tickets and no cache: a session resumed from an earlier run
    // would make runs depend on each other and findings unreproducible.
    SSL_CTX_set_num_tickets(ctx.get(), 0);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    return ctx;
}

// Everything set up once per process.
struct World {
    std::unique_ptr<host::Module> module;
    host::ConnectionHooks hooks;
    host::AttemptParams params;
    std::string wire;
    SslCtxPtr good;
    SslCtxPtr wrong_name;
    int listener = -1;
    uint16_t port = 0;
};

World* world = nullptr;

void set_up_world() {
    auto* w = new World(); // lives as long as the process: the module stays loaded
    EvpPkeyPtr ca_key(EVP_EC_gen("P-256"));
    EvpPkeyPtr server_key(EVP_EC_gen("P-256"));
    if (!ca_key || !server_key) fail("cannot generate keys");
    const X509Ptr ca =
        make_certificate(ca_key.get(), "mtatls fuzz CA", nullptr, nullptr, ca_key.get());
    const X509Ptr good =
        make_certificate(server_key.get(), mx_name, mx_name, ca.get(), ca_key.get());
    const X509Ptr wrong = make_certificate(server_key.get(), "other.fuzz.test", "other.fuzz.test",
                                           ca.get(), ca_key.get());

    const std::string ca_path = fuzz::scratch_dir() + "/ca.pem";
    {
        BioPtr out(BIO_new_file(ca_path.c_str(), "w"));
        if (!out || PEM_write_bio_X509(out.get(), ca.get()) != 1) fail("cannot write ca.pem");
    }
    const std::string config_path = fuzz::write_scratch_file(
        "mtatls.yaml", "tls: required\ntls_verify: host\ntls_ca: \"" + ca_path + "\"\n");

    const char* env = std::getenv("MTATLS_FUZZ_MODULE");
    const std::string module_path = env != nullptr ? env : MTATLS_FUZZ_MODULE_PATH;
    std::string error;
    w->module = host::Module::load(module_path, error, [](int, const char*) {});
    if (!w->module) fail("cannot load the module", module_path + ": " + error);
    std::string diagnostics;
    const int status = w->module->config_load(config_path, [&](const mtatls_diagnostic& d) {
        diagnostics += std::string(d.message) + "\n";
    });
    if (status != MTATLS_STATUS_OK) fail("the module refused the fuzz configuration", diagnostics);
    w->hooks = host::ConnectionHooks::from_module(*w->module);
    if (!w->hooks.missing().empty()) fail("module hooks missing", w->hooks.missing());

    w->good = server_context(good.get(), server_key.get());
    w->wrong_name = server_context(wrong.get(), server_key.get());

    w->listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (w->listener < 0 ||
        ::bind(w->listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(w->listener, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::listen(w->listener, 16) != 0)
        fail("cannot listen on 127.0.0.1");
    w->port = ntohs(address.sin_port);

    host::AttemptParams& p = w->params;
    p.host = "127.0.0.1";
    p.port = w->port;
    p.mx_name = mx_name;
    p.helo = "client.fuzz.test";
    p.domain = "fuzz.test";
    p.sender = sender;
    p.recipients = {"a@fuzz.test", "b@fuzz.test"};
    // Short limits: a stalled dialogue costs one second, not five minutes.
    p.timeouts.connect = 1s;
    p.timeouts.reply = 1s;
    p.timeouts.handshake = 1s;
    p.timeouts.data_end = 1s;
    p.timeouts.quit = 250ms;
    p.timeouts.attempt = 3s;
    if (w->module->macro_list(0, p.macro_names) != MTATLS_STATUS_OK)
        p.macro_names.assign(std::begin(host::tls_fact_names), std::end(host::tls_fact_names));
    w->wire = host::to_wire("Subject: fuzz\n\nhello\n.dot\n");
    world = w;
}

// ---- the scripted server ----------------------------------------------------

struct ServerLog {
    std::string plain;           // every byte read outside TLS
    std::string tls;             // every byte read inside TLS
    bool handshake_ok = false;   // a real handshake completed
    bool wrong_name = false;     // ... with the certificate for another name
    std::string handshake_error; // for the failure message
};

std::vector<std::string_view> split(std::string_view input) {
    std::vector<std::string_view> chunks;
    while (chunks.size() + 1 < max_chunks) {
        const std::size_t at = input.find(separator);
        if (at == std::string_view::npos) break;
        chunks.push_back(input.substr(0, at));
        input.remove_prefix(at + separator.size());
    }
    chunks.push_back(input);
    return chunks;
}

class Server {
  public:
    Server(int fd, ServerLog& log) : fd_(fd), log_(log) {}
    ~Server() {
        ssl_.reset();
        if (fd_ >= 0) ::close(fd_);
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void run(const std::vector<std::string_view>& chunks) {
        const timeval limit{server_io_seconds, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            const std::string_view chunk = chunks[i];
            if (chunk.starts_with('!')) {
                const Step step = command(chunk);
                if (step == Step::next) continue;
                if (step == Step::stop) break;
                if (step == Step::reset) return;
            }
            if (i > 0 && !await_client()) break;
            if (!write(chunk)) break;
        }
        ::shutdown(fd_, SHUT_WR);
        drain();
    }

  private:
    enum class Step { data, next, stop, reset };

    Step command(std::string_view chunk) {
        if (chunk.starts_with("!raw")) {
            const std::string_view bytes = chunk.substr(4);
            return send_all(bytes) ? Step::next : Step::stop;
        }
        // A word may stand on a line of its own (seed files read better).
        if (chunk.ends_with('\n')) chunk.remove_suffix(1);
        if (chunk.ends_with('\r')) chunk.remove_suffix(1);
        if (chunk == "!tls") return handshake(world->good.get(), 0, false);
        if (chunk == "!tls12") return handshake(world->good.get(), TLS1_2_VERSION, false);
        if (chunk == "!tls-wrong-name") return handshake(world->wrong_name.get(), 0, true);
        if (chunk == "!close-notify") {
            if (ssl_) SSL_shutdown(ssl_.get());
            return Step::next;
        }
        if (chunk == "!key-update") {
            if (ssl_ && SSL_version(ssl_.get()) == TLS1_3_VERSION &&
                SSL_key_update(ssl_.get(), SSL_KEY_UPDATE_REQUESTED) == 1)
                SSL_do_handshake(ssl_.get());
            return Step::next;
        }
        if (chunk == "!reset") {
            const linger hard{1, 0};
            ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
            return Step::reset;
        }
        return Step::data; // an ordinary chunk that happens to start with '!'
    }

    Step handshake(SSL_CTX* ctx, int max_version, bool wrong_name) {
        if (ssl_) return Step::next; // one handshake per connection
        ssl_.reset(SSL_new(ctx));
        if (!ssl_) return Step::stop;
        if (max_version != 0) SSL_set_max_proto_version(ssl_.get(), max_version);
        SSL_set_fd(ssl_.get(), fd_);
        if (SSL_accept(ssl_.get()) != 1) {
            log_.handshake_error = "server handshake failed";
            return Step::stop;
        }
        log_.handshake_ok = true;
        log_.wrong_name = wrong_name;
        return Step::next;
    }

    bool send_all(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    bool write(std::string_view bytes) {
        if (!ssl_) return send_all(bytes);
        if (bytes.empty()) return true;
        return SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size())) > 0;
    }

    // Reads what is there (one read, then whatever else is ready at once).
    // False when the client closed or failed.
    bool read_available(int wait_ms) {
        bool any = false;
        for (;;) {
            if (!ssl_ || SSL_pending(ssl_.get()) == 0) {
                pollfd p{fd_, POLLIN, 0};
                const int ready = ::poll(&p, 1, any ? 0 : wait_ms);
                if (ready <= 0) return true;
            }
            char buffer[4096];
            if (ssl_) {
                const int n = SSL_read(ssl_.get(), buffer, sizeof buffer);
                if (n <= 0) return false;
                log_.tls.append(buffer, static_cast<std::size_t>(n));
            } else {
                const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
                if (n <= 0) return false;
                log_.plain.append(buffer, static_cast<std::size_t>(n));
            }
            any = true;
        }
    }

    bool await_client() { return read_available(static_cast<int>(turn_wait.count())); }

    void drain() {
        const auto end = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < end)
            if (!read_available(100)) return;
    }

    int fd_;
    ServerLog& log_;
    SslPtr ssl_;
};

void serve(const std::vector<std::string_view>& chunks, ServerLog& log) {
    pollfd p{world->listener, POLLIN, 0};
    if (::poll(&p, 1, 3000) != 1) return;
    const int fd = ::accept4(world->listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    Server(fd, log).run(chunks);
}

// ---- the properties ---------------------------------------------------------

std::size_t open_fds() {
    std::size_t count = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (::readdir(dir) != nullptr)
            ++count;
        ::closedir(dir);
    }
    return count;
}

// Position after the first "STARTTLS\r\n" sent as a command, or npos.
std::size_t after_starttls(const std::string& plain) {
    constexpr std::string_view command = "STARTTLS\r\n";
    for (std::size_t at = plain.find(command); at != std::string::npos;
         at = plain.find(command, at + 1))
        if (at == 0 || plain[at - 1] == '\n') return at + command.size();
    return std::string::npos;
}

bool has_command(const std::string& text, std::string_view command) {
    for (std::size_t at = text.find(command); at != std::string::npos;
         at = text.find(command, at + 1))
        if (at == 0 || text[at - 1] == '\n') return true;
    return false;
}

void check_log_line(const std::string& line, const std::string& context) {
    for (const char c : line) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7f) fail("a log line carries a control byte", line + "\n" + context);
    }
}

void check_result(const host::AttemptResult& result, const ServerLog& log) {
    const std::string context = "reason: " + result.reason;
    // Nothing in clear after STARTTLS but a ClientHello.
    const std::size_t tls_start = after_starttls(log.plain);
    if (tls_start != std::string::npos && tls_start < log.plain.size())
        check(log.plain[tls_start] == '\x16', "plaintext after STARTTLS that is not a TLS record",
              context);
    check(!has_command(log.plain, "MAIL FROM:"), "MAIL FROM sent in clear under tls required",
          context);
    check(!has_command(log.plain, "RCPT TO:"), "RCPT TO sent in clear under tls required", context);

    const int klass = smtp::reply_class(result.code);
    const char dsn_class = result.dsn.empty() ? '?' : result.dsn.front();
    switch (result.outcome) {
    case host::Outcome::sent:
        check(log.handshake_ok, "message reported sent without a TLS handshake", context);
        check(!log.wrong_name, "message sent to a server whose certificate names another host",
              context);
        check(has_command(log.tls, "MAIL FROM:<" + std::string(sender) + ">"),
              "message reported sent but the server never got MAIL FROM inside TLS", context);
        check(has_command(log.tls, "DATA\r\n"),
              "message reported sent but the server never got DATA inside TLS", context);
        check(klass == 2 && dsn_class == '2', "sent with a non-2xx code or dsn",
              std::to_string(result.code) + " " + result.dsn);
        break;
    case host::Outcome::deferred:
        check((klass == 4 || klass == 5) && dsn_class == '4',
              "deferred without a 4xx/5xx code and a 4.x.x dsn",
              std::to_string(result.code) + " " + result.dsn + " " + context);
        break;
    case host::Outcome::bounced:
        check(klass == 5 && dsn_class == '5', "bounced without a 5xx code and a 5.x.x dsn",
              std::to_string(result.code) + " " + result.dsn + " " + context);
        break;
    }

    check_log_line(host::format_attempt_line("mtatls-fuzz", result, false), context);
    for (const std::string& line : host::format_recipient_lines("mtatls-fuzz", result))
        check_log_line(line, context);
    check_log_line(host::format_json_line("mtatls-fuzz", result, false), context);
    if (const auto summary = host::format_summary_line("mtatls-fuzz", result))
        check_log_line(*summary, context);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Like mtatls-send: a write to a closed socket must be an error, not a
    // signal (the module's TLS writes go through OpenSSL's socket BIO).
    std::signal(SIGPIPE, SIG_IGN);
    set_up_world();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::vector<std::string_view> chunks =
        split(std::string_view(reinterpret_cast<const char*>(data), size));
    const std::size_t fds_before = open_fds();
    ServerLog log;
    const auto started = std::chrono::steady_clock::now();
    std::thread server([&] { serve(chunks, log); });
    const host::AttemptResult result = host::run_attempt(world->hooks, world->params, world->wire);
    const auto attempt_took = std::chrono::steady_clock::now() - started;
    server.join();

    // The deadline is 3 s; 2 s of slack covers a loaded sanitizer build.
    check(attempt_took < world->params.timeouts.attempt + 2s, "the attempt overran its deadline",
          std::to_string(std::chrono::duration<double>(attempt_took).count()) + " s");
    check(open_fds() == fds_before, "file descriptors leaked by the attempt");
    check_result(result, log);
    // For writing seeds and reading findings: what happened, on stderr.
    static const bool verbose = std::getenv("MTATLS_FUZZ_VERBOSE") != nullptr;
    if (verbose)
        std::fprintf(stderr, "%s\nserver: handshake=%s plain=%zu tls=%zu bytes\n",
                     host::format_attempt_line("mtatls-fuzz", result, false).c_str(),
                     log.handshake_ok ? "yes" : "no", log.plain.size(), log.tls.size());
    return 0;
}
