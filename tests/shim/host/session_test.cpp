// session_test.cpp - the SMTP client state machine against a scripted
// loopback server and a fake module.
//
// The fake module's "TLS" is the identity (TLS_READ/TLS_WRITE are recv and
// send), so these tests see on the wire exactly what the session sends and
// check the rules that do not depend on real TLS: what goes to
// STARTTLS_BEGIN, that nothing is sent after STARTTLS unless the module
// continues, EHLO again after the handshake, 421, lost connections,
// deadlines, CONN_END and the socket closed on every path.
#include "attempt_log.h"
#include "message.h"
#include "session.h"

#include "loopback_socket.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace mtatls::host;
using namespace std::chrono_literals;

namespace {

// ---- a scripted SMTP server ------------------------------------------------

// One step: read one command line starting with `expect` (or the message
// body up to the final dot for "<body>"; nothing for ""), then send
// `reply`.  "<close>" as reply closes the connection; "<sleep>" waits
// `sleep` first.
struct Step {
    std::string expect;
    std::string reply;
    std::chrono::milliseconds sleep{0};
    // Send the reply one byte at a time, `drip` apart.
    std::chrono::milliseconds drip{0};
};
using Script = std::vector<Step>;

class ScriptServer {
  public:
    // Serves one connection per script, in order.
    explicit ScriptServer(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
        listener_ = mtatls::test::bind_loopback(SOCK_STREAM);
        REQUIRE(::listen(listener_.fd.get(), 4) == 0);
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptServer() { join(); }
    ScriptServer(const ScriptServer&) = delete;
    ScriptServer& operator=(const ScriptServer&) = delete;

    [[nodiscard]] uint16_t port() const { return listener_.port; }
    // Waits for the server to finish; afterwards its fds are closed.
    void join() {
        if (thread_.joinable()) thread_.join();
        listener_.fd.reset();
    }
    // Everything the client sent, one entry per line (the body as one).
    std::vector<std::string> received() {
        std::lock_guard lock(mutex_);
        return received_;
    }
    std::vector<std::string> mismatches() {
        std::lock_guard lock(mutex_);
        return mismatches_;
    }

  private:
    void record(std::string line) {
        std::lock_guard lock(mutex_);
        received_.push_back(std::move(line));
    }
    // Reads up to and including `terminator`; false on EOF or timeout.
    static bool read_until(int fd, std::string& buffer, const std::string& terminator,
                           std::string& out) {
        for (;;) {
            if (const auto end = buffer.find(terminator); end != std::string::npos) {
                out = buffer.substr(0, end);
                buffer.erase(0, end + terminator.size());
                return true;
            }
            char chunk[4096];
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }
    void serve() {
        for (const Script& script : scripts_) {
            const int fd = ::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            timeval limit{5, 0}; // never hang a test run
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
            std::string buffer;
            bool open = true;
            for (const Step& step : script) {
                if (!step.expect.empty()) {
                    std::string line;
                    const bool body = step.expect == "<body>";
                    if (!read_until(fd, buffer, body ? "\r\n.\r\n" : "\r\n", line)) {
                        std::lock_guard lock(mutex_);
                        mismatches_.push_back("connection ended; expected " + step.expect);
                        open = false;
                        break;
                    }
                    if (body) line = std::string("<body>").append(line).append("\r\n.\r\n");
                    if (!line.starts_with(step.expect)) {
                        std::lock_guard lock(mutex_);
                        mismatches_.push_back("got \"" + line + "\", want \"" + step.expect + "\"");
                    }
                    record(line);
                }
                if (step.sleep.count() > 0) std::this_thread::sleep_for(step.sleep);
                if (step.reply == "<close>") {
                    open = false;
                    break;
                }
                if (step.drip.count() > 0) {
                    for (const char c : step.reply) {
                        if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
                        std::this_thread::sleep_for(step.drip);
                    }
                } else if (!step.reply.empty()) {
                    ::send(fd, step.reply.data(), step.reply.size(), MSG_NOSIGNAL);
                }
            }
            // Record whatever else the client says until it closes.
            std::string line;
            while (open && read_until(fd, buffer, "\r\n", line)) {
                record(line);
                if (line == "QUIT") ::send(fd, "221 bye\r\n", 9, MSG_NOSIGNAL);
            }
            ::close(fd);
        }
    }

    std::vector<Script> scripts_;
    mtatls::test::BoundSocket listener_;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::string> received_;
    std::vector<std::string> mismatches_;
};

// ---- a fake module -----------------------------------------------------------

struct FakeModule {
    // Behaviour.
    bool want_tls = true;   // STARTTLS when the EHLO reply advertises it
    bool allow_helo = true; // a refused EHLO may be followed by HELO
    int setup_verdict = MTATLS_VERDICT_CONTINUE;
    int begin_verdict = MTATLS_VERDICT_CONTINUE;
    bool begin_retry = false;
    int finish_verdict = MTATLS_VERDICT_CONTINUE;
    bool stall_handshake = false;        // STEP wants to read forever
    bool continue_after_timeout = false; // a FINISH that wrongly says CONTINUE
    // What happened.
    int setups = 0;
    int conns = 0; // setups that returned a connection
    int ends = 0;
    int finishes = 0;
    std::vector<uint32_t> flags;
    std::vector<std::string> ehlo_replies;
    std::string begin_bytes;
    int fd = -1;
    bool tls = false;
    bool plaintext_retry = false;
    std::string peer_address;
    std::string mx_host;
    std::string domain;
    std::vector<std::string> lookups; // MACRO_LOOKUP names, in order
    bool lookup_after_end = false;    // a lookup on a connection already ended
};

FakeModule* fake(void* closure) { return static_cast<FakeModule*>(closure); }

void set_reply(mtatls_reply* reply, int code, const char* enhanced, const char* text) {
    reply->smtp_code = code;
    std::snprintf(reply->enhanced, sizeof reply->enhanced, "%s", enhanced);
    std::snprintf(reply->text, sizeof reply->text, "%s", text);
}

int fake_setup(void* closure, const mtatls_conn_params* params, mtatls_conn** conn,
               mtatls_reply* reply) {
    FakeModule* m = fake(closure);
    ++m->setups;
    m->flags.push_back(params->flags);
    m->peer_address = params->peer_address;
    m->mx_host = params->mx_host;
    m->domain = params->policy.domain;
    m->tls = false;
    m->plaintext_retry = (params->flags & MTATLS_CONN_PLAINTEXT_RETRY) != 0;
    if (m->setup_verdict != MTATLS_VERDICT_CONTINUE) {
        set_reply(reply, 451, "4.3.5", "[internal] mtatls: no configuration loaded");
        *conn = nullptr;
        return m->setup_verdict;
    }
    *conn = reinterpret_cast<mtatls_conn*>(m);
    ++m->conns;
    return MTATLS_VERDICT_CONTINUE;
}

int fake_ehlo(void* closure, mtatls_conn*, const char* bytes, size_t length,
              mtatls_ehlo_result* result, mtatls_reply* reply) {
    FakeModule* m = fake(closure);
    const std::string text(bytes, length);
    m->ehlo_replies.push_back(text);
    result->next = MTATLS_NEXT_PLAINTEXT;
    if (text[0] == '5') {
        if (m->allow_helo) return MTATLS_VERDICT_CONTINUE;
        set_reply(reply, 451, "4.7.6", "[internal] STARTTLS required but not advertised");
        return MTATLS_VERDICT_TEMPFAIL;
    }
    result->starttls_advertised = text.find("STARTTLS") != std::string::npos;
    if (!m->tls && !m->plaintext_retry && m->want_tls && result->starttls_advertised)
        result->next = MTATLS_NEXT_STARTTLS;
    return MTATLS_VERDICT_CONTINUE;
}

int fake_begin(void* closure, mtatls_conn*, int fd, const char* bytes, size_t length,
               mtatls_reply* reply, int* retry) {
    FakeModule* m = fake(closure);
    m->begin_bytes.assign(bytes, length);
    m->fd = fd;
    *retry = m->begin_retry ? 1 : 0;
    if (m->begin_verdict != MTATLS_VERDICT_CONTINUE)
        set_reply(reply, 451, "4.7.5", "[internal] no tls go-ahead");
    return m->begin_verdict;
}

int fake_step(void* closure, mtatls_conn*) {
    return fake(closure)->stall_handshake ? MTATLS_STEP_WANT_READ : MTATLS_STEP_DONE;
}

int fake_finish(void* closure, mtatls_conn*, mtatls_reply* reply, int* retry) {
    FakeModule* m = fake(closure);
    ++m->finishes;
    *retry = 0;
    if (m->stall_handshake && !m->continue_after_timeout) {
        // What the module answers when the host's handshake deadline passed.
        *retry = m->begin_retry ? 1 : 0;
        set_reply(reply, 451, "4.7.5", "[internal] TLS negotiation failed (handshake timed out)");
        return MTATLS_VERDICT_TEMPFAIL;
    }
    if (m->finish_verdict != MTATLS_VERDICT_CONTINUE) {
        set_reply(reply, 451, "4.7.5", "[internal] SSL cert must be signed by a valid CA");
        return m->finish_verdict;
    }
    m->tls = true;
    return MTATLS_VERDICT_CONTINUE;
}

int fake_read(void* closure, mtatls_conn*, void* buffer, size_t size, size_t* done) {
    const ssize_t n = ::recv(fake(closure)->fd, buffer, size, MSG_DONTWAIT);
    if (n > 0) {
        *done = static_cast<size_t>(n);
        return MTATLS_IO_OK;
    }
    if (n == 0) return MTATLS_IO_ERROR; // no close_notify: a truncation
    return errno == EAGAIN ? MTATLS_IO_WANT_READ : MTATLS_IO_ERROR;
}

int fake_write(void* closure, mtatls_conn*, const void* buffer, size_t size, size_t* done) {
    const ssize_t n = ::send(fake(closure)->fd, buffer, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
        *done = static_cast<size_t>(n);
        return MTATLS_IO_OK;
    }
    return n < 0 && errno == EAGAIN ? MTATLS_IO_WANT_WRITE : MTATLS_IO_ERROR;
}

int fake_shutdown(void*, mtatls_conn*) { return MTATLS_IO_OK; }

int fake_macro(void* closure, mtatls_conn*, const char* name, char* buffer, size_t size,
               size_t* length) {
    FakeModule* m = fake(closure);
    m->lookups.emplace_back(name);
    if (m->ends >= m->conns) m->lookup_after_end = true;
    std::string value;
    if (std::strcmp(name, "mtatls:hostile") == 0)
        value = "a\r\nb";
    else if (std::strcmp(name, macro_name::used) == 0)
        value = m->tls ? "TLS" : "SMTP";
    else if (std::strcmp(name, macro_name::protocol) == 0 && m->tls)
        value = "TLSv1.3";
    else if (std::strcmp(name, macro_name::subject) == 0 && m->tls)
        value = "CN=" + std::string(300, 's'); // longer than the first buffer
    else
        return MTATLS_STATUS_NOT_FOUND;
    *length = value.size();
    if (size <= value.size()) return MTATLS_STATUS_TOO_SMALL;
    std::memcpy(buffer, value.c_str(), value.size() + 1);
    return MTATLS_STATUS_OK;
}

void fake_end(void* closure, mtatls_conn* conn) {
    FakeModule* m = fake(closure);
    CHECK(conn == reinterpret_cast<mtatls_conn*>(m));
    ++m->ends;
}

ConnectionHooks hooks_for(FakeModule& m) {
    ConnectionHooks h;
    h.conn_setup = {&fake_setup, &m};
    h.ehlo = {&fake_ehlo, &m};
    h.starttls_begin = {&fake_begin, &m};
    h.starttls_step = {&fake_step, &m};
    h.starttls_finish = {&fake_finish, &m};
    h.tls_read = {&fake_read, &m};
    h.tls_write = {&fake_write, &m};
    h.tls_shutdown = {&fake_shutdown, &m};
    h.macro_lookup = {&fake_macro, &m};
    h.conn_end = {&fake_end, &m};
    return h;
}

// ---- helpers -------------------------------------------------------------------

int open_fds() {
    int count = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    while (const dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(dir);
    return count;
}

AttemptParams params_for(uint16_t port, std::vector<std::string> recipients = {"r@example.test"}) {
    AttemptParams p;
    p.host = "127.0.0.1";
    p.port = port;
    p.mx_name = "mx.example.test";
    p.helo = "client.example";
    p.domain = "example.test";
    p.sender = "s@sender.test";
    p.recipients = std::move(recipients);
    p.timeouts.reply = 3s;
    p.timeouts.handshake = 3s;
    p.timeouts.data_end = 3s;
    p.timeouts.quit = 1s;
    p.timeouts.attempt = 10s;
    return p;
}

const std::string message = "Subject: test\n\n.leading dot\nbody\n";

// Runs one attempt against `scripts`; checks CONN_END, no leaked fd and
// that the server saw what the script expected.
struct Run {
    AttemptResult result;
    std::vector<std::string> received;
};

Run run(FakeModule& module, std::vector<Script> scripts, AttemptParams* custom = nullptr,
        std::size_t attempts = 1) {
    std::signal(SIGPIPE, SIG_IGN);
    const int fds_before = open_fds();
    Run out;
    {
        ScriptServer server(std::move(scripts));
        AttemptParams params = custom != nullptr ? *custom : params_for(server.port());
        params.port = server.port();
        const ConnectionHooks hooks = hooks_for(module);
        for (std::size_t i = 0; i < attempts; ++i) {
            out.result = run_attempt(hooks, params, to_wire(message));
            if (out.result.retry_plaintext) params.conn_flags = MTATLS_CONN_PLAINTEXT_RETRY;
        }
        server.join();
        out.received = server.received();
        for (const std::string& problem : server.mismatches())
            FAIL_CHECK("server: ", problem);
    }
    CHECK_MESSAGE(module.ends == module.conns, "CONN_END ", module.ends, " times for ",
                  module.conns, " connections");
    CHECK_MESSAGE(open_fds() == fds_before, "fds before ", fds_before, ", after ", open_fds());
    INFO(format_attempt_line("attempt", out.result, false));
    return out;
}

bool saw(const std::vector<std::string>& lines, const std::string& prefix) {
    for (const std::string& line : lines)
        if (line.starts_with(prefix)) return true;
    return false;
}

const Step banner{"", "220 mx.example.test ESMTP\r\n"};
const Step ehlo_plain{"EHLO client.example", "250-mx.example.test\r\n250 8BITMIME\r\n"};
const Step ehlo_tls{"EHLO client.example",
                    "250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"};
const Step mail{"MAIL FROM:<s@sender.test>", "250 2.1.0 ok\r\n"};
const Step rcpt{"RCPT TO:<r@example.test>", "250 2.1.5 ok\r\n"};
const Step data{"DATA", "354 go ahead\r\n"};
const Step body{"<body>", "250 2.0.0 Ok: queued as 4XyZ\r\n"};
const Step quit{"QUIT", "221 2.0.0 bye\r\n"};

} // namespace

TEST_CASE("plaintext delivery: the whole dialogue, dot-stuffed body, QUIT") {
    FakeModule m;
    m.want_tls = false;
    const Run r = run(m, {{banner, ehlo_plain, mail, rcpt, data, body, quit}});
    CHECK(r.result.outcome == Outcome::sent);
    CHECK(r.result.code == 250);
    CHECK(r.result.dsn == "2.0.0");
    CHECK(r.result.reason == "Ok: queued as 4XyZ");
    CHECK(r.result.address == "127.0.0.1");
    CHECK(r.result.tls.used == "SMTP");
    CHECK(m.flags == std::vector<uint32_t>{0});
    CHECK(m.peer_address == "127.0.0.1");
    CHECK(m.mx_host == "mx.example.test");
    CHECK(m.domain == "example.test");
    CHECK(m.ehlo_replies.size() == 1);
    CHECK(m.begin_bytes.empty());
    const std::vector<std::string> want = {
        "EHLO client.example",
        "MAIL FROM:<s@sender.test>",
        "RCPT TO:<r@example.test>",
        "DATA",
        "<body>Subject: test\r\n\r\n..leading dot\r\nbody\r\n.\r\n",
        "QUIT"};
    CHECK(r.received == want);
}

TEST_CASE("STARTTLS: reply bytes go to BEGIN, EHLO is sent again over TLS") {
    FakeModule m;
    const Run r = run(m, {{banner,
                           ehlo_tls,
                           {"STARTTLS", "220 2.0.0 go ahead\r\n"},
                           {"EHLO client.example", "250-mx.example.test\r\n250 AUTH PLAIN\r\n"},
                           mail,
                           rcpt,
                           data,
                           body,
                           quit}});
    CHECK(r.result.outcome == Outcome::sent);
    CHECK(m.begin_bytes == "220 2.0.0 go ahead\r\n");
    REQUIRE(m.ehlo_replies.size() == 2);
    CHECK(m.ehlo_replies[1] == "250-mx.example.test\r\n250 AUTH PLAIN\r\n");
    CHECK(m.finishes == 1);
    CHECK(r.result.tls.used == "TLS");
    CHECK(r.result.tls.protocol == "TLSv1.3");
    CHECK(r.result.tls.subject.size() == 303); // fetched again with a bigger buffer
    CHECK(r.received[1] == "STARTTLS");
    CHECK(r.received[2] == "EHLO client.example");
}

TEST_CASE("response injection: every byte after STARTTLS goes to BEGIN, nothing is sent") {
    FakeModule m;
    m.begin_verdict = MTATLS_VERDICT_TEMPFAIL;
    const std::string injected = "220 go ahead\r\n250-fake\r\n250 STARTTLS\r\n";
    const Run r = run(m, {{banner, ehlo_tls, {"STARTTLS", injected}}});
    CHECK(m.begin_bytes == injected);
    CHECK(r.result.outcome == Outcome::deferred);
    CHECK(r.result.code == 451);
    CHECK(r.result.dsn == "4.7.5");
    CHECK_FALSE(r.result.retry_plaintext);
    // Not even a QUIT after STARTTLS.
    CHECK(r.received == std::vector<std::string>{"EHLO client.example", "STARTTLS"});
}

TEST_CASE("a malformed STARTTLS reply is still the module's to judge") {
    FakeModule m;
    m.begin_verdict = MTATLS_VERDICT_TEMPFAIL;
    const Run r = run(m, {{banner, ehlo_tls, {"STARTTLS", "220 go\n"}}});
    CHECK(m.begin_bytes == "220 go\n");
    CHECK(r.result.dsn == "4.7.5");
}

TEST_CASE("opportunistic refusal: retry flag, then a new connection flagged PLAINTEXT_RETRY") {
    const Script refused = {banner, ehlo_tls, {"STARTTLS", "454 4.7.0 TLS not available\r\n"}};
    const Script plain = {banner, ehlo_tls, mail, rcpt, data, body, quit};
    SUBCASE("the session reports the retry and stops") {
        FakeModule m;
        m.begin_verdict = MTATLS_VERDICT_TEMPFAIL;
        m.begin_retry = true;
        const Run r = run(m, {refused});
        CHECK(r.result.retry_plaintext);
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.received == std::vector<std::string>{"EHLO client.example", "STARTTLS"});
    }
    SUBCASE("the retry is a new connection with the flag") {
        FakeModule m;
        m.begin_verdict = MTATLS_VERDICT_TEMPFAIL;
        m.begin_retry = true;
        const Run r = run(m, {refused, plain}, nullptr, 2);
        CHECK(m.setups == 2);
        CHECK(m.flags == std::vector<uint32_t>{0, MTATLS_CONN_PLAINTEXT_RETRY});
        CHECK(r.result.outcome == Outcome::sent);
        CHECK_FALSE(r.result.retry_plaintext);
        CHECK(r.received.back() == "QUIT");
    }
}

TEST_CASE("a failed handshake ends the attempt without a byte more") {
    FakeModule m;
    m.finish_verdict = MTATLS_VERDICT_TEMPFAIL;
    const Run r = run(m, {{banner, ehlo_tls, {"STARTTLS", "220 go\r\n"}}});
    CHECK(r.result.outcome == Outcome::deferred);
    CHECK(r.result.reason == "[internal] SSL cert must be signed by a valid CA");
    CHECK(r.received == std::vector<std::string>{"EHLO client.example", "STARTTLS"});
}

TEST_CASE("a stalled handshake times out; FINISH decides, as for any failed negotiation") {
    SUBCASE("required: a deferral") {
        FakeModule m;
        m.stall_handshake = true;
        AttemptParams p = params_for(0);
        p.timeouts.handshake = 300ms;
        const auto start = std::chrono::steady_clock::now();
        const Run r = run(m, {{banner, ehlo_tls, {"STARTTLS", "220 go\r\n"}}}, &p);
        CHECK(std::chrono::steady_clock::now() - start < 3s);
        CHECK(m.finishes == 1);
        CHECK(r.result.code == 451);
        CHECK(r.result.dsn == "4.7.5");
        CHECK(r.result.reason == "[internal] TLS negotiation failed (handshake timed out)");
        CHECK_FALSE(r.result.retry_plaintext);
        CHECK(r.received == std::vector<std::string>{"EHLO client.example", "STARTTLS"});
    }
    SUBCASE("opportunistic with fallback: the retry flag comes through") {
        FakeModule m;
        m.stall_handshake = true;
        m.begin_retry = true;
        AttemptParams p = params_for(0);
        p.timeouts.handshake = 200ms;
        const Run r = run(m, {{banner, ehlo_tls, {"STARTTLS", "220 go\r\n"}}}, &p);
        CHECK(r.result.retry_plaintext);
    }
    SUBCASE("a CONTINUE after the deadline is still a timeout") {
        FakeModule m;
        m.stall_handshake = true;
        m.continue_after_timeout = true;
        AttemptParams p = params_for(0);
        p.timeouts.handshake = 200ms;
        const Run r = run(m, {{banner, ehlo_tls, {"STARTTLS", "220 go\r\n"}}}, &p);
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.reason == "[internal] TLS negotiation failed (timeout)");
        CHECK(r.received.size() == 2);
    }
}

TEST_CASE("EHLO refused: HELO only when the module allows it") {
    SUBCASE("allowed") {
        FakeModule m;
        const Run r = run(m, {{banner,
                               {"EHLO", "502 5.5.1 no EHLO here\r\n"},
                               {"HELO client.example", "250 hi\r\n"},
                               mail,
                               rcpt,
                               data,
                               body,
                               quit}});
        CHECK(r.result.outcome == Outcome::sent);
        CHECK(m.ehlo_replies == std::vector<std::string>{"502 5.5.1 no EHLO here\r\n"});
    }
    SUBCASE("refused by the module: no HELO, deferred, QUIT") {
        FakeModule m;
        m.allow_helo = false;
        const Run r = run(m, {{banner, {"EHLO", "502 5.5.1 no EHLO here\r\n"}}});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.dsn == "4.7.6");
        CHECK_FALSE(saw(r.received, "HELO"));
        CHECK(saw(r.received, "QUIT"));
    }
    SUBCASE("4xx to EHLO is a deferral without HELO") {
        FakeModule m;
        const Run r = run(m, {{banner, {"EHLO", "450 4.3.2 busy\r\n"}}});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.code == 450);
        CHECK(m.ehlo_replies.empty());
        CHECK_FALSE(saw(r.received, "HELO"));
    }
}

