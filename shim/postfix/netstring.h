// netstring.h - the framing of Postfix's socketmap protocol: D. J.
// Bernstein's netstrings ("5:hello,"), encoded, and decoded incrementally
// from a byte stream with a hard limit on the payload size.
//
// The decoder is strict: a length of decimal digits without leading zeros,
// then ':', the payload, then ','.  Anything else is a framing error after
// which the stream cannot be trusted to resynchronise, so the caller
// answers once and closes the connection.  A payload longer than the limit
// is refused as soon as its length is read, before a byte of it is
// buffered, so a client cannot make the daemon hold more than `limit`
// bytes per connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::postfix {

// "LENGTH:PAYLOAD,"
std::string netstring_encode(std::string_view payload);
void netstring_append(std::string& out, std::string_view payload);

class NetstringDecoder {
  public:
    enum class Status {
        need_more, // no complete netstring yet
        payload,   // payload() holds one complete payload
        malformed, // framing error; error() says what; the stream is dead
        too_long   // announced length over the limit; the stream is dead
    };

    explicit NetstringDecoder(std::size_t limit) : limit_(limit) {}

    // Adds bytes from the stream.  Only bytes of the netstring being read
    // are kept; call next() until it returns need_more before feeding more
    // to keep the buffer small.
    void feed(std::string_view bytes) { buffer_.append(bytes); }

    // The next event.  After malformed or too_long every call repeats it.
    Status next();

    // The payload of the last `payload` result (valid until the next call).
    [[nodiscard]] std::string_view payload() const { return payload_; }
    // What was wrong, for malformed and too_long.
    [[nodiscard]] const std::string& error() const { return error_; }
    // Bytes fed but not yet consumed.
    [[nodiscard]] std::size_t buffered() const { return buffer_.size() - offset_; }
    [[nodiscard]] std::size_t limit() const { return limit_; }

  private:
    Status fail(Status status, std::string error);
    void compact(); // drops consumed bytes from the buffer

    std::size_t limit_;
    std::string buffer_;
    std::size_t offset_ = 0; // start of the unconsumed bytes in buffer_
    std::string payload_;
    std::string error_;
    Status dead_ = Status::need_more; // malformed/too_long once failed
};

} // namespace mtatls::postfix
