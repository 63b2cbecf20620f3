// session.h - one SMTP delivery attempt driven through the module's
// STARTTLS hooks: connect, banner, EHLO (HELO), STARTTLS, handshake, EHLO
// again, MAIL, RCPT..., DATA, QUIT.
//
// The session holds no TLS policy: the module decides at EHLO, at the
// STARTTLS reply and after the handshake; the session carries out the
// decision, owns every deadline and turns each way an attempt can end into
// an AttemptResult.  It never retries: a plaintext fallback is a new
// attempt the caller starts (AttemptResult::retry_plaintext).
#pragma once

#include "attempt_result.h"
#include "deadline.h"
#include "hooks.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

struct Timeouts {
    Deadline::Clock::duration connect = seconds(30);    // per address tried
    Deadline::Clock::duration reply = seconds(300);     // per reply; per write without progress
    Deadline::Clock::duration handshake = seconds(300); // the whole TLS handshake
    Deadline::Clock::duration data_end = seconds(600);  // the reply after the final dot
    Deadline::Clock::duration quit = seconds(10);       // QUIT reply and close_notify
    Deadline::Clock::duration attempt = seconds(1800);  // everything, connect to close
    Deadline::Clock::duration dns = seconds(60);        // MX and address lookups together
};

struct AttemptParams {
    std::string host; // to connect to: a name or an IP literal without brackets
    // The addresses to connect to, in order (numeric, from the MX
    // resolver); empty: resolve `host` with getaddrinfo.
    std::vector<std::string> addresses;
    uint16_t port = 25;
    std::string mx_name; // SNI and name checks (conn_params.mx_host)
    std::string helo;    // our name in EHLO/HELO
    // The policy key.
    std::string binding_group;
    std::string binding;
    std::string domain;
    std::string sender; // "" for the null sender <>
    std::vector<std::string> recipients;
    Timeouts timeouts;
    // Ends the attempt too, when it comes before timeouts.attempt from the
    // start: the deadline of a whole delivery over several MX hosts.
    Deadline deadline = Deadline::never();
    uint32_t conn_flags = 0; // MTATLS_CONN_* (PLAINTEXT_RETRY on a fallback)
    // The macros to look up at the end of the attempt for the log line
    // (AttemptResult::macros): what the chosen form shows (all the module
    // lists for JSON, the templates' names for custom).  The TLS facts of
    // the key=value line and the summary are looked up in any case.
    std::vector<std::string> macro_names;
};

// Runs one attempt.  `wire_message` is the DATA payload from to_wire()
// (CRLF, dot-stuffed, ending in ".\r\n").  CONN_END is always called when
// CONN_SETUP gave a connection, and the socket is always closed.
AttemptResult run_attempt(const ConnectionHooks& hooks, const AttemptParams& params,
                          std::string_view wire_message);

// The enhanced status code at the start of a reply line ("5.1.1") when it
// belongs to `reply_class`, else "".
std::string enhanced_code(std::string_view line, int reply_class);

} // namespace mtatls::host
