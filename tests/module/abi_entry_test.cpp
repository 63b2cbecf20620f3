// abi_entry_test.cpp - the STARTTLS hooks driven through the real ABI, the
// way a non-blocking host drives them: one thread, a socket pair, the
// module's handshake stepped through WANT_READ/WANT_WRITE while a real
// OpenSSL server on the other end is stepped in turn.
#include "../support/module_harness.h"
#include "tls/openssl_ptr.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

using mtatls::host::Module;
using namespace mtatls::tls;
using mtatls::test::Hooks;

namespace {

std::unique_ptr<Module> load_with(const std::string& yaml) {
    return mtatls::test::load_module_with(yaml);
}

// A real OpenSSL server on one end of the pair, stepped without blocking.
struct Server {
    SslCtxPtr ctx{SSL_CTX_new(TLS_server_method())};
    SslPtr ssl;
    explicit Server(int fd, int max_version = 0) {
        const std::string pki = mtatls::test::pki_dir();
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), (pki + "/server.pem").c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), (pki + "/server.key").c_str(),
                                            SSL_FILETYPE_PEM) == 1);
        if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
        ssl.reset(SSL_new(ctx.get()));
        SSL_set_fd(ssl.get(), fd);
        SSL_set_accept_state(ssl.get());
    }
    void pump() { (void)SSL_do_handshake(ssl.get()); }
};

struct Pair {
    int client = -1;
    int server = -1;
    Pair() {
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        client = fds[0];
        server = fds[1];
        fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);
    }
    ~Pair() {
        close(client);
        close(server);
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
};

struct Attempt {
    const Hooks& hooks;
    mtatls_conn* conn = nullptr;
    mtatls_reply reply{};
    Attempt(const Hooks& h, const char* mx, const char* domain, uint32_t flags = 0) : hooks(h) {
        reply.struct_size = sizeof reply;
        mtatls_conn_params params{};
        params.struct_size = sizeof params;
        params.policy.struct_size = sizeof params.policy;
        params.policy.domain = domain;
        params.mx_host = mx;
        params.peer_address = "127.0.0.1";
        params.peer_port = 25;
        params.flags = flags;
        REQUIRE(hooks.setup(hooks.closure, &params, &conn, &reply) == MTATLS_VERDICT_CONTINUE);
    }
    ~Attempt() { hooks.end(hooks.closure, conn); }
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;

    int ehlo(const std::string& bytes, int& next) {
        mtatls_ehlo_result result{};
        result.struct_size = sizeof result;
        const int verdict =
            hooks.ehlo(hooks.closure, conn, bytes.data(), bytes.size(), &result, &reply);
        next = result.next;
        return verdict;
    }
    int begin(int fd, const std::string& bytes, int& retry) {
        return hooks.begin(hooks.closure, conn, fd, bytes.data(), bytes.size(), &reply, &retry);
    }
    std::string macro(const char* name) {
        char buffer[512];
        size_t length = 0;
        const int status = hooks.macro(hooks.closure, conn, name, buffer, sizeof buffer, &length);
        return status == MTATLS_STATUS_OK ? std::string(buffer, length)
                                          : "<" + std::to_string(status) + ">";
    }
    // Steps the handshake to its end; counts the waits the module asked for.
    int handshake(Server& server, int& waits) {
        waits = 0;
        for (int round = 0; round < 1000; ++round) {
            const int step = hooks.step(hooks.closure, conn);
            if (step == MTATLS_STEP_DONE || step == MTATLS_STEP_FAILED) return step;
            ++waits;
            server.pump();
        }
        FAIL("handshake did not finish");
        return MTATLS_STEP_FAILED;
    }
};

const char* const required_host = R"(tls: required
tls_verify: host
tls_ca: "@PKI@/ca.pem"
)";

} // namespace

