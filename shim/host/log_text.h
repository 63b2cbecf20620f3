// log_text.h - JSON strings for the host's JSON log form, on the same
// log-safe rule as every other form.
//
// What is safe in a log line is decided in one place, shared with the
// module: text/log_safe.h (safe_utf8_length, log_safe).  The key=value
// form (attempt_log), the custom form and the JSON form all build on it,
// so no form can let through what another escapes.
#pragma once

#include <string>
#include <string_view>

namespace mtatls::host {

// Appends `value` as a JSON string literal (with the quotes) whose decoded
// text is exactly text::log_safe(value): '"' and '\\' are written as \"
// and \\, printable ASCII and safe UTF-8 as is, and every other byte as
// the text \xNN (in JSON: \\xNN).  So the literal is valid JSON for any
// input (JSON strings hold code points, not bytes), the line stays
// log-safe, and a JSON reader gets the same text the other forms show: a
// hostile reply still comes out escaped after parsing, and no byte is
// dropped.  Macro values arrive log-safe already; this changes nothing in
// them but the JSON quoting.
void append_json_string(std::string& out, std::string_view value);

} // namespace mtatls::host
