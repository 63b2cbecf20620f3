// socketmap_protocol.cpp - socketmap requests and replies.
#include "socketmap_protocol.h"

#include "text/log_safe.h"

#include <algorithm>

namespace mtatls::postfix {
namespace {

bool has_control(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

} // namespace

bool parse_request(std::string_view payload, Request& request, std::string& error) {
    const auto space = payload.find(' ');
    if (space == std::string_view::npos) {
        error = "malformed request: no space between name and key";
        return false;
    }
    request.name = payload.substr(0, space);
    request.key = payload.substr(space + 1);
    if (request.name.empty()) {
        error = "malformed request: empty name";
        return false;
    }
    if (request.key.empty()) {
        error = "malformed request: empty key";
        return false;
    }
    if (has_control(request.name) || has_control(request.key)) {
        error = "malformed request: control character in name or key";
        return false;
    }
    return true;
}

std::string make_reply(ReplyStatus status, std::string_view text) {
    std::string reply;
    switch (status) {
    case ReplyStatus::ok: reply = "OK "; break;
    case ReplyStatus::notfound: return "NOTFOUND ";
    case ReplyStatus::temp: reply = "TEMP "; break;
    case ReplyStatus::timeout: reply = "TIMEOUT "; break;
    case ReplyStatus::perm: reply = "PERM "; break;
    }
    reply += text::is_log_safe(text) ? std::string(text) : text::log_safe(text);
    if (reply.size() > max_reply_length)
        return "TEMP mtatls-policyd: reply longer than Postfix's limit of " +
               std::to_string(max_reply_length) + " bytes";
    return reply;
}

} // namespace mtatls::postfix
