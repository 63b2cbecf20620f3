// netstring.cpp - netstring encoding and the strict incremental decoder.
#include "netstring.h"

#include <cctype>

namespace mtatls::postfix {

void netstring_append(std::string& out, std::string_view payload) {
    out += std::to_string(payload.size());
    out += ':';
    out += payload;
    out += ',';
}

std::string netstring_encode(std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + 12);
    netstring_append(out, payload);
    return out;
}

NetstringDecoder::Status NetstringDecoder::fail(Status status, std::string error) {
    dead_ = status;
    error_ = std::move(error);
    buffer_.clear();
    offset_ = 0;
    return status;
}

void NetstringDecoder::compact() {
    if (offset_ == 0) return;
    buffer_.erase(0, offset_);
    offset_ = 0;
}

NetstringDecoder::Status NetstringDecoder::next() {
    if (dead_ != Status::need_more) return dead_;
    payload_.clear();
    const std::string_view rest = std::string_view(buffer_).substr(offset_);
    // The length: decimal digits, no leading zero (except "0" itself), and
    // never more digits than the limit can have: the value is checked as
    // it grows, so a run of digits cannot overflow anything.
    std::size_t length = 0;
    std::size_t i = 0;
    for (; i < rest.size() && rest[i] != ':'; ++i) {
        const unsigned char c = static_cast<unsigned char>(rest[i]);
        if (std::isdigit(c) == 0)
            return fail(Status::malformed,
                        i == 0 ? "a netstring must start with its length in decimal digits"
                               : "the netstring length is followed by something other than ':'");
        if (i == 1 && rest[0] == '0')
            return fail(Status::malformed, "the netstring length has a leading zero");
        length = length * 10 + static_cast<std::size_t>(c - '0');
        if (length > limit_)
            return fail(Status::too_long, "request longer than " + std::to_string(limit_) +
                                              " bytes (the netstring announces at least " +
                                              std::to_string(length) + ")");
    }
    if (i == rest.size()) {
        compact();
        return Status::need_more;
    }
    if (i == 0) return fail(Status::malformed, "the netstring has no length before ':'");
    const std::size_t start = i + 1;
    if (rest.size() < start + length + 1) {
        compact();
        return Status::need_more;
    }
    if (rest[start + length] != ',')
        return fail(Status::malformed, "the netstring payload is not followed by ','");
    payload_.assign(rest.substr(start, length));
    offset_ += start + length + 1;
    if (offset_ == buffer_.size()) {
        buffer_.clear();
        offset_ = 0;
    }
    return Status::payload;
}

} // namespace mtatls::postfix
