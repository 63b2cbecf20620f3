// resumption_test.cpp - TLS session resumption can never carry a
// certificate check from one attempt to another, and session tickets and
// key updates from the server are transparent.
//
// The module's hooks are driven through the real ABI, as in
// abi_entry_test.cpp: one thread, a socket pair, a real OpenSSL server on
// the other end that issues session tickets (TLS 1.3: several, and a
// KeyUpdate, right after the handshake, before its reply to the EHLO sent
// over TLS; the same cases also run over TLS 1.2).  That
// server is willing to resume any session offered to it (the control case
// below proves it with a plain OpenSSL client), so what the server sees in
// each ClientHello is the evidence: no pre_shared_key extension, no ticket
// presented, a Certificate sent in every handshake.
//
// Attempts under tls_verify = optional and host share one SSL_CTX in the
// module (the context cache key has no tls_verify in it), so a client-side
// session cache would hand the unverified attempt's session to the verified
// one.  This release has no session cache at all (client_context.cpp:
// SSL_SESS_CACHE_OFF, no SSL_set_session), and these cases hold it to that.
// If resumption is ever added, only "the same host and port again" may
// change; every other row must stay a full handshake.
#include "../../support/module_harness.h"
#include "tls/openssl_ptr.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

using mtatls::host::Module;
using namespace mtatls::tls;
using mtatls::test::Hooks;

namespace {

// Global policy: required + host.  lax.test: the same TLS settings (so the
// same SSL_CTX) but tls_verify = optional, which delivers unverified.
const char* const policies = R"(tls: required
tls_verify: host
tls_ca: "@PKI@/ca.pem"
domain:
  lax.test:
    tls_verify: optional
)";

std::unique_ptr<Module> load_policies() { return mtatls::test::load_module_with(policies); }

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

// What the server saw of one connection.
struct Seen {
    int client_hellos = 0;
    bool psk_offered = false;        // a pre_shared_key extension: TLS 1.3 resumption
    bool early_data_offered = false; // 0-RTT, never allowed
    int tickets_presented = 0;       // tickets the client sent back (TLS 1.2 or 1.3)
    int tickets_sent = 0;            // NewSessionTicket messages the server wrote
    int certificates_sent = 0;       // none in a resumed handshake
    int key_updates_sent = 0;
    int key_updates_received = 0;
    bool reused = false; // SSL_session_reused at the server's end
};

// A server that hands out session tickets and resumes any session offered
// to it; one SSL_CTX (one ticket key) for all of its connections.
class TicketServer {
  public:
    TicketServer(int max_version, int tickets_at_handshake) {
        const std::string pki = mtatls::test::pki_dir();
        SSL_CTX* ctx = ctx_.get();
        REQUIRE(ctx != nullptr);
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, (pki + "/server.pem").c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, (pki + "/server.key").c_str(), SSL_FILETYPE_PEM) ==
                1);
        REQUIRE(SSL_CTX_set_max_proto_version(ctx, max_version) == 1);
        // Session IDs (TLS 1.2) as well as tickets can be resumed.
        static const unsigned char context[] = "mtatls-resumption-test";
        REQUIRE(SSL_CTX_set_session_id_context(ctx, context, sizeof context - 1) == 1);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        REQUIRE(SSL_CTX_set_num_tickets(ctx, static_cast<std::size_t>(tickets_at_handshake)) == 1);
        REQUIRE(SSL_CTX_set_session_ticket_cb(ctx, nullptr, &TicketServer::ticket_presented,
                                              this) == 1);
        SSL_CTX_set_client_hello_cb(ctx, &TicketServer::client_hello, this);
        SSL_CTX_set_msg_callback(ctx, &TicketServer::message);
        SSL_CTX_set_msg_callback_arg(ctx, this);
    }

    // A new connection on `fd`; resets what was seen.
    SslPtr accept(int fd) {
        seen_ = {};
        SslPtr ssl(SSL_new(ctx_.get()));
        REQUIRE(ssl);
        REQUIRE(SSL_set_fd(ssl.get(), fd) == 1);
        SSL_set_accept_state(ssl.get());
        return ssl;
    }

    [[nodiscard]] const Seen& seen() const { return seen_; }

  private:
    static int client_hello(SSL* ssl, int*, void* arg) {
        Seen& record = static_cast<TicketServer*>(arg)->seen_;
        ++record.client_hellos;
        const unsigned char* data = nullptr;
        std::size_t length = 0;
        if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_psk, &data, &length) == 1)
            record.psk_offered = true;
        if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_early_data, &data, &length) == 1)
            record.early_data_offered = true;
        return SSL_CLIENT_HELLO_SUCCESS;
    }

    // OpenSSL's own choices for each status, plus a count of the tickets
    // the client really presented (an empty TLS 1.2 extension is not one).
    static SSL_TICKET_RETURN ticket_presented(SSL*, SSL_SESSION*, const unsigned char*, std::size_t,
                                              SSL_TICKET_STATUS status, void* arg) {
        Seen& record = static_cast<TicketServer*>(arg)->seen_;
        switch (status) {
        case SSL_TICKET_EMPTY: return SSL_TICKET_RETURN_IGNORE_RENEW;
        case SSL_TICKET_NO_DECRYPT:
            ++record.tickets_presented;
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        case SSL_TICKET_SUCCESS: ++record.tickets_presented; return SSL_TICKET_RETURN_USE;
        case SSL_TICKET_SUCCESS_RENEW:
            ++record.tickets_presented;
            return SSL_TICKET_RETURN_USE_RENEW;
        default: return SSL_TICKET_RETURN_ABORT;
        }
    }

    static void message(int write_p, int, int content_type, const void* buffer, std::size_t length,
                        SSL*, void* arg) {
        if (content_type != SSL3_RT_HANDSHAKE || length == 0) return;
        Seen& record = static_cast<TicketServer*>(arg)->seen_;
        const int type = *static_cast<const unsigned char*>(buffer);
        if (write_p == 1) {
            if (type == SSL3_MT_NEWSESSION_TICKET) ++record.tickets_sent;
            if (type == SSL3_MT_CERTIFICATE) ++record.certificates_sent;
            if (type == SSL3_MT_KEY_UPDATE) ++record.key_updates_sent;
        } else if (type == SSL3_MT_KEY_UPDATE) {
            ++record.key_updates_received;
        }
    }

    SslCtxPtr ctx_{SSL_CTX_new(TLS_server_method())};
    Seen seen_;
};

