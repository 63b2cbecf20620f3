// smtp_sink_stream.h - one connection's byte stream: plaintext on the socket,
// then, after STARTTLS, TLS over the same socket. Reads whole lines from a
// buffer so pipelined commands and message lines come out one at a time.
//
// The socket is blocking with SO_RCVTIMEO/SO_SNDTIMEO set by the acceptor,
// so a read that times out simply fails and `timed_out()` says why.
#pragma once

#include "smtp_sink_tls.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::sink {

class Stream {
  public:
    enum class Read {
        line,     // `line` holds one line with its LF (and CR, if any)
        too_long, // a line longer than the limit was read and thrown away
        closed,   // end of stream, error or timeout
    };

    explicit Stream(int fd) : fd_(fd) {}

    Read read_line(std::string& line, std::size_t limit);
    bool write(std::string_view bytes);

    // Server handshake on the socket. Anything the client sent after the
    // STARTTLS line is thrown away first (CVE-2011-0411 command injection).
    bool start_tls(SSL_CTX* ctx, std::string& error);
    // Sends close_notify without waiting for the peer's.
    void end_tls();

    SSL* ssl() const { return ssl_.get(); }
    bool timed_out() const { return timed_out_; }

  private:
    bool fill();

    int fd_;
    SslPtr ssl_;
    std::string buffer_;
    std::size_t start_ = 0; // first unread byte in buffer_
    bool timed_out_ = false;
};

} // namespace mtatls::sink