TEST_CASE("STARTTLS through the ABI, stepped without blocking, then EHLO and data over TLS") {
    const auto module = load_with(required_host);
    const Hooks hooks(*module);
    Pair pair;
    Attempt attempt(hooks, "mx.example.test", "example.test");
    CHECK(attempt.macro("outbound_tls:outbound_tls") == "unknown");

    int next = -1;
    REQUIRE(attempt.ehlo("250-mx.example.test\r\n250-SIZE 100\r\n250 STARTTLS\r\n", next) ==
            MTATLS_VERDICT_CONTINUE);
    CHECK(next == MTATLS_NEXT_STARTTLS);
    int retry = -1;
    REQUIRE(attempt.begin(pair.client, "220 2.0.0 go ahead\r\n", retry) == MTATLS_VERDICT_CONTINUE);
    CHECK(retry == 0);
    CHECK((fcntl(pair.client, F_GETFL) & O_NONBLOCK) != 0);

    Server server(pair.server);
    int waits = 0;
    REQUIRE(attempt.handshake(server, waits) == MTATLS_STEP_DONE);
    CHECK(waits >= 1); // the module really returned WANT_READ instead of blocking
    REQUIRE(hooks.finish(hooks.closure, attempt.conn, &attempt.reply, &retry) ==
            MTATLS_VERDICT_CONTINUE);
    server.pump(); // let the server finish its side too

    CHECK(attempt.macro("outbound_tls:outbound_tls") == "TLS");
    CHECK(attempt.macro("outbound_tls:outbound_tls_protocol") == "TLSv1.3");
    CHECK(attempt.macro("outbound_tls:outbound_tls_verified") == "verified");
    CHECK(attempt.macro("outbound_tls:outbound_tls_cipher_usebits") == "256");
    CHECK(attempt.macro("outbound_tls:outbound_tls_subject").find("CN=mx.example.test") !=
          std::string::npos);
    CHECK(attempt.macro("mtatls:sni") == "mx.example.test");
    CHECK(attempt.macro("no:such:macro") == "<102>");
    // Session details from the real handshake.
    CHECK(attempt.macro("mtatls:tls") == "required+host:verified");
    CHECK(attempt.macro("{verify}") == "OK");
    CHECK(attempt.macro("mtatls:kx_group") == "X25519");
    CHECK(attempt.macro("mtatls:peer_sig_alg") == "ECDSA+SHA256");
    CHECK(attempt.macro("mtatls:resumed") == "no");
    CHECK(attempt.macro("{cert_fp}").size() == 32 * 3 - 1); // AB:CD:... for 32 bytes
    CHECK(attempt.macro("mtatls:cert_not_after").ends_with("Z"));
    CHECK(attempt.macro("tls_out_cipher") == "TLS1.3:TLS_AES_256_GCM_SHA384:256");

    // EHLO again, over TLS.
    size_t done = 0;
    REQUIRE(hooks.write(hooks.closure, attempt.conn, "EHLO me\r\n", 9, &done) == MTATLS_IO_OK);
    CHECK(done == 9);
    char buffer[256];
    size_t got = 0;
    for (int i = 0; i < 100 && SSL_read_ex(server.ssl.get(), buffer, sizeof buffer, &got) != 1;
         ++i) {
    }
    CHECK(std::string(buffer, got) == "EHLO me\r\n");
    const std::string answer = "250-mx.example.test\r\n250 SIZE 100\r\n";
    REQUIRE(SSL_write_ex(server.ssl.get(), answer.data(), answer.size(), &got) == 1);
    std::string received;
    for (int i = 0; i < 100 && received.size() < answer.size(); ++i) {
        const int io = hooks.read(hooks.closure, attempt.conn, buffer, sizeof buffer, &got);
        if (io == MTATLS_IO_OK) received.append(buffer, got);
    }
    CHECK(received == answer);
    REQUIRE(attempt.ehlo(received, next) == MTATLS_VERDICT_CONTINUE);
    CHECK(next == MTATLS_NEXT_PLAINTEXT); // carry on over the session; no second STARTTLS
    CHECK(hooks.shutdown(hooks.closure, attempt.conn) == MTATLS_IO_OK);
}

