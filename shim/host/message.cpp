// message.cpp - line-end normalisation, dot-stuffing and reading stdin.
#include "message.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mtatls::host {

std::string to_wire(std::string_view message) {
    std::string out;
    // Room for the usual case (LF -> CRLF on short lines) without regrowth.
    out.reserve(message.size() + message.size() / 32 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        if (line_start && c == '.') out += '.';
        line_start = false;
        if (c == '\r') {
            // CR LF, or a bare CR: either way one CRLF.
            if (i + 1 < message.size() && message[i + 1] == '\n') ++i;
            out += "\r\n";
            line_start = true;
        } else if (c == '\n') {
            out += "\r\n";
            line_start = true;
        } else {
            out += c;
        }
    }
    if (!line_start) out += "\r\n";
    out += ".\r\n";
    return out;
}

MessageInput read_message(int fd, std::size_t max_size) {
    MessageInput input;
    std::string text;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            input.error = std::string("cannot read the message: ") + std::strerror(errno);
            return input;
        }
        if (text.size() + static_cast<std::size_t>(n) > max_size) {
            input.too_large = true;
            input.error = "message larger than " + std::to_string(max_size) + " bytes";
            return input;
        }
        text.append(buffer, static_cast<std::size_t>(n));
    }
    input.text = std::move(text);
    return input;
}

} // namespace mtatls::host