TEST_CASE("421 at any point defers and sends no QUIT") {
    struct Case {
        const char* name;
        Script script;
    };
    const Step bye{"", "421 4.3.2 shutting down\r\n"};
    const Case cases[] = {
        {"greeting", {{"", "421 4.3.2 shutting down\r\n"}}},
        {"EHLO", {banner, {"EHLO", bye.reply}}},
        {"MAIL", {banner, ehlo_plain, {"MAIL", bye.reply}}},
        {"RCPT", {banner, ehlo_plain, mail, {"RCPT", bye.reply}}},
        {"DATA", {banner, ehlo_plain, mail, rcpt, {"DATA", bye.reply}}},
        {"end of DATA", {banner, ehlo_plain, mail, rcpt, data, {"<body>", bye.reply}}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        FakeModule m;
        m.want_tls = false;
        const Run r = run(m, {c.script});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.code == 421);
        CHECK(r.result.dsn == "4.3.2");
        CHECK_FALSE(saw(r.received, "QUIT"));
    }
}

TEST_CASE("lost connection mid-DATA or before the final reply is never 'sent'") {
    SUBCASE("closed after the body, before the reply") {
        FakeModule m;
        m.want_tls = false;
        const Run r = run(m, {{banner, ehlo_plain, mail, rcpt, data, {"<body>", "<close>"}}});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.dsn == "4.4.2");
        CHECK(r.result.reason.find("lost connection") != std::string::npos);
        CHECK(r.result.reason.find("end of DATA") != std::string::npos);
    }
    SUBCASE("closed right after 354 while a big body is sent") {
        FakeModule m;
        m.want_tls = false;
        const Run r =
            run(m, {{banner, ehlo_plain, mail, rcpt, {"DATA", "354 go\r\n"}, {"", "<close>"}}});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.dsn == "4.4.2");
    }
    SUBCASE("over TLS: a truncation is a deferral") {
        FakeModule m;
        const Run r = run(m, {{banner,
                               ehlo_tls,
                               {"STARTTLS", "220 go\r\n"},
                               ehlo_plain,
                               mail,
                               rcpt,
                               data,
                               {"<body>", "<close>"}}});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.reason.find("lost connection") != std::string::npos);
    }
}

