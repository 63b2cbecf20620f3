// attempt_log.h - the one place that turns an attempt's results into log
// lines: one key=value line per attempt, plus one line per recipient when
// the recipients' results differ.
//
// Everything a server or a certificate says is untrusted text: values are
// quoted and escaped so that no byte can forge a field, a line or a
// terminal escape in the MTA's log.
#pragma once

#include "attempt_result.h"

#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

// A value as the log writes it: "-" when empty; in double quotes when it
// holds a space, '"', '\\', '=' or a control byte (< 0x20, 0x7f), with
// \" \\ and \xNN escapes; otherwise as is.  Valid UTF-8 passes unchanged,
// except code points that can fake a line break or reverse text (C1
// controls, U+2028/U+2029, bidi controls): those and invalid bytes are
// written as \xNN.
std::string log_value(std::string_view value);

// The "status=" word for an attempt; `fallback` when a plaintext retry
// follows this attempt.
const char* status_word(Outcome outcome, bool fallback);

// "PROGRAM: status=... relay=... ... delay=..." (no newline).
std::string format_attempt_line(std::string_view program, const AttemptResult& result,
                                bool fallback);

// "PROGRAM: rcpt=<addr> status=... code=... dsn=... reason=..." per
// recipient, or nothing when all recipients share one result.
std::vector<std::string> format_recipient_lines(std::string_view program,
                                                const AttemptResult& result);

} // namespace mtatls::host
