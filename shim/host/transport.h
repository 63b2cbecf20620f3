// transport.h - the byte stream under the SMTP session: the plain socket
// before STARTTLS, the module's TLS_READ/TLS_WRITE after it.
//
// Both are non-blocking underneath and wait with poll(2), so each call is
// bounded by the deadline it is given.  Reads are bounded as a whole (a
// reply must be complete by its deadline, however slowly it drips); writes
// are bounded per wait without progress (`idle`) and as a whole by
// `deadline`, so a large message on a slow link is not cut short but a
// zero TCP window is.
#pragma once

#include "deadline.h"
#include "hooks.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::host {

enum class IoStatus {
    ok,
    eof,     // the peer closed (TLS: with close_notify)
    timeout, // the deadline passed
    error    // anything else; `error` says what
};

struct IoResult {
    IoStatus status = IoStatus::ok;
    std::size_t bytes = 0;
    std::string error;
};

class Transport {
  public:
    virtual ~Transport() = default;
    // Reads at least one byte into buffer[0..size) unless the result is
    // not ok.
    virtual IoResult read_some(char* buffer, std::size_t size, const Deadline& deadline) = 0;
    // Writes all of `data`.
    virtual IoResult write_all(std::string_view data, const Deadline& deadline,
                               Deadline::Clock::duration idle) = 0;
    [[nodiscard]] virtual bool is_tls() const = 0;
};

// Plaintext TCP: recv/send with MSG_NOSIGNAL, so a closed peer is an
// EPIPE error and never a SIGPIPE.
class PlainTransport final : public Transport {
  public:
    explicit PlainTransport(int fd) : fd_(fd) {}
    IoResult read_some(char* buffer, std::size_t size, const Deadline& deadline) override;
    IoResult write_all(std::string_view data, const Deadline& deadline,
                       Deadline::Clock::duration idle) override;
    [[nodiscard]] bool is_tls() const override { return false; }

  private:
    int fd_;
};

// TLS through the module: TLS_READ/TLS_WRITE, polling `fd` for whatever
// the module wants next (a TLS read may need to write, and the reverse).
class TlsTransport final : public Transport {
  public:
    TlsTransport(ModuleConnection& conn, int fd) : conn_(&conn), fd_(fd) {}
    IoResult read_some(char* buffer, std::size_t size, const Deadline& deadline) override;
    IoResult write_all(std::string_view data, const Deadline& deadline,
                       Deadline::Clock::duration idle) override;
    [[nodiscard]] bool is_tls() const override { return true; }
    // TLS_SHUTDOWN (close_notify), waiting as the module asks until
    // `deadline`.  Best effort: the result only says whether it finished.
    bool shutdown(const Deadline& deadline);

  private:
    ModuleConnection* conn_;
    int fd_;
};

} // namespace mtatls::host
