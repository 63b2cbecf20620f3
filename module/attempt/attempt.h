// attempt.h - one delivery attempt as the module sees it: the EHLO
// decision, the STARTTLS reply check, the handshake, the verdict on the
// peer certificate, TLS I/O, and the facts for the logging macros.
//
// The host drives it through the ABI hooks in the order EHLO ->
// STARTTLS begin -> step... -> finish -> EHLO -> read/write -> shutdown;
// a call out of order ends the attempt as a temporary failure instead of
// doing something the policy did not allow.
#pragma once

#include "attempt/macros.h"
#include "attempt/outcome.h"
#include "module_state.h"
#include "tls/client_session.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mtatls::attempt {

struct Result {
    Action action = Action::tempfail;
    FailureReply reply; // when action is tempfail or retry_plaintext
};

class Attempt {
  public:
    Attempt(std::unique_ptr<Connection> connection, bool plaintext_retry);

    // A complete EHLO reply: decides plaintext, STARTTLS or failure.  After
    // the handshake it checks the new reply and answers use_tls.
    Result ehlo(std::string_view reply_bytes, bool& starttls_advertised);
    // Everything the host read after sending STARTTLS; takes over `fd`.
    Result starttls_begin(int fd, std::string_view reply_bytes);
    tls::Progress step();
    Result finish();

    tls::Io read(void* buffer, std::size_t size, std::size_t& done);
    tls::Io write(const void* buffer, std::size_t size, std::size_t& done);
    tls::Io shutdown();

    // The value of macro `name`, made log-safe (macros.h), or nullopt for
    // a name the module does not know.  Facts not (yet) known are "".
    [[nodiscard]] std::optional<std::string> macro(std::string_view name) const;
    [[nodiscard]] const AttemptFacts& facts() const { return facts_; }

    [[nodiscard]] const Connection& connection() const { return *connection_; }

  private:
    enum class Stage {
        greeting,
        starttls_decided,
        handshaking,
        handshake_over,
        tls,
        plaintext,
        over
    };

    Result fail(Event event, const std::string& detail);
    Result decide_and_record(Event event, const std::string& detail);
    [[nodiscard]] config::TlsMode tls_mode() const { return connection_->policy.tls(); }

    void record_failure(Event event, const std::string& text);

    std::unique_ptr<Connection> connection_;
    bool plaintext_retry_;
    Stage stage_ = Stage::greeting;
    bool handshake_failed_ = false;
    tls::ClientSession session_;
    AttemptFacts facts_; // what the macros report
};

} // namespace mtatls::attempt
