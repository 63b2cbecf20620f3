// reply.cpp - the strict SMTP reply parser (see reply.h for the rules).
#include "reply.h"

namespace mtatls::smtp {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Text may hold any printable byte, TAB, and bytes >= 0x80 (some servers
// send UTF-8 in their greeting).  NUL, other controls and DEL are refused:
// they exist only to confuse parsers and log readers.
bool acceptable_text_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

ReplyParse malformed(std::string why) {
    ReplyParse result;
    result.state = ReplyState::malformed;
    result.error = std::move(why);
    return result;
}

} // namespace

ReplyParse parse_reply(std::string_view bytes) {
    ReplyParse result;
    std::size_t start = 0;
    for (;;) {
        if (result.reply.lines.size() == max_reply_lines)
            return malformed("reply has more than " + std::to_string(max_reply_lines) + " lines");
        const std::size_t lf = bytes.find('\n', start);
        if (lf == std::string_view::npos) {
            // Judge what we have so far, so an endless line cannot grow
            // the host's buffer without bound.
            if (bytes.size() - start > max_reply_line)
                return malformed("reply line longer than " + std::to_string(max_reply_line) +
                                 " bytes");
            for (std::size_t i = start; i < bytes.size(); ++i) {
                const auto c = static_cast<unsigned char>(bytes[i]);
                if (!acceptable_text_byte(c) && !(c == '\r' && i + 1 == bytes.size()))
                    return malformed("control byte in reply");
            }
            return result; // incomplete
        }
        if (lf == start || bytes[lf - 1] != '\r') return malformed("reply line not ended by CRLF");
        const std::string_view line = bytes.substr(start, lf - 1 - start);
        if (line.size() > max_reply_line)
            return malformed("reply line longer than " + std::to_string(max_reply_line) + " bytes");
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
            return malformed("reply line does not start with a three-digit code");
        const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (reply_class(code) == 0 || line[1] > '5')
            return malformed("reply code " + std::string(line.substr(0, 3)) + " out of range");
        if (!result.reply.lines.empty() && code != result.reply.code)
            return malformed("reply lines carry different codes (" +
                             std::to_string(result.reply.code) + " then " + std::to_string(code) +
                             ")");
        result.reply.code = code;
        bool last = true;
        std::string_view text;
        if (line.size() > 3) {
            if (line[3] == '-')
                last = false;
            else if (line[3] != ' ')
                return malformed("reply code not followed by space or hyphen");
            text = line.substr(4);
        }
        for (char c : text)
            if (!acceptable_text_byte(static_cast<unsigned char>(c)))
                return malformed("control byte in reply");
        result.reply.lines.emplace_back(text);
        start = lf + 1;
        if (last) {
            result.state = ReplyState::complete;
            result.consumed = start;
            return result;
        }
    }
}

} // namespace mtatls::smtp