// Reads from the server's end until `want` bytes have come (the socket pair
// has them already, or after the client's next call).
std::string server_read(SSL* ssl, std::size_t want) {
    std::string got;
    char buffer[512];
    for (int i = 0; i < 100 && got.size() < want; ++i) {
        std::size_t n = 0;
        if (SSL_read_ex(ssl, buffer, sizeof buffer, &n) == 1) got.append(buffer, n);
    }
    return got;
}

void server_write(SSL* ssl, const std::string& text) {
    std::size_t done = 0;
    REQUIRE(SSL_write_ex(ssl, text.data(), text.size(), &done) == 1);
    REQUIRE(done == text.size());
}

// What an attempt showed: the module's macros and the server's view.
struct Outcome {
    int finish = MTATLS_VERDICT_TEMPFAIL;
    std::string reply; // the failure reply's text
    std::string protocol;
    std::string resumed;
    std::string verified;      // outbound_tls:outbound_tls_verified
    std::string achieved;      // mtatls:tls_achieved: verified, trusted, untrusted
    std::string ehlo_over_tls; // the EHLO reply as the client read it
    std::string mail_reply;    // the reply to MAIL FROM as the client read it
    Seen seen;
};

struct Delivery {
    const char* mx = "mx.example.test";
    const char* domain = "example.test";
    uint16_t port = 25;
    int extra_tickets = 0;   // NewSessionTickets sent before the EHLO reply (TLS 1.3)
    bool key_update = false; // and a KeyUpdate that asks for the client's (TLS 1.3)
};

const std::string ehlo_reply = "250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n";

// Reads through the module until `want` bytes have come; tickets and key
// updates are consumed inside TLS_READ and show up as WANT_READ at most.
std::string client_read(const Hooks& hooks, mtatls_conn* conn, std::size_t want) {
    std::string got;
    char buffer[256];
    for (int i = 0; i < 1000 && got.size() < want; ++i) {
        std::size_t n = 0;
        const int io = hooks.read(hooks.closure, conn, buffer, sizeof buffer, &n);
        if (io == MTATLS_IO_OK)
            got.append(buffer, n);
        else if (io != MTATLS_IO_WANT_READ)
            break;
    }
    return got;
}

void client_write(const Hooks& hooks, mtatls_conn* conn, const std::string& text) {
    std::size_t done = 0;
    REQUIRE(hooks.write(hooks.closure, conn, text.data(), text.size(), &done) == MTATLS_IO_OK);
    REQUIRE(done == text.size());
}

