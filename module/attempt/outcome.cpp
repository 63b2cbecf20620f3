// outcome.cpp - the decision table and failure replies (see outcome.h).
#include "attempt/outcome.h"

namespace mtatls::attempt {

using config::TlsMode;
using config::VerifyMode;

Action decide(TlsMode tls, VerifyMode verify, bool fallback, bool plaintext_retry, Event event) {
    // Only `ifavailable` ever falls back, and only where the negotiation
    // failed before any certificate was judged.
    const Action negotiation_failed =
        tls == TlsMode::ifavailable && fallback ? Action::retry_plaintext : Action::tempfail;
    switch (event) {
    case Event::starttls_advertised:
    case Event::starttls_not_advertised: {
        const bool advertised = event == Event::starttls_advertised;
        switch (tls) {
        case TlsMode::no: return Action::plaintext;
        case TlsMode::ifavailable:
            return advertised && !plaintext_retry ? Action::starttls : Action::plaintext;
        case TlsMode::required:
            // A plaintext retry is never granted under `required`; if a
            // host claims one anyway, refuse rather than trust it.
            return advertised && !plaintext_retry ? Action::starttls : Action::tempfail;
        }
        return Action::tempfail;
    }
    case Event::go_ahead_refused:
    case Event::bytes_after_reply:
    case Event::malformed_reply:
    case Event::handshake_failed: return tls == TlsMode::no ? Action::tempfail : negotiation_failed;
    case Event::chain_untrusted:
        switch (verify) {
        case VerifyMode::no:
        case VerifyMode::optional: return Action::use_tls;
        case VerifyMode::ca:
        case VerifyMode::host: return Action::tempfail;
        }
        return Action::tempfail;
    case Event::name_mismatch:
        switch (verify) {
        case VerifyMode::no:
        case VerifyMode::ca:
        case VerifyMode::optional: return Action::use_tls;
        case VerifyMode::host: return Action::tempfail;
        }
        return Action::tempfail;
    case Event::established: return Action::use_tls;
    }
    return Action::tempfail;
}

FailureReply failure_reply(Event event, const std::string& detail) {
    FailureReply reply;
    const auto with_detail = [&detail](const std::string& text) {
        return detail.empty() ? text : text + " (" + detail + ")";
    };
    switch (event) {
    case Event::starttls_not_advertised:
        reply.enhanced = "4.7.6";
        reply.text = with_detail("[internal] STARTTLS required but not advertised");
        break;
    case Event::go_ahead_refused: reply.text = with_detail("[internal] no tls go-ahead"); break;
    case Event::bytes_after_reply:
    case Event::malformed_reply:
    case Event::handshake_failed:
        reply.text = with_detail("[internal] TLS negotiation failed");
        break;
    case Event::chain_untrusted:
        reply.text = with_detail("[internal] SSL cert must be signed by a valid CA");
        break;
    case Event::name_mismatch:
        reply.text = with_detail("[internal] SSL certificate subject does not match host");
        break;
    case Event::starttls_advertised:
        // Only reachable when a host asks for a plaintext retry under
        // `required`, which the module never grants.
        reply.enhanced = "4.7.6";
        reply.text = with_detail("[internal] plaintext retry refused: TLS is required");
        break;
    case Event::established:
        reply.enhanced = "4.3.0";
        reply.text = with_detail("[internal] mtatls: unexpected state");
        break;
    }
    return reply;
}

const char* event_name(Event event) {
    switch (event) {
    case Event::starttls_advertised: return "starttls_advertised";
    case Event::starttls_not_advertised: return "starttls_not_advertised";
    case Event::go_ahead_refused: return "go_ahead_refused";
    case Event::bytes_after_reply: return "bytes_after_reply";
    case Event::malformed_reply: return "malformed_reply";
    case Event::handshake_failed: return "handshake_failed";
    case Event::chain_untrusted: return "chain_untrusted";
    case Event::name_mismatch: return "name_mismatch";
    case Event::established: return "established";
    }
    return "unknown";
}

} // namespace mtatls::attempt
