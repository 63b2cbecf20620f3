// outcome.h - how a delivery attempt's TLS part can end, and what each end
// means: the one decision table (tls mode x verify mode x event) and the
// exact temporary reply codes of docs/delivery.md.
//
// Every failure here is temporary (4xx): TLS never causes a bounce, and
// nothing in this table ever turns a `required` policy or a failed
// verification into plaintext.
#pragma once

#include "config/directive.h"

#include <string>

namespace mtatls::attempt {

// What the TLS part of an attempt ran into.
enum class Event {
    starttls_advertised,     // EHLO listed STARTTLS
    starttls_not_advertised, // EHLO did not (or was refused, so HELO)
    go_ahead_refused,        // reply to STARTTLS was not 220
    bytes_after_reply,       // data followed the STARTTLS reply (injection)
    malformed_reply,         // STARTTLS reply not a valid SMTP reply
    handshake_failed,        // alert, garbage, cut connection, no shared cipher
    chain_untrusted,         // handshake done; chain does not verify
    name_mismatch,           // handshake done; chain fine; no acceptable name
    established,             // handshake done and acceptable as far as it went
};

enum class Action {
    plaintext,       // carry on without TLS on this connection
    starttls,        // send STARTTLS
    use_tls,         // carry on over the TLS session
    tempfail,        // end the attempt with a temporary failure
    retry_plaintext, // end it, and retry at once without TLS on a new connection
};

// The single decision table.  `plaintext_retry` marks the connection that
// a previous retry_plaintext opened.
Action decide(config::TlsMode tls, config::VerifyMode verify, bool fallback, bool plaintext_retry,
              Event event);

// The temporary reply for a failing event: code, enhanced code, text.
struct FailureReply {
    int code = 451;
    const char* enhanced = "4.7.5";
    std::string text;
};
FailureReply failure_reply(Event event, const std::string& detail);

// Short names for logs and macros ("handshake_failed", ...).
const char* event_name(Event event);

} // namespace mtatls::attempt
