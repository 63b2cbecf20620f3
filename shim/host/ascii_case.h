// ascii_case.h - ASCII lower case, the way the host side compares
// directive values, domains and next-hops: none of them is text in a
// language, so no locale takes part and bytes >= 0x80 stay as they are.
#pragma once

#include <string>
#include <string_view>

namespace mtatls::host {

inline char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = ascii_lower(c);
    return out;
}

} // namespace mtatls::host
