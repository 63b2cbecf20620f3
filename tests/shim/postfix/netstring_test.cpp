// netstring_test.cpp - the netstring codec: encoding, strict decoding,
// limits, and the same result however the stream is split.
#include "netstring.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls::postfix;
using Status = NetstringDecoder::Status;

namespace {

// Everything the decoder makes of `input`: payloads as "P:text", and the
// final state as "more", "malformed: why" or "too_long: why".
std::vector<std::string> decode(const std::string& input, std::size_t limit,
                                std::size_t segment = 0) {
    NetstringDecoder decoder(limit);
    std::vector<std::string> events;
    std::size_t offset = 0;
    for (;;) {
        const std::size_t take =
            segment == 0 ? input.size() - offset : std::min(segment, input.size() - offset);
        decoder.feed(std::string_view(input).substr(offset, take));
        offset += take;
        Status status;
        while ((status = decoder.next()) == Status::payload)
            events.push_back("P:" + std::string(decoder.payload()));
        if (status == Status::malformed) {
            events.push_back("malformed: " + decoder.error());
            return events;
        }
        if (status == Status::too_long) {
            events.push_back("too_long");
            return events;
        }
        if (offset == input.size()) {
            events.push_back("more");
            return events;
        }
    }
}

std::string join(const std::vector<std::string>& events) {
    std::string out;
    for (const std::string& e : events)
        out += "[" + e + "]";
    return out;
}

} // namespace

TEST_CASE("encoding") {
    CHECK(netstring_encode("") == "0:,");
    CHECK(netstring_encode("hello") == "5:hello,");
    CHECK(netstring_encode(std::string(12, 'x')) == "12:xxxxxxxxxxxx,");
    std::string out = "1:a,";
    netstring_append(out, "OK may");
    CHECK(out == "1:a,6:OK may,");
}

TEST_CASE("decoding, table-driven") {
    struct Row {
        const char* name;
        std::string input;
        std::vector<std::string> want;
    };
    const std::vector<Row> rows = {
        {"one request", "11:default a.b,", {"P:default a.b", "more"}},
        {"two pipelined", "3:abc,1:x,", {"P:abc", "P:x", "more"}},
        {"empty payload", "0:,", {"P:", "more"}},
        {"incomplete length", "12", {"more"}},
        {"incomplete payload", "5:abc", {"more"}},
        {"payload with a comma and a NUL",
         std::string("3:a,\0,", 6),
         {std::string("P:a,\0", 5), "more"}},
        {"nothing", "", {"more"}},
        {"no length", ":abc,", {"malformed: the netstring has no length before ':'"}},
        {"letter first",
         "x:abc,",
         {"malformed: a netstring must start with its length in decimal digits"}},
        {"blank first",
         " 3:abc,",
         {"malformed: a netstring must start with its length in decimal digits"}},
        {"letter in length",
         "1x:a,",
         {"malformed: the netstring length is followed by something other than ':'"}},
        {"leading zero", "03:abc,", {"malformed: the netstring length has a leading zero"}},
        {"missing comma", "3:abcd", {"malformed: the netstring payload is not followed by ','"}},
        {"newline instead of comma",
         "3:abc\n",
         {"malformed: the netstring payload is not followed by ','"}},
        {"good then bad",
         "1:a,1:bc",
         {"P:a", "malformed: the netstring payload is not followed by ','"}},
        {"negative",
         "-1:,",
         {"malformed: a netstring must start with its length in decimal digits"}},
        {"over the limit", "101:", {"too_long"}},
        {"huge length", "99999999999999999999999999:", {"too_long"}},
        {"at the limit",
         "100:" + std::string(100, 'y') + ",",
         {"P:" + std::string(100, 'y'), "more"}},
    };
    for (const Row& row : rows) {
        const std::string name = row.name;
        CAPTURE(name);
        CHECK(join(decode(row.input, 100)) == join(row.want));
        // Split at every size: the same events.
        for (std::size_t segment = 1; segment <= row.input.size(); ++segment) {
            CAPTURE(segment);
            CHECK(join(decode(row.input, 100, segment)) == join(row.want));
        }
    }
}

TEST_CASE("an oversized request is refused before its bytes are buffered") {
    NetstringDecoder decoder(10);
    decoder.feed("11:");
    CHECK(decoder.next() == Status::too_long);
    CHECK(decoder.error() == "request longer than 10 bytes (the netstring announces at least 11)");
    CHECK(decoder.buffered() == 0);
    // Dead for good: more input changes nothing.
    decoder.feed("1:a,");
    CHECK(decoder.next() == Status::too_long);
}

TEST_CASE("the buffer holds at most one incomplete netstring") {
    NetstringDecoder decoder(1000);
    std::string stream;
    for (int i = 0; i < 100; ++i)
        stream += "5:hello,";
    stream += "5:hel";
    decoder.feed(stream);
    int payloads = 0;
    while (decoder.next() == Status::payload)
        ++payloads;
    CHECK(payloads == 100);
    CHECK(decoder.buffered() == 5);
    decoder.feed("lo,");
    CHECK(decoder.next() == Status::payload);
    CHECK(decoder.payload() == "hello");
    CHECK(decoder.buffered() == 0);
}

TEST_CASE("round trip") {
    for (const std::string& text :
         {std::string(), std::string("OK may"), std::string(5000, ','), std::string("a:b,c\r\n")}) {
        NetstringDecoder decoder(10000);
        decoder.feed(netstring_encode(text));
        REQUIRE(decoder.next() == Status::payload);
        CHECK(decoder.payload() == text);
        CHECK(decoder.next() == Status::need_more);
    }
}
