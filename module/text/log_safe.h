// log_safe.h - making untrusted text (server replies, certificate names)
// safe to put into a log line or a header.
//
// Shared by the module (every macro value) and the shim (every log form),
// so both agree on what "safe" means: no control byte, no invalid UTF-8,
// and none of the code points that some viewers render as a line break or
// as reversed text.  Unsafe bytes are written as \xNN.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::text {

// Length of the UTF-8 sequence starting at text[i] (a byte >= 0x80) if it
// is valid and harmless in a log, else 0.  Harmful: C1 controls
// (U+0080-U+009F, NEL among them), U+2028/U+2029 and the bidi controls
// (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
std::size_t safe_utf8_length(std::string_view text, std::size_t i);

// True when `text` needs no escaping: printable ASCII, TAB excluded, and
// safe UTF-8.
bool is_log_safe(std::string_view text);

// `text` with every unsafe byte written as \xNN (lower-case hex).  A
// backslash is kept as is: the goal is that nothing can forge a line or
// hide text, not reversibility.
std::string log_safe(std::string_view text);

} // namespace mtatls::text