TEST_CASE("STARTTLS through the ABI: failures become the reference's temporary replies") {
    struct Case {
        const char* name;
        const char* policy; // YAML
        const char* mx;
        std::string ehlo;
        std::string starttls_reply;
        const char* server_sends_first; // bytes that arrive before the handshake
        int max_version;
        int expected_verdict; // at the first hook that decides
        const char* enhanced;
        const char* text;
        int retry;
    };
    const std::string advertised = "250-mx\r\n250 STARTTLS\r\n";
    const char* const ifavailable = "tls: ifavailable\ntls_verify: no\n";
    const char* const ifavailable_host =
        "tls: ifavailable\ntls_verify: host\ntls_ca: \"@PKI@/ca.pem\"\n";
    const Case cases[] = {
        {"not advertised", required_host, "mx.example.test", "250-mx\r\n250 SIZE 10\r\n", "", "", 0,
         MTATLS_VERDICT_TEMPFAIL, "4.7.6", "STARTTLS required but not advertised", 0},
        {"refused go-ahead", required_host, "mx.example.test", advertised,
         "454 4.7.0 TLS not available\r\n", "", 0, MTATLS_VERDICT_TEMPFAIL, "4.7.5",
         "no tls go-ahead", 0},
        {"refused go-ahead, opportunistic", ifavailable, "mx.example.test", advertised,
         "454 4.7.0 TLS not available\r\n", "", 0, MTATLS_VERDICT_TEMPFAIL, "4.7.5",
         "no tls go-ahead", 1},
        {"bytes after 220 in the same read", required_host, "mx.example.test", advertised,
         "220 go\r\n250 fake\r\n", "", 0, MTATLS_VERDICT_TEMPFAIL, "4.7.5", "bytes after its 220",
         0},
        {"bytes after 220 waiting in the socket", required_host, "mx.example.test", advertised,
         "220 go\r\n", "250-fake\r\n", 0, MTATLS_VERDICT_TEMPFAIL, "4.7.5", "data after its 220",
         0},
        {"partial line after 220", ifavailable, "mx.example.test", advertised, "220 go\r\n2", "", 0,
         MTATLS_VERDICT_TEMPFAIL, "4.7.5", "TLS negotiation failed", 1},
        {"wrong host", required_host, "other.example.test", advertised, "220 go\r\n", "", 0,
         MTATLS_VERDICT_TEMPFAIL, "4.7.5", "does not match host", 0},
        {"wrong host under ifavailable never falls back", ifavailable_host, "other.example.test",
         advertised, "220 go\r\n", "", 0, MTATLS_VERDICT_TEMPFAIL, "4.7.5", "does not match host",
         0},
        {"garbage instead of a ServerHello", required_host, "mx.example.test", advertised,
         "220 go\r\n", nullptr, 0, MTATLS_VERDICT_TEMPFAIL, "4.7.5", "TLS negotiation failed", 0},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const auto module = load_with(c.policy);
        const Hooks hooks(*module);
        Pair pair;
        Attempt attempt(hooks, c.mx, "other.test");
        int next = -1;
        int verdict = attempt.ehlo(c.ehlo, next);
        int retry = 0;
        if (verdict == MTATLS_VERDICT_CONTINUE) {
            REQUIRE(next == MTATLS_NEXT_STARTTLS);
            if (c.server_sends_first != nullptr && *c.server_sends_first != '\0')
                REQUIRE(write(pair.server, c.server_sends_first,
                              std::strlen(c.server_sends_first)) > 0);
            verdict = attempt.begin(pair.client, c.starttls_reply, retry);
        }
        if (verdict == MTATLS_VERDICT_CONTINUE) {
            int waits = 0;
            int step = MTATLS_STEP_FAILED;
            if (c.server_sends_first == nullptr) {
                const char garbage[] = "HTTP/1.0 200 OK\r\n\r\n";
                REQUIRE(write(pair.server, garbage, sizeof garbage - 1) > 0);
                for (int i = 0; i < 100; ++i) {
                    step = hooks.step(hooks.closure, attempt.conn);
                    if (step == MTATLS_STEP_DONE || step == MTATLS_STEP_FAILED) break;
                }
            } else {
                Server server(pair.server, c.max_version);
                step = attempt.handshake(server, waits);
            }
            (void)step;
            verdict = hooks.finish(hooks.closure, attempt.conn, &attempt.reply, &retry);
        }
        CHECK(verdict == c.expected_verdict);
        CHECK(attempt.reply.smtp_code == 451);
        CHECK(std::string(attempt.reply.enhanced) == c.enhanced);
        CHECK(std::string(attempt.reply.text).find(c.text) != std::string::npos);
        CHECK(retry == c.retry);
    }
}