TEST_CASE("recipients: worst result wins, per-recipient lines when they differ") {
    SUBCASE("one refused, one accepted: DATA for the accepted one, bounced overall") {
        FakeModule m;
        m.want_tls = false;
        AttemptParams p = params_for(0, {"bad@example.test", "r@example.test"});
        const Run r = run(m,
                          {{banner,
                            ehlo_plain,
                            mail,
                            {"RCPT TO:<bad@example.test>", "550 5.1.1 no such user\r\n"},
                            rcpt,
                            data,
                            body,
                            quit}},
                          &p);
        CHECK(r.result.outcome == Outcome::bounced);
        CHECK(r.result.code == 550);
        CHECK(r.result.dsn == "5.1.1");
        CHECK(r.result.reason == "no such user (in reply to RCPT TO)");
        REQUIRE(r.result.recipients.size() == 2);
        CHECK(r.result.recipients[0].outcome == Outcome::bounced);
        CHECK(r.result.recipients[1].outcome == Outcome::sent);
        CHECK(format_recipient_lines("p", r.result).size() == 2);
    }
    SUBCASE("a 4xx recipient defers the message") {
        FakeModule m;
        m.want_tls = false;
        AttemptParams p = params_for(0, {"r@example.test", "later@example.test", "bad@x.test"});
        const Run r = run(m,
                          {{banner,
                            ehlo_plain,
                            mail,
                            rcpt,
                            {"RCPT TO:<later@example.test>", "450 4.2.1 later\r\n"},
                            {"RCPT TO:<bad@x.test>", "550 5.1.1 no\r\n"},
                            data,
                            body,
                            quit}},
                          &p);
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.code == 450);
    }
    SUBCASE("every recipient refused: no DATA, QUIT") {
        FakeModule m;
        m.want_tls = false;
        const Run r = run(m, {{banner, ehlo_plain, mail, {"RCPT", "550 5.1.1 no\r\n"}, quit}});
        CHECK(r.result.outcome == Outcome::bounced);
        CHECK_FALSE(saw(r.received, "DATA"));
        CHECK(format_recipient_lines("p", r.result).empty());
    }
}

