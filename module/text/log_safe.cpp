// log_safe.cpp - log-safe text (see log_safe.h).
#include "text/log_safe.h"

#include <array>
#include <cstdio>

namespace mtatls::text {

std::size_t safe_utf8_length(std::string_view text, std::size_t i) {
    const auto at = [&text](std::size_t k) {
        return k < text.size() ? static_cast<unsigned char>(text[k]) : 0u;
    };
    const unsigned lead = at(i);
    std::size_t length = 0;
    unsigned code = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
        code = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        code = lead & 0x0fu;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        code = lead & 0x07u;
    } else {
        return 0;
    }
    for (std::size_t k = 1; k < length; ++k) {
        const unsigned next = at(i + k);
        if ((next & 0xc0u) != 0x80u) return 0;
        code = (code << 6) | (next & 0x3fu);
    }
    constexpr std::array<unsigned, 5> minimum{0, 0, 0x80, 0x800, 0x10000};
    if (code < minimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
    if (code <= 0x9f || code == 0x061c || code == 0x200e || code == 0x200f || code == 0x2028 ||
        code == 0x2029 || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069))
        return 0;
    return length;
}

bool is_log_safe(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f) continue;
        if (byte < 0x80) return false;
        const std::size_t length = safe_utf8_length(text, i);
        if (length == 0) return false;
        i += length - 1;
    }
    return true;
}

std::string log_safe(std::string_view text) {
    if (is_log_safe(text)) return std::string(text);
    std::string out;
    out.reserve(text.size() + 16);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f) {
            out += text[i];
            continue;
        }
        if (byte >= 0x80) {
            if (const std::size_t length = safe_utf8_length(text, i); length > 0) {
                out.append(text.substr(i, length));
                i += length - 1;
                continue;
            }
        }
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02x", byte);
        out += hex;
    }
    return out;
}

} // namespace mtatls::text
