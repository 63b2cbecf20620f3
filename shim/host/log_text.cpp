// log_text.cpp - JSON strings (see log_text.h).
#include "log_text.h"

#include "text/log_safe.h"

#include <cstdio>

namespace mtatls::host {

void append_json_string(std::string& out, std::string_view value) {
    out += '"';
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
            continue;
        }
        if (byte >= 0x80) {
            if (const std::size_t length = text::safe_utf8_length(value, i); length > 0) {
                out.append(value.substr(i, length));
                i += length - 1;
                continue;
            }
        }
        // JSON for one backslash, then the text "xNN": log_safe's \xNN.
        char hex[6];
        std::snprintf(hex, sizeof hex, "\\\\x%02x", byte);
        out += hex;
    }
    out += '"';
}

} // namespace mtatls::host