TEST_CASE("the plaintext retry connection is plaintext under ifavailable, refused under required") {
    for (const bool required : {false, true}) {
        CAPTURE(required);
        const auto module = load_with(required ? required_host : "tls: ifavailable\n");
        const Hooks hooks(*module);
        Attempt attempt(hooks, "mx.example.test", "example.test", MTATLS_CONN_PLAINTEXT_RETRY);
        int next = -1;
        const int verdict = attempt.ehlo("250-mx\r\n250 STARTTLS\r\n", next);
        CHECK(verdict == (required ? MTATLS_VERDICT_TEMPFAIL : MTATLS_VERDICT_CONTINUE));
        if (!required) {
            CHECK(next == MTATLS_NEXT_PLAINTEXT);
            CHECK(attempt.macro("outbound_tls:outbound_tls") == "SMTP");
            CHECK(attempt.macro("mtatls:plaintext_retry") == "yes");
        }
    }
}

TEST_CASE("tls_protocols -TLSv1.3 negotiates TLS 1.2; one SSL_CTX per distinct policy") {
    const auto module =
        load_with(std::string(required_host) + "tls_protocols: \"+ALL:-TLSv1.3\"\n");
    const Hooks hooks(*module);
    for (int round = 0; round < 2; ++round) {
        Pair pair;
        Attempt attempt(hooks, "mx.example.test", "example.test");
        int next = -1;
        REQUIRE(attempt.ehlo("250-mx\r\n250 STARTTLS\r\n", next) == MTATLS_VERDICT_CONTINUE);
        int retry = 0;
        REQUIRE(attempt.begin(pair.client, "220 go\r\n", retry) == MTATLS_VERDICT_CONTINUE);
        Server server(pair.server);
        int waits = 0;
        REQUIRE(attempt.handshake(server, waits) == MTATLS_STEP_DONE);
        REQUIRE(hooks.finish(hooks.closure, attempt.conn, &attempt.reply, &retry) ==
                MTATLS_VERDICT_CONTINUE);
        CHECK(attempt.macro("outbound_tls:outbound_tls_protocol") == "TLSv1.2");
    }
}

TEST_CASE("a name starting with a dot is never matched (OpenSSL would read it as a wildcard)") {
    const auto module = load_with(required_host);
    const Hooks hooks(*module);
    Pair pair;
    // The certificate names mx.example.test; neither name given here may
    // accept it, although X509_check_host(".example.test") would.
    Attempt attempt(hooks, ".example.test", ".example.test");
    int next = -1;
    REQUIRE(attempt.ehlo("250-mx\r\n250 STARTTLS\r\n", next) == MTATLS_VERDICT_CONTINUE);
    int retry = 0;
    REQUIRE(attempt.begin(pair.client, "220 go\r\n", retry) == MTATLS_VERDICT_CONTINUE);
    Server server(pair.server);
    int waits = 0;
    REQUIRE(attempt.handshake(server, waits) == MTATLS_STEP_DONE);
    CHECK(hooks.finish(hooks.closure, attempt.conn, &attempt.reply, &retry) ==
          MTATLS_VERDICT_TEMPFAIL);
    CHECK(std::string(attempt.reply.text).find("does not match host") != std::string::npos);
}

TEST_CASE("MACRO_LIST names every macro once, by the stage it becomes known") {
    const auto module = load_with(required_host);
    const auto [list, closure] = module->hook<mtatls_macro_list_fn>(MTATLS_HOOK_MACRO_LIST);
    REQUIRE(static_cast<bool>(list));
    const auto collect = [&, list = list, closure = closure](int stage) {
        std::vector<std::string> names;
        const int status = list(
            closure, stage,
            [](void* arg, const char* name) {
                static_cast<std::vector<std::string>*>(arg)->emplace_back(name);
            },
            &names);
        CHECK(status == MTATLS_STATUS_OK);
        return names;
    };
    const auto all = collect(0);
    std::size_t staged = 0;
    for (int stage : {MTATLS_HOOK_CONN_SETUP, MTATLS_HOOK_EHLO, MTATLS_HOOK_STARTTLS_FINISH})
        staged += collect(stage).size();
    CHECK(staged == all.size());
    CHECK(std::find(all.begin(), all.end(), "outbound_tls:outbound_tls_cipher") != all.end());
    const auto setup = collect(MTATLS_HOOK_CONN_SETUP);
    CHECK(std::find(setup.begin(), setup.end(), "outbound_tls:outbound_tls_type") != setup.end());
    CHECK(list(
              closure, MTATLS_HOOK_TLS_READ, [](void*, const char*) {}, nullptr) ==
          MTATLS_STATUS_BAD_ARGUMENT);
}
