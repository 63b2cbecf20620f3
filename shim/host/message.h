// message.h - the message as it goes on the wire after DATA.
//
// A message arrives from the MTA with Unix line ends (or mixed ones); SMTP
// needs CRLF and dot-stuffing (RFC 5321 §4.5.2), and the data ends with
// CRLF "." CRLF.  Doing this once, before connecting, means the session
// only ever writes prepared bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mtatls::host {

// 64 MiB: well above what mail servers accept (typically 10-50 MB) and
// small enough to hold in memory together with its wire form.
inline constexpr std::size_t default_max_message_size = std::size_t{64} * 1024 * 1024;

// The DATA payload for `message`: every bare LF, bare CR and CRLF becomes
// CRLF, a line starting with "." gets another ".", a last line without a
// line end gets one, and the terminating ".\r\n" is appended.
std::string to_wire(std::string_view message);

struct MessageInput {
    std::optional<std::string> text; // nullopt on error
    bool too_large = false;
    std::string error;
};

// Reads all of `fd` (until EOF) into memory, refusing more than `max_size`
// bytes (without reading much beyond that).
MessageInput read_message(int fd, std::size_t max_size = default_max_message_size);

} // namespace mtatls::host
