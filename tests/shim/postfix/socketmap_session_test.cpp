// socketmap_session_test.cpp - one connection's bytes in, replies out:
// requests and replies in order, pipelining, malformed and oversized
// requests.
#include "socketmap_session.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::postfix;

namespace {

// Answers "OK name|key" and remembers what it was asked.
struct EchoHandler : RequestHandler {
    std::vector<std::string> asked;
    std::string answer(const Request& request) override {
        asked.push_back(std::string(request.name) + "|" + std::string(request.key));
        return make_reply(ReplyStatus::ok, asked.back());
    }
};

std::vector<std::string> replies(const std::string& out) {
    NetstringDecoder decoder(200000);
    decoder.feed(out);
    std::vector<std::string> list;
    while (decoder.next() == NetstringDecoder::Status::payload)
        list.emplace_back(decoder.payload());
    CHECK(decoder.buffered() == 0); // whole netstrings only
    return list;
}

} // namespace

TEST_CASE("requests are answered in order, however they arrive") {
    const std::string stream = netstring_encode("default example.com") +
                               netstring_encode("customer-1 [mx.example.com]:587") +
                               netstring_encode("b a b c");
    const std::vector<std::string> want = {"OK default|example.com",
                                           "OK customer-1|[mx.example.com]:587", "OK b|a b c"};
    for (std::size_t segment = 1; segment <= stream.size(); ++segment) {
        CAPTURE(segment);
        EchoHandler handler;
        SocketmapSession session(1000, handler);
        std::string out;
        for (std::size_t i = 0; i < stream.size(); i += segment)
            session.receive(std::string_view(stream).substr(i, segment), out);
        CHECK(replies(out) == want);
        CHECK(session.requests() == 3);
        CHECK_FALSE(session.closing());
    }
}

TEST_CASE("well-framed but malformed requests get PERM and the connection stays usable") {
    struct Row {
        std::string payload;
        std::string reply;
    };
    const std::vector<Row> rows = {
        {"nospace", "PERM malformed request: no space between name and key"},
        {" key", "PERM malformed request: empty name"},
        {"name ", "PERM malformed request: empty key"},
        {"name a\x01z", "PERM malformed request: control character in name or key"},
        {"", "PERM malformed request: no space between name and key"},
    };
    for (const Row& row : rows) {
        CAPTURE(row.payload);
        EchoHandler handler;
        SocketmapSession session(1000, handler);
        std::string out;
        session.receive(netstring_encode(row.payload) + netstring_encode("n k"), out);
        CHECK(replies(out) == std::vector<std::string>{row.reply, "OK n|k"});
        CHECK_FALSE(session.closing());
        CHECK(handler.asked == std::vector<std::string>{"n|k"});
    }
}

TEST_CASE("a framing error is answered once with PERM, then the session closes") {
    struct Row {
        std::string input;
        std::string reason;
    };
    const std::vector<Row> rows = {
        {"hello\n", "malformed request: a netstring must start with its length in decimal digits"},
        {"3:abcd", "malformed request: the netstring payload is not followed by ','"},
        {"0012:", "malformed request: the netstring length has a leading zero"},
        {"1001:", "request longer than 1000 bytes (the netstring announces at least 1001)"},
        {"123456789012345678901234567890:",
         "request longer than 1000 bytes (the netstring announces at least 1234)"},
    };
    for (const Row& row : rows) {
        CAPTURE(row.input);
        EchoHandler handler;
        SocketmapSession session(1000, handler);
        std::string out;
        session.receive(netstring_encode("n first") + row.input, out);
        session.receive(netstring_encode("n after"), out); // ignored
        CHECK(replies(out) == std::vector<std::string>{"OK n|first", "PERM " + row.reason});
        CHECK(session.closing());
        CHECK(session.close_reason() == row.reason);
        CHECK(handler.asked == std::vector<std::string>{"n|first"});
    }
}

TEST_CASE("replies keep to Postfix's size limit") {
    struct Big : RequestHandler {
        std::string answer(const Request&) override {
            return "OK " + std::string(max_reply_length, 'x'); // one byte too many
        }
    } handler;
    SocketmapSession session(1000, handler);
    std::string out;
    session.receive(netstring_encode("n k"), out);
    const auto list = replies(out);
    REQUIRE(list.size() == 1);
    CHECK(list[0].starts_with("TEMP "));
    CHECK(make_reply(ReplyStatus::ok, std::string(max_reply_length - 3, 'y')).size() ==
          max_reply_length);
    CHECK(make_reply(ReplyStatus::ok, std::string(max_reply_length - 2, 'y')).starts_with("TEMP "));
}

TEST_CASE("reply forms") {
    CHECK(make_reply(ReplyStatus::ok, "may") == "OK may");
    CHECK(make_reply(ReplyStatus::notfound) == "NOTFOUND ");
    CHECK(make_reply(ReplyStatus::notfound, "ignored") == "NOTFOUND ");
    CHECK(make_reply(ReplyStatus::temp, "no config") == "TEMP no config");
    CHECK(make_reply(ReplyStatus::timeout, "slow") == "TIMEOUT slow");
    CHECK(make_reply(ReplyStatus::perm, "bad\nkey") == "PERM bad\\x0akey");
}
