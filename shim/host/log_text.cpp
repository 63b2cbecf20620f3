// log_text.cpp - JSON strings (see log_text.h).
#include "log_text.h"

#include "text/log_safe.h"

namespace mtatls::host {

void append_json_string(std::string& out, std::string_view value) {
    // log_safe's output is printable ASCII and safe UTF-8 only, with \xNN
    // for the rest; JSON then needs just '"' and '\\' escaped, so a parser
    // reads back exactly log_safe(value).
    out += '"';
    for (const char c : text::log_safe(value)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

} // namespace mtatls::host