TEST_CASE("MAIL and DATA refusals") {
    struct Case {
        Script script;
        Outcome want;
        int code;
    };
    const Case cases[] = {
        {{banner, ehlo_plain, {"MAIL", "550 5.7.1 go away\r\n"}, quit}, Outcome::bounced, 550},
        {{banner, ehlo_plain, {"MAIL", "452 4.3.1 full\r\n"}, quit}, Outcome::deferred, 452},
        {{banner, ehlo_plain, mail, rcpt, {"DATA", "554 5.3.0 no\r\n"}, quit},
         Outcome::bounced,
         554},
        {{banner, ehlo_plain, mail, rcpt, data, {"<body>", "552 5.3.4 too big\r\n"}, quit},
         Outcome::bounced,
         552},
        {{banner, ehlo_plain, mail, rcpt, data, {"<body>", "451 4.3.0 later\r\n"}, quit},
         Outcome::deferred,
         451},
        {{{"", "554 5.7.1 not you\r\n"}, quit}, Outcome::deferred, 554}, // greeting: defer
    };
    for (const Case& c : cases) {
        FakeModule m;
        m.want_tls = false;
        const Run r = run(m, {c.script});
        CHECK(r.result.outcome == c.want);
        CHECK(r.result.code == c.code);
        CHECK(saw(r.received, "QUIT"));
        if (c.want == Outcome::deferred) CHECK(r.result.dsn[0] == '4');
    }
}

