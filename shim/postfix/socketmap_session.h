// socketmap_session.h - one client connection of the socketmap server, as
// bytes in and bytes out, without a socket: the server moves bytes between
// the socket and this object, the tests and the fuzzer feed it directly.
//
// Postfix keeps a connection open and sends one request after another; a
// client may also pipeline several.  Replies go out in request order.
// A well-framed request that is not "NAME KEY" is answered PERM and the
// connection stays usable.  A framing error (not a netstring) or a request
// over the size limit is answered with one PERM and then the connection is
// closed: the stream can no longer be split into requests reliably.
#pragma once

#include "netstring.h"
#include "socketmap_protocol.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::postfix {

// Answers one well-formed request with a reply payload (make_reply()).
class RequestHandler {
  public:
    virtual ~RequestHandler() = default;
    virtual std::string answer(const Request& request) = 0;
    // A well-framed payload that is not "NAME KEY" was answered PERM
    // (`reason`); for the log.  Framing errors are the server's to log.
    virtual void rejected(std::string_view /*payload*/, std::string_view /*reason*/) {}
};

class SocketmapSession {
  public:
    SocketmapSession(std::size_t max_request, RequestHandler& handler)
        : decoder_(max_request), handler_(handler) {}

    // Consumes `bytes`; appends the encoded replies to `out`.  After a
    // framing error every further byte is ignored.
    void receive(std::string_view bytes, std::string& out);

    // True once a framing error was answered: flush `out`, then close.
    [[nodiscard]] bool closing() const { return closing_; }
    // Why the session is closing (for the log).
    [[nodiscard]] const std::string& close_reason() const { return close_reason_; }
    [[nodiscard]] std::size_t requests() const { return requests_; }
    // Bytes of an incomplete request held back.
    [[nodiscard]] std::size_t pending_input() const { return decoder_.buffered(); }

  private:
    NetstringDecoder decoder_;
    RequestHandler& handler_;
    bool closing_ = false;
    std::string close_reason_;
    std::size_t requests_ = 0;
};

} // namespace mtatls::postfix
