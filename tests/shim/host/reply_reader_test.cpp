// reply_reader_test.cpp - whole replies from a stream cut anywhere, and the
// surplus bytes that must survive for STARTTLS_BEGIN.
#include "reply_reader.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>

using namespace mtatls::host;

namespace {

// Hands out prepared chunks, then `end` (eof or timeout).
class FakeTransport final : public Transport {
  public:
    explicit FakeTransport(std::deque<std::string> chunks, IoStatus end = IoStatus::eof)
        : chunks_(std::move(chunks)), end_(end) {}
    IoResult read_some(char* buffer, std::size_t size, const Deadline&) override {
        ++reads;
        IoResult result;
        if (chunks_.empty()) {
            result.status = end_;
            return result;
        }
        std::string& chunk = chunks_.front();
        result.bytes = std::min(size, chunk.size());
        std::memcpy(buffer, chunk.data(), result.bytes);
        chunk.erase(0, result.bytes);
        if (chunk.empty()) chunks_.pop_front();
        return result;
    }
    IoResult write_all(std::string_view, const Deadline&, Deadline::Clock::duration) override {
        return {};
    }
    [[nodiscard]] bool is_tls() const override { return false; }
    int reads = 0;

  private:
    std::deque<std::string> chunks_;
    IoStatus end_;
};

std::deque<std::string> bytewise(const std::string& text) {
    std::deque<std::string> chunks;
    for (const char c : text)
        chunks.emplace_back(1, c);
    return chunks;
}

} // namespace

TEST_CASE("a multi-line reply split at every byte is read whole, with no false alarm") {
    const std::string reply = "250-mx.example.com Hello\r\n250-PIPELINING\r\n250-STARTTLS\r\n"
                              "250 8BITMIME\r\n";
    for (std::size_t cut = 0; cut <= reply.size(); ++cut) {
        std::deque<std::string> chunks;
        if (cut > 0) chunks.push_back(reply.substr(0, cut));
        if (cut < reply.size()) chunks.push_back(reply.substr(cut));
        FakeTransport transport(chunks);
        ReplyReader reader;
        const ReplyRead read = reader.read(transport, Deadline::never());
        REQUIRE_MESSAGE(read.status == ReadStatus::complete, "cut at ", cut, ": ", read.error);
        CHECK(read.raw == reply);
        CHECK(read.reply.code == 250);
        CHECK(read.reply.lines.size() == 4);
        CHECK(reader.surplus().empty());
    }
    FakeTransport drip(bytewise(reply));
    ReplyReader reader;
    const ReplyRead read = reader.read(drip, Deadline::never());
    CHECK(read.status == ReadStatus::complete);
    CHECK(read.raw == reply);
}

TEST_CASE("bytes after a reply are kept as surplus, never dropped") {
    FakeTransport transport({"220 go ahead\r\n250-injected\r\n250 fake EHLO\r\n"});
    ReplyReader reader;
    const ReplyRead read = reader.read(transport, Deadline::never());
    REQUIRE(read.status == ReadStatus::complete);
    CHECK(read.reply.code == 220);
    CHECK(read.raw == "220 go ahead\r\n");
    CHECK(reader.surplus() == "250-injected\r\n250 fake EHLO\r\n");
    CHECK(reader.take_surplus() == "250-injected\r\n250 fake EHLO\r\n");
    CHECK(reader.surplus().empty());
}

TEST_CASE("two replies in one segment come out one at a time without another read") {
    FakeTransport transport({"250 first\r\n354 second\r\n"});
    ReplyReader reader;
    ReplyRead read = reader.read(transport, Deadline::never());
    REQUIRE(read.status == ReadStatus::complete);
    CHECK(read.reply.code == 250);
    const int reads = transport.reads;
    read = reader.read(transport, Deadline::never());
    REQUIRE(read.status == ReadStatus::complete);
    CHECK(read.reply.code == 354);
    CHECK(transport.reads == reads); // served from the surplus
}

TEST_CASE("incomplete, malformed and failed reads") {
    struct Case {
        std::deque<std::string> chunks;
        IoStatus end;
        ReadStatus want;
        const char* raw;
    };
    const Case cases[] = {
        {{"250-partial\r\n250 mor"}, IoStatus::eof, ReadStatus::eof, "250-partial\r\n250 mor"},
        {{"250 no end"}, IoStatus::timeout, ReadStatus::timeout, "250 no end"},
        {{}, IoStatus::eof, ReadStatus::eof, ""},
        {{"250 bare LF\n"}, IoStatus::eof, ReadStatus::malformed, "250 bare LF\n"},
        {{"250-a\r\n251 b\r\n"}, IoStatus::eof, ReadStatus::malformed, "250-a\r\n251 b\r\n"},
        {{std::string("250 nul\0\r\n", 10)}, IoStatus::eof, ReadStatus::malformed, nullptr},
        {{"hello\r\n"}, IoStatus::eof, ReadStatus::malformed, "hello\r\n"},
    };
    for (const Case& c : cases) {
        FakeTransport transport(c.chunks, c.end);
        ReplyReader reader;
        const ReplyRead read = reader.read(transport, Deadline::never());
        CHECK(read.status == c.want);
        if (c.raw != nullptr) CHECK(read.raw == c.raw);
        if (c.want == ReadStatus::malformed) CHECK_FALSE(read.error.empty());
        CHECK(reader.surplus().empty()); // handed over in raw
    }
}

TEST_CASE("an endless line is refused once it is too long, not buffered forever") {
    std::deque<std::string> chunks;
    for (int i = 0; i < 100; ++i)
        chunks.push_back(std::string(100, 'x'));
    chunks.front().replace(0, 4, "250 ");
    FakeTransport transport(chunks, IoStatus::timeout);
    ReplyReader reader;
    const ReplyRead read = reader.read(transport, Deadline::never());
    CHECK(read.status == ReadStatus::malformed);
    CHECK(read.raw.size() <= mtatls::smtp::max_reply_line + 200);
}

TEST_CASE("endless continuation lines are refused") {
    std::deque<std::string> chunks;
    for (std::size_t i = 0; i <= mtatls::smtp::max_reply_lines; ++i)
        chunks.push_back("250-more\r\n");
    FakeTransport transport(chunks, IoStatus::timeout);
    ReplyReader reader;
    CHECK(reader.read(transport, Deadline::never()).status == ReadStatus::malformed);
}

TEST_CASE("a byte-by-byte drip of a maximal reply stays cheap") {
    // 200 lines of 2000 bytes, one byte per read: re-parsing the whole
    // buffer on every byte would be ~10^11 steps; parsing per line end is
    // ~10^8.
    std::string reply;
    for (int i = 0; i < 199; ++i)
        reply += "250-" + std::string(1996, 'x') + "\r\n";
    reply += "250 " + std::string(1996, 'y') + "\r\n";
    FakeTransport transport(bytewise(reply));
    ReplyReader reader;
    const ReplyRead read = reader.read(transport, Deadline::never());
    CHECK(read.status == ReadStatus::complete);
    CHECK(read.reply.lines.size() == 200);
}