TEST_CASE("protocol errors defer") {
    struct Case {
        Script script;
        const char* reason;
    };
    const Case cases[] = {
        // Two replies where one was asked for: never read as the next reply.
        {{banner, {"EHLO", "250 mx\r\n250 extra\r\n"}}, "unexpected data before MAIL FROM"},
        {{banner, {"EHLO", "250 bare LF\n"}}, "malformed reply to EHLO"},
        {{banner, ehlo_plain, {"MAIL", "354 what\r\n"}}, "unexpected reply 354 to MAIL FROM"},
        {{banner, ehlo_plain, mail, rcpt, {"DATA", "250 ok\r\n"}}, "unexpected reply 250 to DATA"},
        {{{"", "250 not a greeting\r\n"}}, "unexpected reply 250 to the greeting"},
    };
    for (const Case& c : cases) {
        FakeModule m;
        m.want_tls = false;
        const Run r = run(m, {c.script});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.code == 451);
        CHECK_MESSAGE(r.result.reason.find(c.reason) != std::string::npos, r.result.reason);
        CHECK_FALSE(saw(r.received, "QUIT"));
    }
}

TEST_CASE("deadlines: a silent server and a slow drip") {
    SUBCASE("silent greeting: the reply timeout") {
        FakeModule m;
        AttemptParams p = params_for(0);
        p.timeouts.reply = 200ms;
        const Run r = run(m, {{{"", "", 600ms}}}, &p);
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.dsn == "4.4.2");
        CHECK(r.result.reason == "[internal] timed out waiting for the reply to the greeting");
        CHECK(r.result.delay_seconds < 0.6);
    }
    SUBCASE("a drip cannot pass the attempt deadline") {
        FakeModule m;
        AttemptParams p = params_for(0);
        p.timeouts.reply = 10s;
        p.timeouts.attempt = 400ms;
        Step drip{"", "220 slowly but surely, one byte at a time\r\n"};
        drip.drip = 50ms;
        const Run r = run(m, {{drip}}, &p);
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.reason.find("attempt time limit reached") != std::string::npos);
        CHECK(r.result.delay_seconds < 1.5);
    }
}

