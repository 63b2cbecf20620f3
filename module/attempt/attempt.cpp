// attempt.cpp - the per-attempt state machine (see attempt.h).
#include "attempt/attempt.h"

#include "smtp/ehlo.h"
#include "text/log_safe.h"

#include <sys/socket.h>

namespace mtatls::attempt {

using config::Directive;

Attempt::Attempt(std::unique_ptr<Connection> connection, bool plaintext_retry)
    : connection_(std::move(connection)), plaintext_retry_(plaintext_retry) {
    facts_.connection = connection_.get();
    facts_.plaintext_retry = plaintext_retry;
}

void Attempt::record_failure(Event event, const std::string& text) {
    // The first failure is the one that ended the attempt.
    if (facts_.failure) return;
    facts_.failure = event;
    facts_.failure_text = text;
}

Result Attempt::fail(Event event, const std::string& detail) {
    Result result;
    result.action = Action::tempfail;
    result.reply = failure_reply(event, detail);
    record_failure(event, result.reply.text);
    stage_ = Stage::over;
    return result;
}

Result Attempt::decide_and_record(Event event, const std::string& detail) {
    const config::Effective& policy = connection_->policy;
    Result result;
    result.action =
        decide(policy.tls(), policy.verify(), policy.flag(Directive::tls_ifavailable_fallback),
               plaintext_retry_, event);
    if (result.action == Action::tempfail || result.action == Action::retry_plaintext) {
        result.reply = failure_reply(event, detail);
        record_failure(event, result.reply.text);
        stage_ = Stage::over;
    }
    return result;
}

Result Attempt::ehlo(std::string_view reply_bytes, bool& starttls_advertised) {
    starttls_advertised = false;
    const smtp::EhloParse parsed = smtp::parse_ehlo_bytes(reply_bytes);
    if (parsed.state == smtp::EhloState::malformed) {
        // Not a TLS failure: the server broke SMTP itself, whatever `tls` says.
        Result result;
        result.reply.enhanced = "4.5.0";
        result.reply.text = "[internal] malformed EHLO reply: " + parsed.error;
        record_failure(Event::malformed_reply, result.reply.text);
        stage_ = Stage::over;
        return result;
    }
    starttls_advertised =
        parsed.state == smtp::EhloState::accepted && parsed.capabilities.has("STARTTLS");

    switch (stage_) {
    case Stage::greeting: {
        const Event event =
            starttls_advertised ? Event::starttls_advertised : Event::starttls_not_advertised;
        const std::string detail = parsed.state == smtp::EhloState::refused ? "EHLO refused" : "";
        Result result = decide_and_record(event, detail);
        facts_.progress = Progress::ehlo;
        if (result.action == Action::plaintext) {
            stage_ = Stage::plaintext;
            facts_.progress = Progress::plaintext;
        }
        if (result.action == Action::starttls) stage_ = Stage::starttls_decided;
        return result;
    }
    case Stage::tls:
        // The post-TLS capability list is the only one that counts; a
        // server that refuses EHLO inside TLS is confused.
        if (parsed.state != smtp::EhloState::accepted)
            return fail(Event::handshake_failed, "EHLO refused after STARTTLS");
        return {Action::use_tls, {}};
    case Stage::plaintext:
        return {Action::plaintext, {}}; // e.g. EHLO again after RSET: nothing to decide
    case Stage::starttls_decided:
    case Stage::handshaking:
    case Stage::handshake_over:
    case Stage::over: break;
    }
    return fail(Event::established, "EHLO hook called out of order");
}

Result Attempt::starttls_begin(int fd, std::string_view reply_bytes) {
    if (stage_ != Stage::starttls_decided)
        return fail(Event::established, "STARTTLS begin called out of order");
    facts_.progress = Progress::starttls; // STARTTLS is sent; its reply is judged here
    const smtp::ReplyParse parsed = smtp::parse_reply(reply_bytes);
    if (parsed.state != smtp::ReplyState::complete)
        return decide_and_record(Event::malformed_reply,
                                 "malformed reply to STARTTLS: " +
                                     (parsed.error.empty() ? "incomplete" : parsed.error));
    facts_.starttls_reply_code = parsed.reply.code;
    if (parsed.reply.code != 220) {
        std::string said = std::to_string(parsed.reply.code);
        if (!parsed.reply.lines.front().empty()) said += " " + parsed.reply.lines.front();
        return decide_and_record(Event::go_ahead_refused, "server said: " + said);
    }
    // Principle 1: nothing already received after the 220 may be read as
    // SMTP, and nothing may reach OpenSSL either.
    if (parsed.consumed != reply_bytes.size())
        return decide_and_record(Event::bytes_after_reply,
                                 "server sent " +
                                     std::to_string(reply_bytes.size() - parsed.consumed) +
                                     " bytes after its 220 reply to STARTTLS");
    char peek = 0;
    if (recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
        return decide_and_record(Event::bytes_after_reply,
                                 "server sent data after its 220 reply to STARTTLS");

    if (!connection_->tls_context)
        return fail(Event::handshake_failed, "no TLS context: " + connection_->tls_context_error);
    const std::string& mx = connection_->mx_host;
    facts_.sni = mx.empty() || tls::is_ip_literal(mx) ? std::string() : tls::normalize_host(mx);
    std::string error;
    if (!session_.begin(connection_->tls_context, fd, facts_.sni, {mx, connection_->domain}, error))
        return fail(Event::handshake_failed, error);
    stage_ = Stage::handshaking;
    facts_.progress = Progress::handshake;
    return {Action::use_tls, {}};
}

tls::Progress Attempt::step() {
    if (stage_ != Stage::handshaking) return tls::Progress::failed;
    const tls::Progress progress = session_.step();
    if (progress == tls::Progress::done || progress == tls::Progress::failed) {
        handshake_failed_ = progress == tls::Progress::failed;
        stage_ = Stage::handshake_over;
    }
    return progress;
}

Result Attempt::finish() {
    // A host whose handshake deadline passed calls finish mid-handshake:
    // that is a failed negotiation like any other (fallback rules apply).
    if (stage_ == Stage::handshaking)
        return decide_and_record(Event::handshake_failed, "handshake timed out");
    if (stage_ != Stage::handshake_over)
        return fail(Event::established, "STARTTLS finish called out of order");
    if (handshake_failed_) return decide_and_record(Event::handshake_failed, session_.failure());
    facts_.handshake_done = true;
    facts_.session = session_.facts();
    facts_.verdict = session_.judge();
    const tls::PeerCheck::Verdict& verdict = *facts_.verdict;
    Event event = Event::established;
    std::string detail;
    if (!verdict.chain_trusted) {
        event = Event::chain_untrusted;
        detail = verdict.chain_error;
    } else if (!verdict.name_matched) {
        event = Event::name_mismatch;
        detail = verdict.name_error;
    }
    Result result = decide_and_record(event, detail);
    if (result.action == Action::use_tls) {
        stage_ = Stage::tls;
        facts_.progress = Progress::tls;
    }
    return result;
}

tls::Io Attempt::read(void* buffer, std::size_t size, std::size_t& done) {
    done = 0;
    return stage_ == Stage::tls ? session_.read(buffer, size, done) : tls::Io::error;
}

tls::Io Attempt::write(const void* buffer, std::size_t size, std::size_t& done) {
    done = 0;
    return stage_ == Stage::tls ? session_.write(buffer, size, done) : tls::Io::error;
}

tls::Io Attempt::shutdown() { return stage_ == Stage::tls ? session_.shutdown() : tls::Io::ok; }

std::optional<std::string> Attempt::macro(std::string_view name) const {
    // Server replies and certificate fields are untrusted: no value leaves
    // the module with a byte that could forge a log line or a header.
    std::optional<std::string> value = macro_value(facts_, name);
    if (value && !text::is_log_safe(*value)) value = text::log_safe(*value);
    return value;
}

} // namespace mtatls::attempt
