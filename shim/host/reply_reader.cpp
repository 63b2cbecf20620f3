// reply_reader.cpp - whole replies from a byte stream, surplus kept.
#include "reply_reader.h"

#include <array>

namespace mtatls::host {

bool ReplyReader::worth_parsing(std::size_t old_size) const {
    // A segment that ended in CR: the next byte decides whether the line
    // is well formed, so look again now (fuzzing finding reader-bare-cr).
    if (old_size > 0 && pending_[old_size - 1] == '\r') return true;
    for (std::size_t i = old_size; i < pending_.size(); ++i) {
        const auto c = static_cast<unsigned char>(pending_[i]);
        if (c < 0x20 || c == 0x7f) return true; // LF, CR, or a byte the parser refuses
    }
    const std::size_t last_lf = pending_.rfind('\n');
    const std::size_t line_start = last_lf == std::string::npos ? 0 : last_lf + 1;
    return pending_.size() - line_start > smtp::max_reply_line;
}

ReplyRead ReplyReader::read(Transport& transport, const Deadline& deadline) {
    ReplyRead result;
    bool parse = !pending_.empty();
    std::array<char, 4096> buffer{};
    for (;;) {
        if (parse) {
            smtp::ReplyParse parsed = smtp::parse_reply(pending_);
            if (parsed.state == smtp::ReplyState::complete) {
                result.status = ReadStatus::complete;
                result.reply = std::move(parsed.reply);
                result.raw = pending_.substr(0, parsed.consumed);
                pending_.erase(0, parsed.consumed);
                return result;
            }
            if (parsed.state == smtp::ReplyState::malformed) {
                result.status = ReadStatus::malformed;
                result.error = std::move(parsed.error);
                result.raw = std::move(pending_);
                pending_.clear();
                return result;
            }
        }
        const IoResult io = transport.read_some(buffer.data(), buffer.size(), deadline);
        switch (io.status) {
        case IoStatus::ok: {
            const std::size_t old_size = pending_.size();
            pending_.append(buffer.data(), io.bytes);
            parse = worth_parsing(old_size);
            continue;
        }
        case IoStatus::timeout: result.status = ReadStatus::timeout; break;
        case IoStatus::eof: result.status = ReadStatus::eof; break;
        case IoStatus::error:
            result.status = ReadStatus::error;
            result.error = io.error;
            break;
        }
        result.raw = std::move(pending_);
        pending_.clear();
        return result;
    }
}

std::string ReplyReader::take_surplus() {
    std::string surplus = std::move(pending_);
    pending_.clear();
    return surplus;
}

} // namespace mtatls::host