TEST_CASE("failures before the dialogue") {
    SUBCASE("CONN_SETUP refuses: nothing sent, no CONN_END for a NULL conn") {
        FakeModule m;
        m.setup_verdict = MTATLS_VERDICT_TEMPFAIL;
        const Run r = run(m, {{}});
        CHECK(r.result.outcome == Outcome::deferred);
        CHECK(r.result.dsn == "4.3.5");
        CHECK(m.ends == 0);
        CHECK(r.received.empty());
    }
    SUBCASE("connection refused") {
        // A bound socket that does not listen: its port refuses connections.
        const mtatls::test::BoundSocket closed = mtatls::test::bind_loopback(SOCK_STREAM);
        FakeModule m;
        const int fds_before = open_fds();
        AttemptParams p = params_for(closed.port);
        const AttemptResult r = run_attempt(hooks_for(m), p, to_wire(message));
        CHECK(r.outcome == Outcome::deferred);
        CHECK(r.dsn == "4.4.1");
        CHECK(r.reason.find("Connection refused") != std::string::npos);
        CHECK(r.address == "127.0.0.1");
        CHECK(m.setups == 0);
        CHECK(open_fds() == fds_before);
    }
}

TEST_CASE("macros for the logs: each name once, in the host's order, before CONN_END") {
    FakeModule m;
    AttemptParams p = params_for(0);
    p.macro_names = {"mtatls:hostile", macro_name::protocol, "no:such", macro_name::used};
    const Run r = run(m,
                      {{banner,
                        ehlo_tls,
                        {"STARTTLS", "220 2.0.0 go ahead\r\n"},
                        {"EHLO client.example", "250 mx.example.test\r\n"},
                        mail,
                        rcpt,
                        data,
                        body,
                        quit}},
                      &p);
    CHECK(r.result.outcome == Outcome::sent);
    CHECK_FALSE(m.lookup_after_end);
    const std::vector<MacroValue> want = {{"mtatls:hostile", "a\r\nb"},
                                          {macro_name::protocol, "TLSv1.3"},
                                          {"no:such", ""},
                                          {macro_name::used, "TLS"}};
    CHECK(r.result.macros == want);
    // The TLS facts reuse the values already fetched: each listed name is
    // asked for once (a longer value would be asked for again, bigger).
    for (const std::string& name : p.macro_names)
        CHECK_MESSAGE(std::count(m.lookups.begin(), m.lookups.end(), name) == 1, name);
    CHECK(r.result.tls.used == "TLS");
    CHECK(r.result.tls.protocol == "TLSv1.3");
    CHECK(r.result.sender == "s@sender.test");
    const auto age = std::chrono::system_clock::now() - r.result.time;
    CHECK(age >= 0s);
    CHECK(age < 60s);
}

