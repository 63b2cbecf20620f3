// smtp_sink_session.h - the SMTP server dialogue on one accepted connection,
// and the state all connections share (options, TLS context, Maildir, counts).
#pragma once

#include "smtp_sink_maildir.h"
#include "smtp_sink_options.h"
#include "smtp_sink_tls.h"

#include <atomic>
#include <cstdint>
#include <string>

namespace mtatls::sink {

struct Shared {
    Shared(const Options& o, SSL_CTX* t, const Maildir* m, int w)
        : options(o), tls(t), maildir(m), wake_fd(w) {}

    const Options& options;
    SSL_CTX* const tls;           // null: no certificate, STARTTLS never offered
    const Maildir* const maildir; // null: count and discard
    const int wake_fd;            // written to once --max-messages is reached
    std::atomic<std::uint64_t> next_id{1};
    std::atomic<std::uint64_t> accepted{0};

    bool limit_reached() const {
        return options.max_messages != 0 && accepted.load() >= options.max_messages;
    }
};

// Runs the dialogue until QUIT, disconnect, timeout or too many errors.
// Does not close `fd`: the caller owns it.
void run_session(Shared& shared, int fd, const std::string& peer);

} // namespace mtatls::sink
