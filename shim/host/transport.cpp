// transport.cpp - plaintext and module-TLS byte streams with deadlines.
#include "transport.h"

#include "socket.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace mtatls::host {
namespace {

IoResult failed(IoStatus status, std::string error = {}) {
    IoResult result;
    result.status = status;
    result.error = std::move(error);
    return result;
}

// Waits for `events` and maps the outcome to an IoResult (ok = go on).
IoResult wait_for(int fd, short events, const Deadline& deadline) {
    std::string error;
    switch (wait_fd(fd, events, deadline, error)) {
    case WaitResult::ready: return {};
    case WaitResult::timeout: return failed(IoStatus::timeout);
    case WaitResult::error: return failed(IoStatus::error, error);
    }
    return failed(IoStatus::error, "unexpected wait result");
}

} // namespace

IoResult PlainTransport::read_some(char* buffer, std::size_t size, const Deadline& deadline) {
    for (;;) {
        const ssize_t n = ::recv(fd_, buffer, size, MSG_DONTWAIT);
        if (n > 0) {
            IoResult result;
            result.bytes = static_cast<std::size_t>(n);
            return result;
        }
        if (n == 0) return failed(IoStatus::eof);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return failed(IoStatus::error, std::string("read: ") + std::strerror(errno));
        if (IoResult waited = wait_for(fd_, POLLIN, deadline); waited.status != IoStatus::ok)
            return waited;
    }
}

IoResult PlainTransport::write_all(std::string_view data, const Deadline& deadline,
                                   Deadline::Clock::duration idle) {
    std::size_t sent = 0;
    Deadline stall = earliest(Deadline::after(idle), deadline);
    while (sent < data.size()) {
        const ssize_t n =
            ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            stall = earliest(Deadline::after(idle), deadline);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return failed(IoStatus::error, std::string("write: ") + std::strerror(errno));
        if (IoResult waited = wait_for(fd_, POLLOUT, stall); waited.status != IoStatus::ok)
            return waited;
    }
    IoResult result;
    result.bytes = sent;
    return result;
}

IoResult TlsTransport::read_some(char* buffer, std::size_t size, const Deadline& deadline) {
    for (;;) {
        std::size_t done = 0;
        switch (conn_->tls_read(buffer, size, done)) {
        case MTATLS_IO_OK: {
            // A success without data would make this loop spin.
            if (done == 0 || done > size)
                return failed(IoStatus::error, "TLS read returned OK with no data");
            IoResult result;
            result.bytes = done;
            return result;
        }
        case MTATLS_IO_WANT_READ:
            if (IoResult waited = wait_for(fd_, POLLIN, deadline); waited.status != IoStatus::ok)
                return waited;
            break;
        case MTATLS_IO_WANT_WRITE:
            if (IoResult waited = wait_for(fd_, POLLOUT, deadline); waited.status != IoStatus::ok)
                return waited;
            break;
        case MTATLS_IO_EOF: return failed(IoStatus::eof);
        default: return failed(IoStatus::error, "TLS read failed");
        }
    }
}

IoResult TlsTransport::write_all(std::string_view data, const Deadline& deadline,
                                 Deadline::Clock::duration idle) {
    std::size_t sent = 0;
    Deadline stall = earliest(Deadline::after(idle), deadline);
    while (sent < data.size()) {
        std::size_t done = 0;
        const int status = conn_->tls_write(data.data() + sent, data.size() - sent, done);
        switch (status) {
        case MTATLS_IO_OK:
            if (done == 0 || done > data.size() - sent)
                return failed(IoStatus::error, "TLS write returned OK without progress");
            sent += done;
            stall = earliest(Deadline::after(idle), deadline);
            break;
        case MTATLS_IO_WANT_READ:
        case MTATLS_IO_WANT_WRITE: {
            // Part of the buffer may have gone out already; the ABI says
            // to repeat with the bytes that remain.
            sent += done <= data.size() - sent ? done : 0;
            const short events = status == MTATLS_IO_WANT_READ ? POLLIN : POLLOUT;
            if (IoResult waited = wait_for(fd_, events, stall); waited.status != IoStatus::ok)
                return waited;
            break;
        }
        case MTATLS_IO_EOF: return failed(IoStatus::eof);
        default: return failed(IoStatus::error, "TLS write failed");
        }
    }
    IoResult result;
    result.bytes = sent;
    return result;
}

bool TlsTransport::shutdown(const Deadline& deadline) {
    for (;;) {
        const int status = conn_->tls_shutdown();
        if (status == MTATLS_IO_OK) return true;
        if (status != MTATLS_IO_WANT_READ && status != MTATLS_IO_WANT_WRITE) return false;
        if (wait_for(fd_, status == MTATLS_IO_WANT_READ ? POLLIN : POLLOUT, deadline).status !=
            IoStatus::ok)
            return false;
    }
}

} // namespace mtatls::host