// CONN_END however an attempt ends (a failed REQUIRE throws).
struct ConnEnd {
    const Hooks& hooks;
    mtatls_conn* conn;
    ~ConnEnd() { hooks.end(hooks.closure, conn); }
};

// One attempt through the ABI: EHLO, STARTTLS, the handshake stepped
// without blocking, then (if the module accepts the server) EHLO and MAIL
// over TLS with the server's tickets and KeyUpdate before its EHLO reply.
Outcome deliver(const Hooks& hooks, TicketServer& server, const Delivery& d) {
    Pair pair;
    mtatls_conn* conn = nullptr;
    mtatls_reply reply{};
    reply.struct_size = sizeof reply;
    mtatls_conn_params params{};
    params.struct_size = sizeof params;
    params.policy.struct_size = sizeof params.policy;
    params.policy.domain = d.domain;
    params.mx_host = d.mx;
    params.peer_address = "127.0.0.1";
    params.peer_port = d.port;
    REQUIRE(hooks.setup(hooks.closure, &params, &conn, &reply) == MTATLS_VERDICT_CONTINUE);
    const ConnEnd end{hooks, conn};
    const auto macro = [&](const char* name) {
        char buffer[512];
        std::size_t length = 0;
        return hooks.macro(hooks.closure, conn, name, buffer, sizeof buffer, &length) ==
                       MTATLS_STATUS_OK
                   ? std::string(buffer, length)
                   : std::string("<none>");
    };

    mtatls_ehlo_result result{};
    result.struct_size = sizeof result;
    const std::string first_ehlo = "250-mx.example.test\r\n250 STARTTLS\r\n";
    REQUIRE(hooks.ehlo(hooks.closure, conn, first_ehlo.data(), first_ehlo.size(), &result,
                       &reply) == MTATLS_VERDICT_CONTINUE);
    REQUIRE(result.next == MTATLS_NEXT_STARTTLS);
    int retry = 0;
    const std::string go = "220 2.0.0 go ahead\r\n";
    REQUIRE(hooks.begin(hooks.closure, conn, pair.client, go.data(), go.size(), &reply, &retry) ==
            MTATLS_VERDICT_CONTINUE);

    SslPtr ssl = server.accept(pair.server);
    int step = MTATLS_STEP_FAILED;
    for (int round = 0; round < 1000; ++round) {
        step = hooks.step(hooks.closure, conn);
        if (step == MTATLS_STEP_DONE || step == MTATLS_STEP_FAILED) break;
        (void)SSL_do_handshake(ssl.get());
    }
    REQUIRE(step == MTATLS_STEP_DONE);

    Outcome out;
    out.finish = hooks.finish(hooks.closure, conn, &reply, &retry);
    out.reply = reply.text;
    out.protocol = macro("outbound_tls:outbound_tls_protocol");
    out.resumed = macro("mtatls:resumed");
    out.verified = macro("outbound_tls:outbound_tls_verified");
    out.achieved = macro("mtatls:tls_achieved");
    if (out.finish != MTATLS_VERDICT_CONTINUE) {
        out.seen = server.seen();
        return out;
    }

    // The server reads the client's Finished and sends the tickets of the
    // handshake (TLS 1.3: after it, TLS 1.2: within it).
    for (int i = 0; i < 100 && SSL_is_init_finished(ssl.get()) != 1; ++i)
        (void)SSL_do_handshake(ssl.get());
    REQUIRE(SSL_is_init_finished(ssl.get()) == 1);

    client_write(hooks, conn, "EHLO client.example.org\r\n");
    CHECK(server_read(ssl.get(), 25) == "EHLO client.example.org\r\n");
    // Between the EHLO and its reply: more tickets and a KeyUpdate that asks
    // the client to update its keys too.  They go out ahead of the reply.
    // (OpenSSL sends the tickets on the next SSL_do_handshake, and will not
    // schedule a KeyUpdate while they are pending.)
    for (int i = 0; i < d.extra_tickets; ++i)
        REQUIRE(SSL_new_session_ticket(ssl.get()) == 1);
    REQUIRE(SSL_do_handshake(ssl.get()) == 1);
    if (d.key_update) REQUIRE(SSL_key_update(ssl.get(), SSL_KEY_UPDATE_REQUESTED) == 1);
    server_write(ssl.get(), ehlo_reply);
    out.ehlo_over_tls = client_read(hooks, conn, ehlo_reply.size());
    REQUIRE(hooks.ehlo(hooks.closure, conn, out.ehlo_over_tls.data(), out.ehlo_over_tls.size(),
                       &result, &reply) == MTATLS_VERDICT_CONTINUE);
    CHECK(result.next == MTATLS_NEXT_PLAINTEXT);

    // The client's next record carries its own KeyUpdate first, then MAIL
    // under the new keys; the server must read it.
    const std::string mail = "MAIL FROM:<sender@example.org>\r\n";
    client_write(hooks, conn, mail);
    CHECK(server_read(ssl.get(), mail.size()) == mail);
    server_write(ssl.get(), "250 2.1.0 Ok\r\n");
    out.mail_reply = client_read(hooks, conn, 14);
    CHECK(hooks.shutdown(hooks.closure, conn) == MTATLS_IO_OK);
    // A server SSL freed without its own close_notify drops the session
    // from the server's cache; this one stays willing to resume it.
    (void)SSL_shutdown(ssl.get());

    out.seen = server.seen();
    out.seen.reused = SSL_session_reused(ssl.get()) == 1;
    return out;
}

