// smtp_sink_stream.cpp - buffered line reads and writes, plaintext or TLS.
#include "smtp_sink_stream.h"

#include <openssl/err.h>

#include <sys/socket.h>

#include <cerrno>

namespace mtatls::sink {

namespace {

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

} // namespace

Stream::Read Stream::read_line(std::string& line, std::size_t limit) {
    bool discarding = false;
    std::size_t scanned = start_;
    for (;;) {
        const auto newline = buffer_.find('\n', scanned);
        if (newline != std::string::npos) {
            const std::size_t end = newline + 1;
            const bool fits = !discarding && end - start_ <= limit;
            if (fits) line.assign(buffer_, start_, end - start_);
            start_ = end;
            if (start_ == buffer_.size()) {
                buffer_.clear();
                start_ = 0;
            } else if (start_ > 65536) {
                buffer_.erase(0, start_);
                start_ = 0;
            }
            return fits ? Read::line : Read::too_long;
        }
        // Memory stays bounded: an overlong line is dropped as it arrives.
        if (buffer_.size() - start_ > limit) {
            discarding = true;
            buffer_.clear();
            start_ = 0;
        }
        scanned = buffer_.size();
        if (!fill()) return Read::closed;
    }
}

bool Stream::fill() {
    char chunk[16384];
    std::size_t got = 0;
    if (ssl_) {
        ERR_clear_error();
        if (SSL_read_ex(ssl_.get(), chunk, sizeof chunk, &got) != 1) {
            const int reason = SSL_get_error(ssl_.get(), 0);
            timed_out_ = reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE ||
                         (reason == SSL_ERROR_SYSCALL && would_block());
            ERR_clear_error();
            return false;
        }
    } else {
        ssize_t n = 0;
        do
            n = ::recv(fd_, chunk, sizeof chunk, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            timed_out_ = n < 0 && would_block();
            return false;
        }
        got = static_cast<std::size_t>(n);
    }
    buffer_.append(chunk, got);
    return true;
}

bool Stream::write(std::string_view bytes) {
    if (ssl_) {
        std::size_t written = 0;
        ERR_clear_error();
        const bool ok = SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &written) == 1;
        if (!ok) ERR_clear_error();
        return ok;
    }
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool Stream::start_tls(SSL_CTX* ctx, std::string& error) {
    buffer_.clear();
    start_ = 0;
    ERR_clear_error();
    ssl_.reset(SSL_new(ctx));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) {
        error = openssl_errors();
        ssl_.reset();
        return false;
    }
    const int result = SSL_accept(ssl_.get());
    if (result == 1) return true;
    switch (SSL_get_error(ssl_.get(), result)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: error = "timeout"; break;
    case SSL_ERROR_SYSCALL: error = would_block() ? "timeout" : "connection lost"; break;
    default: error = openssl_errors();
    }
    ssl_.reset(); // OpenSSL has already sent its alert
    return false;
}

void Stream::end_tls() {
    if (!ssl_) return;
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
}

} // namespace mtatls::sink
