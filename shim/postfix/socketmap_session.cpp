// socketmap_session.cpp - requests in, replies out (see socketmap_session.h).
#include "socketmap_session.h"

namespace mtatls::postfix {

void SocketmapSession::receive(std::string_view bytes, std::string& out) {
    if (closing_) return;
    decoder_.feed(bytes);
    for (;;) {
        switch (decoder_.next()) {
        case NetstringDecoder::Status::need_more: return;
        case NetstringDecoder::Status::payload: {
            ++requests_;
            Request request;
            std::string error;
            if (!parse_request(decoder_.payload(), request, error)) {
                handler_.rejected(decoder_.payload(), error);
                netstring_append(out, make_reply(ReplyStatus::perm, error));
                break;
            }
            std::string reply = handler_.answer(request);
            // The handler builds replies with make_reply(), which keeps to
            // Postfix's limit; a reply over it would make Postfix drop the
            // connection, so check once more here.
            if (reply.size() > max_reply_length)
                reply = make_reply(ReplyStatus::temp, "mtatls-policyd: reply too long");
            netstring_append(out, reply);
            break;
        }
        case NetstringDecoder::Status::malformed:
            closing_ = true;
            close_reason_ = "malformed request: " + decoder_.error();
            netstring_append(out, make_reply(ReplyStatus::perm, close_reason_));
            return;
        case NetstringDecoder::Status::too_long:
            closing_ = true;
            close_reason_ = decoder_.error();
            netstring_append(out, make_reply(ReplyStatus::perm, close_reason_));
            return;
        }
    }
}

} // namespace mtatls::postfix
