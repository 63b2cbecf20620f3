// failover.h - whether a failed attempt passes the message on to the next
// MX host (RFC 5321 §5.1: "the SMTP client SHOULD try at least two
// addresses"), or ends the delivery.
//
// The rule, as Postfix applies it: a failure that concerns this server
// (no connection, a 4xx/5xx banner, a failed EHLO, any TLS failure:
// STARTTLS missing under tls = required, refused, a failed handshake, a
// refused certificate) tries the next MX; so does a temporary refusal of
// the transaction that all recipients share, before the message was sent
// (a 4xx to MAIL FROM, every RCPT TO deferred, a 4xx to DATA: greylisting
// and rate limits at one MX).  Never the next MX after
// - a permanent result (a 5xx to MAIL, RCPT or DATA bounces: the other
//   MX hosts of a domain answer for the same mailboxes);
// - a transaction whose recipients fared differently (some bounced: the
//   next MX would be offered them again);
// - the message itself was sent: the server may hold it even without a
//   reply (RFC 1047), and a second MX would deliver it twice;
// - a problem on this side (the module refused CONN_SETUP: the same
//   problem would meet every MX host).
// The plaintext retry that tls_ifavailable_fallback allows is not a
// failover: it stays on the same host, before any next MX.
#pragma once

#include "attempt_result.h"

namespace mtatls::host {

bool try_next_mx(const AttemptResult& result);

} // namespace mtatls::host