TEST_CASE("macros without a connection: every name, every value empty") {
    FakeModule m;
    m.setup_verdict = MTATLS_VERDICT_TEMPFAIL;
    AttemptParams p = params_for(0);
    p.macro_names = {macro_name::used, macro_name::achieved};
    const Run r = run(m, {{}}, &p);
    CHECK(m.lookups.empty());
    const std::vector<MacroValue> want = {{macro_name::used, ""}, {macro_name::achieved, ""}};
    CHECK(r.result.macros == want);
    CHECK(r.result.tls.achieved.empty());
}

TEST_CASE("enhanced status codes are taken only when they match the reply class") {
    CHECK(enhanced_code("5.1.1 no such user", 5) == "5.1.1");
    CHECK(enhanced_code("2.0.0", 2) == "2.0.0");
    CHECK(enhanced_code("4.7.123 x", 4) == "4.7.123");
    CHECK(enhanced_code("4.1.1 x", 5).empty());
    CHECK(enhanced_code("5.1 x", 5).empty());
    CHECK(enhanced_code("5.1.1x", 5).empty());
    CHECK(enhanced_code("5.1234.1 x", 5).empty());
    CHECK(enhanced_code("Ok", 2).empty());
    CHECK(enhanced_code("", 2).empty());
}

TEST_CASE("every attempt records the stage it ended in (what failover decides on)") {
    const Step greeting_421{"", "421 4.3.2 busy\r\n"};
    const Step greeting_554{"", "554 5.7.1 go away\r\n"};
    const Step ehlo_451{"EHLO client.example", "451 4.3.0 try later\r\n"};
    const Step ehlo_554{"EHLO client.example", "554 5.5.1 no\r\n"};
    const Step helo_451{"HELO client.example", "451 4.3.0 try later\r\n"};
    const Step starttls_go{"STARTTLS", "220 2.0.0 go ahead\r\n"};
    const Step starttls_454{"STARTTLS", "454 4.7.0 TLS not available\r\n"};
    const Step ehlo_again{"EHLO client.example", "250 mx.example.test\r\n"};
    const Step ehlo_again_451{"EHLO client.example", "451 4.3.0 later\r\n"};
    const Step mail_451{"MAIL FROM:<s@sender.test>", "451 4.7.1 greylisted\r\n"};
    const Step mail_550{"MAIL FROM:<s@sender.test>", "550 5.7.1 no\r\n"};
    const Step rcpt_450{"RCPT TO:<r@example.test>", "450 4.2.0 greylisted\r\n"};
    const Step rcpt_550{"RCPT TO:<r@example.test>", "550 5.1.1 unknown\r\n"};
    const Step data_451{"DATA", "451 4.3.0 later\r\n"};
    const Step body_451{"<body>", "451 4.3.0 queue full\r\n"};
    const Step body_close{"<body>", "<close>"};
    struct Case {
        const char* name;
        Script script;
        Stage stage;
        Outcome outcome;
        bool want_tls = true;
        bool allow_helo = true;
        int finish_verdict = MTATLS_VERDICT_CONTINUE;
        int begin_verdict = MTATLS_VERDICT_CONTINUE;
    };
    const auto D = Outcome::deferred;
    const auto B = Outcome::bounced;
    const Case cases[] = {
        {"4xx banner", {greeting_421}, Stage::greeting, D},
        {"5xx banner (deferred, like Postfix)", {greeting_554, quit}, Stage::greeting, D},
        {"silence and close at the banner", {{"", "<close>"}}, Stage::greeting, D},
        {"4xx to EHLO", {banner, ehlo_451, quit}, Stage::hello, D},
        {"HELO refused after EHLO was", {banner, ehlo_554, helo_451, quit}, Stage::hello, D},
        {"STARTTLS required but EHLO refused: the module says no",
         {banner, ehlo_554},
         Stage::tls,
         D,
         true,
         false},
        {"STARTTLS refused",
         {banner, ehlo_tls, starttls_454},
         Stage::tls,
         D,
         true,
         true,
         MTATLS_VERDICT_CONTINUE,
         MTATLS_VERDICT_TEMPFAIL},
        {"certificate refused after the handshake",
         {banner, ehlo_tls, starttls_go},
         Stage::tls,
         D,
         true,
         true,
         MTATLS_VERDICT_TEMPFAIL},
        {"4xx to EHLO over TLS", {banner, ehlo_tls, starttls_go, ehlo_again_451}, Stage::hello, D},
        {"4xx to MAIL FROM", {banner, ehlo_plain, mail_451, quit}, Stage::transaction, D, false},
        {"5xx to MAIL FROM", {banner, ehlo_plain, mail_550, quit}, Stage::transaction, B, false},
        {"every RCPT deferred",
         {banner, ehlo_plain, mail, rcpt_450, quit},
         Stage::transaction,
         D,
         false},
        {"every RCPT refused",
         {banner, ehlo_plain, mail, rcpt_550, quit},
         Stage::transaction,
         B,
         false},
        {"4xx to DATA",
         {banner, ehlo_plain, mail, rcpt, data_451, quit},
         Stage::transaction,
         D,
         false},
        {"4xx after the final dot",
         {banner, ehlo_plain, mail, rcpt, data, body_451, quit},
         Stage::message,
         D,
         false},
        {"connection lost before the reply to the dot",
         {banner, ehlo_plain, mail, rcpt, data, body_close},
         Stage::message,
         D,
         false},
        {"sent",
         {banner, ehlo_plain, mail, rcpt, data, body, quit},
         Stage::message,
         Outcome::sent,
         false},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        FakeModule m;
        m.want_tls = c.want_tls;
        m.allow_helo = c.allow_helo;
        m.finish_verdict = c.finish_verdict;
        m.begin_verdict = c.begin_verdict;
        const Run r = run(m, {c.script});
        CHECK_MESSAGE(r.result.stage == c.stage, c.name, ": got stage ",
                      static_cast<int>(r.result.stage), ", want ", static_cast<int>(c.stage));
        CHECK_MESSAGE(r.result.outcome == c.outcome, c.name);
    }
    SUBCASE("CONN_SETUP refused: this side") {
        FakeModule m;
        m.setup_verdict = MTATLS_VERDICT_TEMPFAIL;
        CHECK(run(m, {{}}).result.stage == Stage::local);
    }
}