// A full handshake: the server offered nothing to resume and presented its
// certificate in this very handshake.
void check_full_handshake(const Outcome& out) {
    CHECK(out.resumed == "no");
    CHECK(out.seen.client_hellos >= 1);
    CHECK_FALSE(out.seen.psk_offered);
    CHECK(out.seen.tickets_presented == 0);
    CHECK_FALSE(out.seen.early_data_offered);
    CHECK_FALSE(out.seen.reused);
    CHECK(out.seen.certificates_sent == 1);
}

const struct {
    const char* name;
    int version;
    const char* protocol;
} versions[] = {{"TLS 1.3", TLS1_3_VERSION, "TLSv1.3"}, {"TLS 1.2", TLS1_2_VERSION, "TLSv1.2"}};

} // namespace

TEST_CASE("control: the test server resumes a client that offers its session") {
    // Without this, "no ticket was presented" below could be a server that
    // would not have resumed anyway.
    for (const auto& v : versions) {
        const std::string version = v.name;
        CAPTURE(version);
        TicketServer server(v.version, 2);
        SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
        REQUIRE(client_ctx);
        SslSessionPtr session;
        for (int round = 0; round < 2; ++round) {
            CAPTURE(round);
            Pair pair;
            fcntl(pair.client, F_SETFL, fcntl(pair.client, F_GETFL) | O_NONBLOCK);
            SslPtr client(SSL_new(client_ctx.get()));
            REQUIRE(client);
            REQUIRE(SSL_set_fd(client.get(), pair.client) == 1);
            REQUIRE(SSL_set_tlsext_host_name(client.get(), "mx.example.test") == 1);
            if (session) REQUIRE(SSL_set_session(client.get(), session.get()) == 1);
            SSL_set_connect_state(client.get());
            SslPtr ssl = server.accept(pair.server);
            for (int i = 0; i < 100 && (SSL_is_init_finished(client.get()) != 1 ||
                                        SSL_is_init_finished(ssl.get()) != 1);
                 ++i) {
                (void)SSL_do_handshake(client.get());
                (void)SSL_do_handshake(ssl.get());
            }
            REQUIRE(SSL_is_init_finished(ssl.get()) == 1);
            // Data after the tickets, so that the client has read them.
            server_write(ssl.get(), "220 hello\r\n");
            CHECK(server_read(client.get(), 11) == "220 hello\r\n");
            // OpenSSL marks a session not resumable when its SSL is freed
            // without a close_notify; both ends say goodbye properly.
            (void)SSL_shutdown(client.get());
            (void)SSL_shutdown(ssl.get());
            const Seen& seen = server.seen();
            CHECK(seen.certificates_sent == (round == 0 ? 1 : 0));
            if (round == 0) {
                CHECK(seen.tickets_sent >= 1);
                CHECK(SSL_session_reused(client.get()) == 0);
                session.reset(SSL_get1_session(client.get()));
                REQUIRE(session);
                REQUIRE(SSL_SESSION_is_resumable(session.get()) == 1);
            } else {
                CHECK(SSL_session_reused(client.get()) == 1);
                CHECK(SSL_session_reused(ssl.get()) == 1);
                CHECK(seen.tickets_presented >= 1);
                CHECK(seen.psk_offered == (v.version == TLS1_3_VERSION));
            }
        }
    }
}

