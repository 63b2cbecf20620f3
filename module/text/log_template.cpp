// log_template.cpp - parsing custom log templates (see log_template.h).
#include "text/log_template.h"

namespace mtatls::text {

ParsedTemplate parse_template(std::string_view text) {
    ParsedTemplate parsed;
    const auto fail = [&parsed](std::string why, std::size_t offset) {
        parsed.pieces.clear();
        parsed.error = std::move(why);
        parsed.error_offset = offset;
        return parsed;
    };
    std::string literal;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const auto byte = static_cast<unsigned char>(c);
        // A template makes one log line: no line breaks or other controls.
        if (byte < 0x20 || byte == 0x7f) return fail("control byte in the format", i);
        if (c != '%') {
            literal += c;
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '%') {
            literal += '%';
            ++i;
            continue;
        }
        if (i + 1 >= text.size() || text[i + 1] != '{')
            return fail("'%' must start %{NAME} or be written %%", i);
        // sendmail's names carry braces of their own: %{{verify}}.
        const bool braced = i + 2 < text.size() && text[i + 2] == '{';
        const std::size_t close = braced ? text.find("}}", i + 2) : text.find('}', i + 2);
        if (close == std::string_view::npos) return fail("unterminated %{", i);
        const std::size_t end = braced ? close + 1 : close; // one past the name
        if (end == i + 2 || (braced && end == i + 4)) return fail("empty %{}", i);
        if (!literal.empty()) parsed.pieces.push_back({false, std::move(literal)});
        literal.clear();
        parsed.pieces.push_back({true, std::string(text.substr(i + 2, end - i - 2))});
        i = end;
    }
    if (!literal.empty()) parsed.pieces.push_back({false, std::move(literal)});
    return parsed;
}

} // namespace mtatls::text
