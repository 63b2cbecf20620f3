// policyd_options_test.cpp - mtatls-policyd's command line and listen
// addresses.
#include "listen_address.h"
#include "policyd_options.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::postfix;

namespace {

bool parse(std::vector<const char*> args, PolicydOptions& options, std::string& error) {
    args.insert(args.begin(), "mtatls-policyd");
    return parse_policyd_options(static_cast<int>(args.size()), args.data(), options, error);
}

} // namespace

TEST_CASE("listen addresses, table-driven") {
    struct Row {
        const char* text;
        bool ok;
        const char* canonical_or_error;
    };
    const std::vector<Row> rows = {
        {"unix:/run/mtatls/policy.sock", true, "unix:/run/mtatls/policy.sock"},
        {"unix:relative.sock", true, "unix:relative.sock"},
        {"inet:127.0.0.1:10026", true, "inet:127.0.0.1:10026"},
        {"inet:127.0.0.53:0", true, "inet:127.0.0.53:0"},
        {"inet:[::1]:10026", true, "inet:[::1]:10026"},
        {"unix:", false, "unix: needs a path (unix:/run/mtatls/policy.sock)"},
        {"tcp:127.0.0.1:1", false,
         "listen address \"tcp:127.0.0.1:1\" is neither unix:PATH nor inet:127.0.0.1:PORT"},
        {"inet:0.0.0.0:10026", false,
         "\"0.0.0.0\" is not a loopback address: the socketmap protocol has no authentication, "
         "so mtatls-policyd listens on 127.0.0.0/8 or ::1 only"},
        {"inet:192.0.2.1:10026", false,
         "\"192.0.2.1\" is not a loopback address: the socketmap protocol has no "
         "authentication, so mtatls-policyd listens on 127.0.0.0/8 or ::1 only"},
        {"inet:localhost:10026", false,
         "\"localhost\" is not a loopback address: the socketmap protocol has no "
         "authentication, so mtatls-policyd listens on 127.0.0.0/8 or ::1 only"},
        {"inet:127.0.0.1:65536", false, "invalid port \"65536\" in \"inet:127.0.0.1:65536\""},
        {"inet:127.0.0.1:", false, "invalid port \"\" in \"inet:127.0.0.1:\""},
        {"inet:127.0.0.1", false, "inet:ADDRESS:PORT expected in \"inet:127.0.0.1\""},
        {"inet:[::1]", false, "inet:[ADDRESS]:PORT expected in \"inet:[::1]\""},
    };
    for (const Row& row : rows) {
        const std::string text = row.text;
        CAPTURE(text);
        std::string error;
        const auto address = parse_listen_address(row.text, error);
        CHECK(address.has_value() == row.ok);
        if (address)
            CHECK(address->text() == std::string(row.canonical_or_error));
        else
            CHECK(error == std::string(row.canonical_or_error));
    }
    std::string error;
    CHECK_FALSE(parse_listen_address("unix:/" + std::string(200, 'x'), error));
    CHECK(error.starts_with("socket path longer than 107 bytes"));
}

TEST_CASE("options") {
    PolicydOptions options;
    std::string error;
    REQUIRE(parse({"--config", "/etc/mtatls/m.yaml", "--listen", "unix:/run/p.sock", "--listen",
                   "inet:127.0.0.1:10026", "--max-clients", "10", "--idle-timeout", "5",
                   "--max-request", "512", "--socket-mode", "0666", "--verbose"},
                  options, error));
    CHECK(options.config == "/etc/mtatls/m.yaml");
    CHECK(options.listen.size() == 2);
    CHECK(options.limits.max_clients == 10);
    CHECK(options.limits.idle_timeout == std::chrono::seconds(5));
    CHECK(options.limits.max_request == 512);
    CHECK(options.socket_mode == 0666);
    CHECK(options.verbose);
    CHECK_FALSE(options.check);

    struct Row {
        std::vector<const char*> args;
        const char* error;
    };
    const std::vector<Row> rows = {
        {{"--listen", "unix:/p"}, "--config FILE is required"},
        {{"--config", "c"}, "at least one --listen unix:PATH or inet:127.0.0.1:PORT is required"},
        {{"--config", "c", "--listen"}, "--listen needs a value"},
        {{"--config", "c", "--listen", "unix:/p", "--max-clients", "0"},
         "--max-clients wants a number from 1 to 65536, not \"0\""},
        {{"--config", "c", "--listen", "unix:/p", "--idle-timeout", "1s"},
         "--idle-timeout wants seconds from 1 to 86400, not \"1s\""},
        {{"--config", "c", "--listen", "unix:/p", "--max-request", "10"},
         "--max-request wants bytes from 64 to 1000000, not \"10\""},
        {{"--config", "c", "--listen", "unix:/p", "--socket-mode", "0999"},
         "--socket-mode wants an octal mode such as 0660, not \"0999\""},
        {{"--config", "c", "--listen", "unix:/p", "--bogus"}, "unknown argument --bogus"},
        {{"--check", "--config", "c", "--listen", "unix:/p"},
         "--check and --listen do not go together"},
        {{"--config", "c", "--listen", "unix:/p", "--name", "b"},
         "--name and --next-hop go with --check"},
    };
    for (const Row& row : rows) {
        const std::string want = row.error;
        CAPTURE(want);
        PolicydOptions o;
        std::string e;
        CHECK_FALSE(parse(row.args, o, e));
        CHECK(e == want);
    }
    PolicydOptions check;
    REQUIRE(parse({"--check", "--config", "c", "--name", "b1", "--next-hop", "[mx.example]:587"},
                  check, error));
    CHECK(check.check);
    CHECK(check.check_names == std::vector<std::string>{"b1"});
    CHECK(check.check_next_hops == std::vector<std::string>{"[mx.example]:587"});
    PolicydOptions help;
    CHECK(parse({"--help"}, help, error));
    CHECK(help.help);
}
