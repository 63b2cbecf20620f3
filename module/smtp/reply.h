// reply.h - a strict, bounded parser for SMTP replies (RFC 5321 §4.2).
//
// Shared by the module (EHLO and STARTTLS replies) and by the shim's
// delivery command (every other reply), so both sides agree byte for byte
// on where a reply ends.  Strict on purpose: a confused session is ended,
// not guessed (CRLF only, one code per reply, no control bytes, bounded
// line length and line count).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::smtp {

// RFC 5321 allows 512 octets per reply line; real servers send longer
// EHLO and error texts, so we accept four times that and no more.
inline constexpr std::size_t max_reply_line = 2048;
// Far more than any real EHLO reply (Postfix sends about a dozen lines).
inline constexpr std::size_t max_reply_lines = 256;

enum class ReplyState { incomplete, complete, malformed };

struct Reply {
    int code = 0;
    // The text of each line after "NNN-" or "NNN " ("" for a bare "NNN").
    std::vector<std::string> lines;
};

struct ReplyParse {
    ReplyState state = ReplyState::incomplete;
    Reply reply;
    std::size_t consumed = 0; // bytes of the complete reply, CRLFs included
    std::string error;        // why it is malformed, for the log
};

// Parses the first reply in `bytes`.  `incomplete` means "read more";
// once more than max_reply_lines lines or an over-long line are seen the
// answer is `malformed` even though more bytes might follow.
ReplyParse parse_reply(std::string_view bytes);

// The first digit class of a code: 2, 3, 4 or 5 (0 for anything else).
inline int reply_class(int code) { return code >= 200 && code <= 599 ? code / 100 : 0; }

} // namespace mtatls::smtp
