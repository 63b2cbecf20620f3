// log_text_test.cpp - JSON string escaping: every byte, quotes, backslash,
// the code points that fake line breaks, and what a JSON reader gets back.
#include "json_reader.h"
#include "log_text.h"
#include "text/log_safe.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

using namespace mtatls::host;
using mtatls::test::Json;
using mtatls::test::JsonReader;

namespace {

std::string json(std::string_view value) {
    std::string out;
    append_json_string(out, value);
    return out;
}

} // namespace

TEST_CASE("every single byte: printable ASCII as is, '\"' and '\\\\' escaped, the rest \\\\xNN") {
    for (int b = 0; b < 256; ++b) {
        const std::string in(1, static_cast<char>(b));
        std::string want;
        if (b == '"')
            want = "\"\\\"\"";
        else if (b == '\\')
            want = "\"\\\\\"";
        else if (b >= 0x20 && b < 0x7f)
            want = "\"" + in + "\"";
        else {
            char hex[16];
            std::snprintf(hex, sizeof hex, "\"\\\\x%02x\"", b);
            want = hex;
        }
        const std::string got = json(in);
        CHECK_MESSAGE(got == want, "byte ", b, ": got ", got, ", want ", want);
    }
}

TEST_CASE("JSON string table") {
    struct Case {
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"", "\"\""},
        {"plain", "\"plain\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"\\x0a", "\"\\\\x0a\""}, // a literal backslash-x stays text
        {"line\r\nbreak", "\"line\\\\x0d\\\\x0abreak\""},
        {std::string("nul\0byte", 8), "\"nul\\\\x00byte\""},
        {"tab\there", "\"tab\\\\x09here\""},
        {"esc\x1b[31mred", "\"esc\\\\x1b[31mred\""},
        {"del\x7f", "\"del\\\\x7f\""},
        {"%s%n", "\"%s%n\""},
        {"</script>", "\"</script>\""},
        {"\xc3\xa4", "\"\xc3\xa4\""},                                           // U+00E4 kept
        {"\xe2\x82\xac \xf0\x9f\x93\xa7", "\"\xe2\x82\xac \xf0\x9f\x93\xa7\""}, // kept
        {"a\xe2\x80\xa8z", "\"a\\\\xe2\\\\x80\\\\xa8z\""}, // U+2028 LINE SEPARATOR
        {"a\xe2\x80\xa9z", "\"a\\\\xe2\\\\x80\\\\xa9z\""}, // U+2029
        {"a\xc2\x85z", "\"a\\\\xc2\\\\x85z\""},            // NEL (C1)
        {"a\xe2\x80\xaez", "\"a\\\\xe2\\\\x80\\\\xaez\""}, // RIGHT-TO-LEFT OVERRIDE
        {"a\xe2\x81\xa6z", "\"a\\\\xe2\\\\x81\\\\xa6z\""}, // LEFT-TO-RIGHT ISOLATE
        {"a\xffz", "\"a\\\\xffz\""},                       // invalid
        {"a\xc3", "\"a\\\\xc3\""},                         // truncated
        {"a\xc0\xafz", "\"a\\\\xc0\\\\xafz\""},            // overlong '/'
        {"\xed\xa0\x80", "\"\\\\xed\\\\xa0\\\\x80\""},     // a surrogate
    };
    for (const Case& c : cases) {
        const std::string got = json(c.in);
        CHECK_MESSAGE(got == c.want, "in \"", c.in, "\": got ", got, ", want ", c.want);
    }
}

TEST_CASE("a JSON reader gets back exactly log_safe() of the value, and the literal is log-safe") {
    // Every byte, every pair of bytes around the interesting leads, and
    // hostile texts.
    std::vector<std::string> inputs;
    std::string all;
    for (int b = 0; b < 256; ++b) {
        inputs.emplace_back(1, static_cast<char>(b));
        all += static_cast<char>(b);
        for (const char follow : {'\x80', '\xa8', '\xbf', 'a'})
            inputs.push_back(std::string(1, static_cast<char>(b)) + follow);
    }
    inputs.push_back(all);
    inputs.push_back("CN=evil\r\nmtatls-send: status=sent\x1b[2J\"\\ %n\xe2\x80\xa8");
    for (const std::string& in : inputs) {
        const std::string literal = json(in);
        CHECK(mtatls::text::is_log_safe(literal));
        std::string error;
        const std::optional<Json> parsed = JsonReader::parse(literal, error);
        REQUIRE_MESSAGE(parsed.has_value(), "not JSON: ", literal, ": ", error);
        CHECK(parsed->kind == Json::Kind::string);
        CHECK_MESSAGE(parsed->string == mtatls::text::log_safe(in), "literal ", literal);
    }
}
