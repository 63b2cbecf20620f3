// reply_test.cpp - the strict SMTP reply parser: complete, incomplete and
// malformed replies, table-driven, and every split of a valid reply.
#include "smtp/reply.h"

#include <doctest/doctest.h>

#include <string>

using mtatls::smtp::parse_reply;
using mtatls::smtp::ReplyState;

namespace {

struct Case {
    const char* name;
    std::string bytes;
    ReplyState state;
    int code = 0;
    std::size_t lines = 0;
};

std::string long_line(std::size_t text_length) {
    return "250 " + std::string(text_length, 'a') + "\r\n";
}

} // namespace

TEST_CASE("reply parser: table") {
    using enum ReplyState;
    const Case cases[] = {
        {"single line", "220 mx ready\r\n", complete, 220, 1},
        {"bare code", "250\r\n", complete, 250, 1},
        {"multi-line", "250-mx\r\n250-SIZE 10\r\n250 STARTTLS\r\n", complete, 250, 3},
        {"bare final line", "250-mx\r\n250\r\n", complete, 250, 2},
        {"utf-8 text", "220 m\xc3\xa9l ready\r\n", complete, 220, 1},
        {"tab in text", "220 a\tb\r\n", complete, 220, 1},
        {"empty", "", incomplete},
        {"partial code", "25", incomplete},
        {"no line end yet", "250 ok", incomplete},
        {"CR at the end", "250 ok\r", incomplete},
        {"continuation only", "250-mx\r\n", incomplete},
        {"bare LF", "250 ok\n", malformed},
        {"bare LF in continuation", "250-mx\n250 ok\r\n", malformed},
        {"differing codes", "250-mx\r\n251 ok\r\n", malformed},
        {"letters for code", "2x0 ok\r\n", malformed},
        {"code too small", "199 ok\r\n", malformed},
        {"code too big", "600 ok\r\n", malformed},
        {"second digit 6", "260 ok\r\n", malformed},
        {"bad separator", "250_ok\r\n", malformed},
        {"short line", "25\r\n", malformed},
        {"empty line", "\r\n", malformed},
        {"NUL in text", std::string("250 o\0k\r\n", 8), malformed},
        {"NUL before line end", std::string("250 ok\0", 7), malformed},
        {"escape byte", "250 \x1b[31mred\r\n", malformed},
        {"DEL", "250 \x7f\r\n", malformed},
        {"CR inside", "250 a\rb\r\n", malformed},
        {"longest line", long_line(mtatls::smtp::max_reply_line - 4), complete, 250, 1},
        {"over-long line", long_line(mtatls::smtp::max_reply_line - 3), malformed},
        {"over-long unfinished", "250 " + std::string(5000, 'a'), malformed},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const auto parsed = parse_reply(c.bytes);
        CHECK(parsed.state == c.state);
        if (c.state == complete) {
            CHECK(parsed.reply.code == c.code);
            CHECK(parsed.reply.lines.size() == c.lines);
            CHECK(parsed.consumed == c.bytes.size());
        }
        if (c.state == malformed) CHECK_FALSE(parsed.error.empty());
    }
}

TEST_CASE("reply parser: stops at the first reply and reports what follows") {
    const std::string bytes = "220 go ahead\r\n250-fake\r\n250 STARTTLS\r\n";
    const auto parsed = parse_reply(bytes);
    REQUIRE(parsed.state == ReplyState::complete);
    CHECK(parsed.reply.code == 220);
    CHECK(parsed.consumed == 14);
}

TEST_CASE("reply parser: endless continuation is cut off") {
    std::string bytes;
    for (std::size_t i = 0; i <= mtatls::smtp::max_reply_lines; ++i)
        bytes += "250-x\r\n";
    CHECK(parse_reply(bytes).state == ReplyState::malformed);
}

TEST_CASE("reply parser: every split of a valid multi-line reply is incomplete, never malformed") {
    const std::string reply = "220-mx.example.test ready\r\n220-second line\r\n220 go ahead\r\n";
    for (std::size_t cut = 0; cut < reply.size(); ++cut) {
        CAPTURE(cut);
        CHECK(parse_reply(reply.substr(0, cut)).state == ReplyState::incomplete);
    }
    CHECK(parse_reply(reply).state == ReplyState::complete);
}