TEST_CASE("resolved addresses are tried in order; the first that accepts is used") {
    FakeModule m;
    m.want_tls = false;
    ScriptServer server({{banner, ehlo_plain, mail, rcpt, data, body, quit}});
    // A bound socket that does not listen: its address (127.0.0.2, the
    // server's port) refuses.
    const mtatls::test::BoundSocket closed =
        mtatls::test::bind_loopback(SOCK_STREAM, INADDR_LOOPBACK + 1, server.port());
    AttemptParams p = params_for(server.port());
    p.host = "mx.example.test"; // not resolved: only named in messages
    p.addresses = {"127.0.0.2", "127.0.0.1"};
    const AttemptResult r = run_attempt(hooks_for(m), p, to_wire(message));
    server.join();
    CHECK(r.outcome == Outcome::sent);
    CHECK(r.address == "127.0.0.1");
    CHECK(m.peer_address == "127.0.0.1");
    CHECK(m.mx_host == "mx.example.test");

    SUBCASE("none accepts: the last error, stage connect") {
        FakeModule refused;
        AttemptParams q = params_for(server.port());
        q.host = "mx.example.test";
        q.addresses = {"127.0.0.2"};
        const AttemptResult none = run_attempt(hooks_for(refused), q, to_wire(message));
        CHECK(none.outcome == Outcome::deferred);
        CHECK(none.stage == Stage::connect);
        CHECK(none.dsn == "4.4.1");
        CHECK(none.reason == "[internal] connect to mx.example.test[127.0.0.2]:" +
                                 std::to_string(server.port()) + ": Connection refused");
    }
}

TEST_CASE("the delivery deadline ends an attempt before its own limit") {
    FakeModule m;
    AttemptParams p = params_for(0);
    p.timeouts.attempt = 10s;
    p.deadline = Deadline::after(300ms);
    const Run r = run(m, {{{"", "", 1500ms}}}, &p);
    CHECK(r.result.outcome == Outcome::deferred);
    CHECK(r.result.reason.find("attempt time limit reached") != std::string::npos);
    CHECK(r.result.delay_seconds < 1.0);
}
