// session.cpp - the SMTP client of one delivery attempt (see session.h).
//
// Rules kept here, each from the STARTTLS attack literature
// (security-cases.md):
// - never pipeline: each command is sent only when every byte received so
//   far has been accounted for as a reply; a leftover byte is an error;
// - after "STARTTLS\r\n" the session sends and reads nothing itself: every
//   byte read since goes to STARTTLS_BEGIN, and only the module touches
//   the socket until the handshake is finished;
// - after the handshake EHLO is sent again and only that reply counts;
// - once STARTTLS is sent nothing more goes out in plaintext, not even
//   QUIT: only the module's own retry (a new connection) is plaintext;
// - every wait is bounded by its own limit and by the attempt deadline;
// - the message counts as sent only after the 2xx to the final dot.
#include "session.h"

#include "reply_reader.h"
#include "socket.h"
#include "transport.h"

#include <poll.h>

#include <cstring>
#include <optional>

namespace mtatls::host {
namespace {

using Clock = Deadline::Clock;

// An attempt-level failure that needs no server reply.
constexpr int internal_code = 451;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string bounded(const char* text, std::size_t size) {
    return std::string(text, strnlen(text, size));
}

// The reply's text for the log: its lines joined by spaces, each without
// its enhanced status code (the dsn field carries that).
std::string reply_text(const smtp::Reply& reply) {
    std::string text;
    for (const std::string& line : reply.lines) {
        std::string_view rest = line;
        const std::string code = enhanced_code(rest, smtp::reply_class(reply.code));
        if (!code.empty()) {
            rest.remove_prefix(code.size());
            while (!rest.empty() && rest.front() == ' ')
                rest.remove_prefix(1);
        }
        if (!text.empty() && !rest.empty()) text += ' ';
        text += rest;
    }
    return text;
}

class Session {
  public:
    Session(const ConnectionHooks& hooks, const AttemptParams& params, std::string_view wire)
        : hooks_(hooks), params_(params), wire_(wire), start_(Clock::now()),
          attempt_deadline_(
              earliest(Deadline::after(params.timeouts.attempt, start_), params.deadline)),
          recipients_(params.recipients.size()) {}

    AttemptResult run();

  private:
    // ---- results ----
    // Records the attempt-level result, success included (the first call
    // wins).  Returns false so that a failing step can `return end(...)`.
    bool end(Outcome outcome, int code, std::string dsn, std::string reason);
    bool end_internal(const char* dsn, const std::string& reason) {
        return end(Outcome::deferred, internal_code, dsn, "[internal] " + reason);
    }
    bool end_module(int verdict, const mtatls_reply& reply, const char* hook);
    // A negative server reply to `what`; 5xx count as `five_hundred`.
    bool end_reply(const smtp::Reply& reply, const char* what, Outcome five_hundred);
    // A reply code that makes no sense at this point (a 3xx to MAIL, ...).
    bool end_unexpected(const smtp::Reply& reply, const char* what);
    bool end_read(const ReplyRead& read, const char* what);
    bool end_write(const IoResult& io, const char* what);
    bool end_timeout(const char* dsn, const std::string& during);
    RecipientResult from_reply(const std::string& address, const smtp::Reply& reply,
                               const char* what, Outcome five_hundred) const;
    void finish_recipients(AttemptResult& result) const;
    // The macros the logs need (params_.macro_names and the TLS facts),
    // before CONN_END.
    void collect_macros();

    // ---- I/O ----
    [[nodiscard]] Deadline limit(Clock::duration d) const {
        return earliest(Deadline::after(d), attempt_deadline_);
    }
    bool send(std::string_view line, const char* what);
    // Sends `line` and reads its reply; false (attempt ended) on any I/O,
    // grammar or 421 failure.
    bool command(const std::string& line, const char* what, smtp::Reply& reply,
                 std::string* raw = nullptr);

