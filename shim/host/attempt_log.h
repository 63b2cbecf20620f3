// attempt_log.h - the one place that turns an attempt's results into log
// lines, in the form the configuration chose (log_settings.h):
// - keyvalue: one key=value line per attempt, plus one line per recipient
//   when the recipients' results differ;
// - json: one JSON object per attempt (JSON Lines), recipients and every
//   macro included;
// - custom: the admin's template for the outcome, rendered;
// and, before any of them, Postfix's "... TLS connection established ..."
// summary after an attempt whose handshake completed.
//
// Everything a server or a certificate says is untrusted text: values are
// quoted and escaped so that no byte can forge a field, a line or a
// terminal escape in the MTA's log.
#pragma once

#include "attempt_result.h"
#include "log_settings.h"

#include <optional>
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

// `time` as RFC 3339 UTC, to the second: "2026-11-29T10:00:00Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point time);

// The value of a delivery:* field for custom templates (see the contract:
// status, relay, mx, address, port, domain, sender, recipients, code, dsn,
// reason, delay, time, program); "" for an unknown name.  Unescaped: the
// template renderer makes it log-safe.
std::string delivery_field(std::string_view name, std::string_view program,
                           const AttemptResult& result, bool fallback);

// {"program":...,"time":...,"status":...,"mx":...,"address":...,"port":25,
//  "domain":...,"sender":...,"recipients":[{"address":...,"status":...,
//  "code":250,"dsn":...,"reason":...}],"code":250,"dsn":...,"reason":...,
//  "delay":0.04,"fallback":false,"macros":{NAME:VALUE,...}}
// on one line.  Codes are numbers, null when there was no reply; strings
// decode to log_safe() of the value (log_text.h).
std::string format_json_line(std::string_view program, const AttemptResult& result, bool fallback);

// The outcome's template (template_for) rendered: %{delivery:*} fields and
// macros from result.macros, unknown names empty, everything log-safe.
std::string format_custom_line(std::string_view program, const AttemptResult& result, bool fallback,
                               const LogSettings& settings);

// "PROGRAM: Verified TLS connection established to HOST[ADDR]:PORT: PROTO
// with cipher CIPHER (USED/ALG bits)", word for word as Postfix writes it
// (Verified, Trusted, Untrusted or Anonymous from mtatls:tls_achieved), or
// nothing when no handshake completed (tls_achieved "" or "none").
std::optional<std::string> format_summary_line(std::string_view program,
                                               const AttemptResult& result);

// Every line one attempt writes, in order: the summary (when enabled and
// a handshake completed), then the attempt line(s) in the chosen form.
std::vector<std::string> format_attempt_lines(std::string_view program, const AttemptResult& result,
                                              bool fallback, const LogSettings& settings);

} // namespace mtatls::host