TEST_CASE("a session from an unverified attempt is never resumed under a verified policy") {
    const auto module = load_policies();
    const Hooks hooks(*module);
    for (const auto& v : versions) {
        const std::string version = v.name;
        CAPTURE(version);
        const bool tls13 = v.version == TLS1_3_VERSION;
        TicketServer server(v.version, 4);

        // 1. tls_verify = optional, and the certificate does not name the
        //    MX host: delivered, unverified, tickets received.
        Delivery lax;
        lax.mx = "wrong.example.test";
        lax.domain = "lax.test";
        lax.extra_tickets = tls13 ? 2 : 0;
        lax.key_update = tls13;
        const Outcome first = deliver(hooks, server, lax);
        REQUIRE(first.finish == MTATLS_VERDICT_CONTINUE);
        CHECK(first.protocol == v.protocol);
        CHECK(first.verified == "unverified");
        CHECK(first.achieved == "trusted"); // chain fine, name not
        CHECK(first.seen.tickets_sent >= (tls13 ? 6 : 1));
        check_full_handshake(first);

        // 2. Same server, same wrong name, tls_verify = host: the name is
        //    checked afresh and fails; an inherited session would have let
        //    it through without a certificate check.
        Delivery strict_wrong;
        strict_wrong.mx = "wrong.example.test";
        strict_wrong.domain = "strict.test";
        const Outcome second = deliver(hooks, server, strict_wrong);
        CHECK(second.finish == MTATLS_VERDICT_TEMPFAIL);
        CHECK(second.reply.find("does not match host") != std::string::npos);
        check_full_handshake(second);

        // 3. Same server, the right name, tls_verify = host: fully verified
        //    from a certificate sent in this handshake.
        Delivery strict;
        strict.domain = "strict.test";
        strict.extra_tickets = lax.extra_tickets;
        strict.key_update = tls13;
        const Outcome third = deliver(hooks, server, strict);
        REQUIRE(third.finish == MTATLS_VERDICT_CONTINUE);
        CHECK(third.verified == "verified");
        CHECK(third.achieved == "verified");
        check_full_handshake(third);
    }
}

TEST_CASE("no resumption for another host name or port under the same policy") {
    const auto module = load_policies();
    const Hooks hooks(*module);
    for (const auto& v : versions) {
        const std::string version = v.name;
        CAPTURE(version);
        const bool tls13 = v.version == TLS1_3_VERSION;
        TicketServer server(v.version, 4);
        Delivery base;
        base.extra_tickets = tls13 ? 2 : 0;
        base.key_update = tls13;

        // The server certificate names mx.example.test, localhost and
        // 127.0.0.1 (make_test_pki.sh), so each of these verifies.
        struct Row {
            const char* name;
            const char* mx;
            uint16_t port;
        };
        const Row rows[] = {
            {"first contact", "mx.example.test", 25},
            {"another host name", "localhost", 25},
            {"another port", "mx.example.test", 2525},
            {"an IP literal (no SNI)", "127.0.0.1", 25},
            // No resumption in this release at all; the one row that may
            // change if it is ever added (with a cache keyed by policy,
            // host and port).
            {"the same host and port again", "mx.example.test", 25},
        };
        for (const Row& row : rows) {
            const std::string row_name = row.name;
            CAPTURE(row_name);
            Delivery d = base;
            d.mx = row.mx;
            d.port = row.port;
            const Outcome out = deliver(hooks, server, d);
            REQUIRE(out.finish == MTATLS_VERDICT_CONTINUE);
            CHECK(out.verified == "verified");
            CHECK(out.seen.tickets_sent >= 1);
            check_full_handshake(out);
        }
    }
}

TEST_CASE("many TLS 1.3 session tickets and a KeyUpdate before the EHLO reply are transparent") {
    const auto module = load_policies();
    const Hooks hooks(*module);
    TicketServer server(TLS1_3_VERSION, 8);
    Delivery d;
    d.extra_tickets = 24;
    d.key_update = true;
    const Outcome out = deliver(hooks, server, d);
    REQUIRE(out.finish == MTATLS_VERDICT_CONTINUE);
    CHECK(out.protocol == "TLSv1.3");
    CHECK(out.verified == "verified");
    // Read over TLS byte for byte, with nothing of the tickets in it.
    CHECK(out.ehlo_over_tls == ehlo_reply);
    CHECK(out.mail_reply == "250 2.1.0 Ok\r\n");
    CHECK(out.seen.tickets_sent == 8 + 24);
    CHECK(out.seen.key_updates_sent == 1);
    // The client answered the requested update before MAIL, and the server
    // read MAIL under the client's new keys.
    CHECK(out.seen.key_updates_received == 1);
    check_full_handshake(out);
}