    // ---- steps ----
    void dialogue();
    bool greeting();
    bool hello(bool over_tls);
    bool starttls();
    // How the handshake loop ended: DONE/FAILED from STEP, the handshake
    // deadline, or a failed poll (the attempt is ended then).
    enum class Handshake { finished, timed_out, broken };
    Handshake handshake();
    bool transaction();
    void quit();

    const ConnectionHooks& hooks_;
    const AttemptParams& params_;
    std::string_view wire_;
    Clock::time_point start_;
    Deadline attempt_deadline_;

    // Declaration order is destruction order in reverse: the transports
    // go first, then the module connection (CONN_END), then the socket.
    UniqueFd fd_;
    std::optional<ModuleConnection> conn_;
    std::optional<PlainTransport> plain_;
    std::optional<TlsTransport> tls_;
    Transport* transport_ = nullptr;
    ReplyReader reader_;

    // False once the connection can carry nothing more (lost, confused,
    // 421, or inside STARTTLS): no QUIT then.
    bool usable_ = false;
    int next_step_ = MTATLS_NEXT_PLAINTEXT;
    // Where the dialogue is; the result records it when the attempt ends.
    Stage stage_ = Stage::connect;

    AttemptResult result_;
    bool ended_ = false; // result_ holds the attempt-level outcome
    std::vector<std::optional<RecipientResult>> recipients_;
};

bool Session::end(Outcome outcome, int code, std::string dsn, std::string reason) {
    usable_ = usable_ && code != 421;
    if (ended_) return false;
    ended_ = true;
    result_.stage = stage_;
    result_.outcome = outcome;
    result_.code = code;
    result_.dsn = std::move(dsn);
    result_.reason = std::move(reason);
    return false;
}

bool Session::end_module(int verdict, const mtatls_reply& reply, const char* hook) {
    const Outcome outcome = verdict == MTATLS_VERDICT_REJECT ? Outcome::bounced : Outcome::deferred;
    const int code = reply.smtp_code > 0           ? reply.smtp_code
                     : outcome == Outcome::bounced ? 550
                                                   : internal_code;
    std::string dsn = bounded(reply.enhanced, sizeof reply.enhanced);
    if (dsn.empty()) dsn = outcome == Outcome::bounced ? "5.0.0" : "4.0.0";
    std::string text = bounded(reply.text, sizeof reply.text);
    if (text.empty()) text = std::string("[internal] mtatls: ") + hook + " gave no reason";
    return end(outcome, code, std::move(dsn), std::move(text));
}

RecipientResult Session::from_reply(const std::string& address, const smtp::Reply& reply,
                                    const char* what, Outcome five_hundred) const {
    RecipientResult r;
    r.address = address;
    const int klass = smtp::reply_class(reply.code);
    r.outcome = klass == 2 ? Outcome::sent : klass == 5 ? five_hundred : Outcome::deferred;
    r.code = reply.code;
    r.dsn = reply.lines.empty() ? std::string() : enhanced_code(reply.lines.front(), klass);
    if (r.dsn.empty()) r.dsn = std::to_string(klass) + ".0.0";
    // A 5xx we treat as temporary must not carry a permanent dsn.
    if (r.outcome == Outcome::deferred && r.dsn[0] == '5') r.dsn[0] = '4';
    r.reason = reply_text(reply);
    if (klass != 2) r.reason += std::string(" (in reply to ") + what + ")";
    return r;
}

bool Session::end_reply(const smtp::Reply& reply, const char* what, Outcome five_hundred) {
    RecipientResult r = from_reply({}, reply, what, five_hundred);
    return end(r.outcome, r.code, std::move(r.dsn), std::move(r.reason));
}

bool Session::end_unexpected(const smtp::Reply& reply, const char* what) {
    usable_ = false;
    std::string text = reply_text(reply);
    return end_internal("4.5.0", "unexpected reply " + std::to_string(reply.code) + " to " + what +
                                     (text.empty() ? "" : ": " + text));
}

bool Session::end_timeout(const char* dsn, const std::string& during) {
    usable_ = false;
    if (attempt_deadline_.expired())
        return end_internal(dsn, "attempt time limit reached " + during);
    return end_internal(dsn, "timed out " + during);
}

bool Session::end_read(const ReplyRead& read, const char* what) {
    usable_ = false;
    const std::string during = std::string("waiting for the reply to ") + what;
    switch (read.status) {
    case ReadStatus::complete: break;
    case ReadStatus::timeout: return end_timeout("4.4.2", during);
    case ReadStatus::eof: return end_internal("4.4.2", "lost connection " + during);
    case ReadStatus::error:
        return end_internal("4.4.2", "lost connection (" + read.error + ") " + during);
    case ReadStatus::malformed:
        return end_internal("4.5.0", std::string("malformed reply to ") + what + ": " + read.error);
    }
    return end_internal("4.3.0", "unexpected read status");
}

bool Session::end_write(const IoResult& io, const char* what) {
    usable_ = false;
    const std::string during = std::string("sending ") + what;
    if (io.status == IoStatus::timeout) return end_timeout("4.4.2", "while " + during);
    if (io.status == IoStatus::eof) return end_internal("4.4.2", "lost connection " + during);
    return end_internal("4.4.2", "lost connection (" + io.error + ") " + during);
}

bool Session::send(std::string_view line, const char* what) {
    // Never pipeline: bytes no reply accounted for mean the server spoke
    // out of turn (or someone injected replies).  A 421 is the one thing
    // a server may say unasked.
    if (!reader_.surplus().empty()) {
        const smtp::ReplyParse unasked = smtp::parse_reply(reader_.surplus());
        usable_ = false;
        if (unasked.state == smtp::ReplyState::complete && unasked.reply.code == 421)
            return end_reply(unasked.reply, what, Outcome::deferred);
        return end_internal("4.5.0", std::string("server sent unexpected data before ") + what);
    }
    const IoResult io = transport_->write_all(line, attempt_deadline_, params_.timeouts.reply);
    if (io.status != IoStatus::ok) return end_write(io, what);
    return true;
}

bool Session::command(const std::string& line, const char* what, smtp::Reply& reply,
                      std::string* raw) {
    if (!send(line, what)) return false;
    ReplyRead read = reader_.read(*transport_, limit(params_.timeouts.reply));
    if (read.status != ReadStatus::complete) return end_read(read, what);
    if (read.reply.code == 421) return end_reply(read.reply, what, Outcome::deferred);
    reply = std::move(read.reply);
    if (raw != nullptr) *raw = std::move(read.raw);
    return true;
}

bool Session::greeting() {
    stage_ = Stage::greeting;
    ReplyRead read = reader_.read(*transport_, limit(params_.timeouts.reply));
    if (read.status != ReadStatus::complete) return end_read(read, "the greeting");
    // A 5xx greeting says "not now, not me": like Postfix's default
    // (smtp_skip_5xx_greeting) it defers rather than bounces.
    const int klass = smtp::reply_class(read.reply.code);
    if (klass == 4 || klass == 5) return end_reply(read.reply, "the greeting", Outcome::deferred);
    if (read.reply.code != 220) return end_unexpected(read.reply, "the greeting");
    return true;
}

bool Session::hello(bool over_tls) {
    stage_ = Stage::hello;
    smtp::Reply reply;
    std::string raw;
    if (!command("EHLO " + params_.helo + "\r\n", "EHLO", reply, &raw)) return false;
    const int klass = smtp::reply_class(reply.code);
    if (klass == 4) return end_reply(reply, "EHLO", Outcome::deferred);
    if (klass != 2 && klass != 5) return end_unexpected(reply, "EHLO");

    // The module sees every complete EHLO reply, refusals included: it
    // decides whether a HELO may follow (not when TLS is required).
    const EhloDecision decision = conn_->ehlo(raw);
    if (decision.verdict != MTATLS_VERDICT_CONTINUE) {
        // STARTTLS required but not offered, a malformed capability list,
        // EHLO refused after STARTTLS: the module's TLS verdict.
        stage_ = Stage::tls;
        return end_module(decision.verdict, decision.reply, "EHLO");
    }
    if (decision.next != MTATLS_NEXT_PLAINTEXT && decision.next != MTATLS_NEXT_STARTTLS) {
        stage_ = Stage::local;
        return end_internal("4.3.0", "mtatls: EHLO gave an unknown next step");
    }
    if (over_tls && decision.next != MTATLS_NEXT_PLAINTEXT) {
        stage_ = Stage::local;
        return end_internal("4.3.0", "mtatls: EHLO asked for STARTTLS inside TLS");
    }
    if (klass == 5) {
        if (decision.next != MTATLS_NEXT_PLAINTEXT) {
            stage_ = Stage::local;
            return end_internal("4.3.0", "mtatls: EHLO asked for STARTTLS after EHLO was refused");
        }
        if (!command("HELO " + params_.helo + "\r\n", "HELO", reply)) return false;
        const int helo_class = smtp::reply_class(reply.code);
        if (helo_class == 4 || helo_class == 5) return end_reply(reply, "HELO", Outcome::deferred);
        if (helo_class != 2) return end_unexpected(reply, "HELO");
    }
    next_step_ = decision.next;
    return true;
}

bool Session::starttls() {
    // From here on nothing is sent in plaintext and the module decides
    // what happens to the connection.
    stage_ = Stage::tls;
    if (!send("STARTTLS\r\n", "STARTTLS")) return false;
    usable_ = false;
    ReplyRead read = reader_.read(*transport_, limit(params_.timeouts.reply));
    if (read.status != ReadStatus::complete && read.status != ReadStatus::malformed)
        return end_read(read, "STARTTLS");
    // Everything read since STARTTLS: the reply and whatever followed it
    // (or all of it when it does not parse); the module judges it.
    std::string bytes = std::move(read.raw);
    bytes += reader_.take_surplus();
    const TlsDecision begin = conn_->starttls_begin(fd_.get(), bytes);
    if (begin.verdict != MTATLS_VERDICT_CONTINUE) {
        result_.retry_plaintext = begin.retry_plaintext;
        return end_module(begin.verdict, begin.reply, "STARTTLS_BEGIN");
    }
    const Handshake handshake_end = handshake();
    if (handshake_end == Handshake::broken) return false;
    // FINISH also after a timeout: the module counts it as a failed
    // negotiation and applies the fallback rules to it.
    const TlsDecision finish = conn_->starttls_finish();
    if (finish.verdict != MTATLS_VERDICT_CONTINUE) {
        result_.retry_plaintext = finish.retry_plaintext;
        return end_module(finish.verdict, finish.reply, "STARTTLS_FINISH");
    }
    if (handshake_end == Handshake::timed_out)
        return end(Outcome::deferred, internal_code, "4.7.5",
                   "[internal] TLS negotiation failed (timeout)");
    tls_.emplace(*conn_, fd_.get());
    transport_ = &*tls_;
    reader_ = ReplyReader();
    usable_ = true;
    return true;
}

Session::Handshake Session::handshake() {
    const Deadline deadline = limit(params_.timeouts.handshake);
    for (;;) {
        const int step = conn_->starttls_step();
        if (step != MTATLS_STEP_WANT_READ && step != MTATLS_STEP_WANT_WRITE)
            return Handshake::finished;
        std::string error;
        const WaitResult waited =
            wait_fd(fd_.get(), step == MTATLS_STEP_WANT_READ ? POLLIN : POLLOUT, deadline, error);
        if (waited == WaitResult::timeout) return Handshake::timed_out;
        if (waited == WaitResult::error) {
            end_internal("4.4.2", "TLS negotiation failed (" + error + ")");
            return Handshake::broken;
        }
    }
}

bool Session::transaction() {
    stage_ = Stage::transaction;
    smtp::Reply reply;
    if (!command("MAIL FROM:<" + params_.sender + ">\r\n", "MAIL FROM", reply)) return false;
    if (reply.code / 100 == 3) return end_unexpected(reply, "MAIL FROM");
    if (smtp::reply_class(reply.code) != 2) return end_reply(reply, "MAIL FROM", Outcome::bounced);

    std::size_t accepted = 0;
    for (std::size_t i = 0; i < params_.recipients.size(); ++i) {
        const std::string& address = params_.recipients[i];
        if (!command("RCPT TO:<" + address + ">\r\n", "RCPT TO", reply)) return false;
        if (reply.code / 100 == 3) return end_unexpected(reply, "RCPT TO");
        if (smtp::reply_class(reply.code) == 2) {
            ++accepted; // the final result comes after the dot
            continue;
        }
        recipients_[i] = from_reply(address, reply, "RCPT TO", Outcome::bounced);
    }
    if (accepted == 0) {
        // Every recipient has its own result, which finish_recipients
        // combines; QUIT follows.
        ended_ = true;
        result_.stage = stage_;
        return false;
    }

    if (!command("DATA\r\n", "DATA", reply)) return false;
    if (reply.code != 354) {
        if (smtp::reply_class(reply.code) == 2 || reply.code / 100 == 3)
            return end_unexpected(reply, "DATA");
        return end_reply(reply, "DATA", Outcome::bounced);
    }
    // From the first byte of the message on, the server may end up with
    // it whatever it answers (or fails to answer).
    stage_ = Stage::message;
    if (!send(wire_, "the message")) return false;
    ReplyRead read = reader_.read(*transport_, limit(params_.timeouts.data_end));
    if (read.status != ReadStatus::complete) return end_read(read, "end of DATA");
    if (read.reply.code / 100 == 3) return end_unexpected(read.reply, "end of DATA");
    const RecipientResult data = from_reply({}, read.reply, "end of DATA", Outcome::bounced);
    if (read.reply.code == 421) usable_ = false;
    end(data.outcome, data.code, data.dsn, data.reason); // the result for every accepted recipient
    return data.outcome == Outcome::sent;
}

void Session::quit() {
    // Best effort: the result is decided already.
    const Deadline deadline = limit(params_.timeouts.quit);
    if (reader_.surplus().empty() &&
        transport_->write_all("QUIT\r\n", deadline, params_.timeouts.quit).status == IoStatus::ok)
        reader_.read(*transport_, deadline);
    if (tls_) tls_->shutdown(deadline);
}

void Session::dialogue() {
    if (!greeting()) return;
    if (!hello(false)) return;
    if (next_step_ == MTATLS_NEXT_STARTTLS) {
        if (!starttls()) return;
        if (!hello(true)) return;
    }
    transaction();
}

void Session::finish_recipients(AttemptResult& result) const {
    result.recipients.clear();
    for (std::size_t i = 0; i < params_.recipients.size(); ++i) {
        if (recipients_[i]) {
            result.recipients.push_back(*recipients_[i]);
            continue;
        }
        RecipientResult r;
        r.address = params_.recipients[i];
        r.outcome = result_.outcome;
        r.code = result_.code;
        r.dsn = result_.dsn;
        r.reason = result_.reason;
        result.recipients.push_back(std::move(r));
    }
    // Worst wins: any deferral defers the message, else any bounce bounces it.
    const auto worst = [&result](Outcome outcome) {
        for (const RecipientResult& r : result.recipients) {
            if (r.outcome != outcome) continue;
            result.outcome = outcome;
            result.code = r.code;
            result.dsn = r.dsn;
            result.reason = r.reason;
            return true;
        }
        return false;
    };
    if (!worst(Outcome::deferred) && !worst(Outcome::bounced)) worst(Outcome::sent);
}

void Session::collect_macros() {
    // Each name is looked up once; without a connection every value is "".
    result_.macros.clear();
    for (const std::string& name : params_.macro_names)
        result_.macros.emplace_back(name, conn_ ? conn_->macro(name.c_str()) : std::string());
    const auto value = [this](const char* name) -> std::string {
        for (const auto& [macro, text] : result_.macros)
            if (macro == name) return text;
        return conn_ ? conn_->macro(name) : std::string();
    };
    TlsFacts& tls = result_.tls;
    tls.used = value(macro_name::used);
    tls.policy = value(macro_name::policy);
    tls.verify_policy = value(macro_name::verify_policy);
    tls.protocol = value(macro_name::protocol);
    tls.cipher = value(macro_name::cipher);
    tls.alg_bits = value(macro_name::alg_bits);
    tls.use_bits = value(macro_name::use_bits);
    tls.verified = value(macro_name::verified);
    tls.issuer = value(macro_name::issuer);
    tls.subject = value(macro_name::subject);
    tls.verify_error = value(macro_name::verify_error);
    tls.tls_failure = value(macro_name::tls_failure);
    tls.achieved = value(macro_name::achieved);
}

AttemptResult Session::run() {
    result_.mx_name = params_.mx_name;
    result_.port = params_.port;
    result_.domain = params_.domain;
    result_.sender = params_.sender;

    stage_ = Stage::connect;
    Connected connected =
        params_.addresses.empty()
            ? connect_tcp(params_.host, params_.port, params_.timeouts.connect, attempt_deadline_)
            : connect_addresses(params_.host, params_.addresses, params_.port,
                                params_.timeouts.connect, attempt_deadline_);
    if (!connected.fd.valid()) {
        result_.address = connected.last_address;
        end_internal(connected.resolve_failed ? "4.4.3" : "4.4.1", connected.error);
    } else {
        fd_ = std::move(connected.fd);
        result_.address = connected.address;
        mtatls_conn_params conn_params{};
        conn_params.struct_size = sizeof conn_params;
        conn_params.policy.struct_size = sizeof conn_params.policy;
        conn_params.policy.binding_group = params_.binding_group.c_str();
        conn_params.policy.binding = params_.binding.c_str();
        conn_params.policy.domain = params_.domain.c_str();
        conn_params.mx_host = params_.mx_name.c_str();
        conn_params.peer_address = result_.address.c_str();
        conn_params.peer_port = params_.port;
        conn_params.flags = params_.conn_flags;
        mtatls_conn* conn = nullptr;
        mtatls_reply reply = empty_reply();
        const int verdict = ModuleConnection::setup(hooks_, conn_params, conn, reply);
        if (verdict != MTATLS_VERDICT_CONTINUE) {
            stage_ = Stage::local;
            end_module(verdict, reply, "CONN_SETUP");
        } else {
            conn_.emplace(hooks_, conn);
            plain_.emplace(fd_.get());
            transport_ = &*plain_;
            usable_ = true;
            dialogue();
            if (usable_) quit();
        }
    }
    collect_macros();
    // CONN_END before the socket closes (the module may still refer to
    // it), then the socket.
    tls_.reset();
    plain_.reset();
    conn_.reset();
    fd_.reset();

    if (!ended_) {
        stage_ = Stage::local;
        end_internal("4.3.0", "attempt ended without a result");
    }
    AttemptResult result = result_;
    finish_recipients(result);
    result.delay_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    result.time = std::chrono::system_clock::now();
    return result;
}

} // namespace

std::string enhanced_code(std::string_view line, int reply_class) {
    // class "." subject "." detail, subject and detail 1-3 digits (RFC 3463).
    if (line.size() < 5 || line[0] != static_cast<char>('0' + reply_class) || line[1] != '.')
        return {};
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t begin = i;
        while (i < line.size() && is_digit(line[i]) && i - begin < 4)
            ++i;
        if (i == begin || i - begin > 3) return {};
        if (part == 0) {
            if (i >= line.size() || line[i] != '.') return {};
            ++i;
        }
    }
    if (i < line.size() && line[i] != ' ') return {};
    return std::string(line.substr(0, i));
}

AttemptResult run_attempt(const ConnectionHooks& hooks, const AttemptParams& params,
                          std::string_view wire_message) {
    Session session(hooks, params, wire_message);
    return session.run();
}

} // namespace mtatls::host
