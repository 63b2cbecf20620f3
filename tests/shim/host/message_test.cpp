// message_test.cpp - CRLF normalisation, dot-stuffing and the size limit.
#include "message.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <csignal>

#include <string>
#include <thread>

using namespace mtatls::host;

TEST_CASE("to_wire normalises line ends and stuffs dots") {
    struct Case {
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"", ".\r\n"},
        {"a", "a\r\n.\r\n"},
        {"a\n", "a\r\n.\r\n"},
        {"a\r\n", "a\r\n.\r\n"},
        {"a\r", "a\r\n.\r\n"},
        {"a\nb", "a\r\nb\r\n.\r\n"},
        {"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
        {"a\rb\r", "a\r\nb\r\n.\r\n"},       // bare CR ends a line
        {"a\r\rb", "a\r\n\r\nb\r\n.\r\n"},   // two bare CRs: an empty line
        {"a\n\r\nb", "a\r\n\r\nb\r\n.\r\n"}, // LF then CRLF
        {"a\r\r\n", "a\r\n\r\n.\r\n"},       // CR then CRLF
        {"\n", "\r\n.\r\n"},                 // one empty line
        {"\n\n", "\r\n\r\n.\r\n"},
        {".", "..\r\n.\r\n"}, // a lone dot would end DATA
        {".\n", "..\r\n.\r\n"},
        {"..\n", "...\r\n.\r\n"},
        {"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},
        {"a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"}, // after a bare CR too
        {"a\r\n.\r\n", "a\r\n..\r\n.\r\n"},   // a terminator inside the message
        {"a.b\n", "a.b\r\n.\r\n"},            // only at line start
        {" .x\n", " .x\r\n.\r\n"},
        {".x\n.y", "..x\r\n..y\r\n.\r\n"},
        {std::string("\0\n", 2), std::string("\0\r\n.\r\n", 6)}, // NUL passes
        {"\xc3\xa4\n", "\xc3\xa4\r\n.\r\n"},                     // 8-bit passes
    };
    for (const Case& c : cases) {
        const std::string got = to_wire(c.in);
        CHECK_MESSAGE(got == c.want, "in \"", c.in, "\": got \"", got, "\", want \"", c.want, "\"");
    }
}

TEST_CASE("to_wire output never contains a bare CR or LF or an early terminator") {
    std::string in;
    for (int i = 0; i < 2000; ++i)
        in += "\r\n.\r"[(i * 7 + i / 3) % 4];
    const std::string wire = to_wire(in);
    for (std::size_t i = 0; i < wire.size(); ++i) {
        if (wire[i] == '\r') REQUIRE((i + 1 < wire.size() && wire[i + 1] == '\n'));
        if (wire[i] == '\n') REQUIRE((i > 0 && wire[i - 1] == '\r'));
    }
    CHECK(wire.find("\r\n.\r\n") == wire.size() - 5);
}

namespace {

// Feeds `text` into a pipe from a thread and reads it back with the limit.
MessageInput read_through_pipe(const std::string& text, std::size_t limit) {
    // The reader stops early on "too large": the writer must get EPIPE,
    // not a SIGPIPE that ends the test program.
    std::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::thread writer([&text, fd = fds[1]] {
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n <= 0) break; // the reader stopped early (too large)
            done += static_cast<std::size_t>(n);
        }
        ::close(fd);
    });
    MessageInput input = read_message(fds[0], limit);
    ::close(fds[0]);
    writer.join();
    return input;
}

} // namespace

TEST_CASE("read_message reads to EOF and refuses more than the limit") {
    const MessageInput small = read_through_pipe("hello\n", 100);
    REQUIRE(small.text);
    CHECK(*small.text == "hello\n");

    const MessageInput exact = read_through_pipe(std::string(100, 'x'), 100);
    REQUIRE(exact.text);
    CHECK(exact.text->size() == 100);

    const MessageInput big = read_through_pipe(std::string(300000, 'x'), 100000);
    CHECK_FALSE(big.text);
    CHECK(big.too_large);
    CHECK(big.error.find("larger than 100000") != std::string::npos);

    const MessageInput empty = read_through_pipe("", 100);
    REQUIRE(empty.text);
    CHECK(empty.text->empty());
}

TEST_CASE("read_message reports a read error") {
    const MessageInput input = read_message(-1, 100);
    CHECK_FALSE(input.text);
    CHECK_FALSE(input.too_large);
    CHECK(input.error.find("cannot read the message") != std::string::npos);
}
