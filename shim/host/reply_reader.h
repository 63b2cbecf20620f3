// reply_reader.h - reads whole SMTP replies from a Transport with the
// shared strict parser, and keeps every byte it has read.
//
// Bytes read beyond the end of a reply are kept as `surplus`, never
// dropped: before STARTTLS they are the evidence of response injection
// and must go to STARTTLS_BEGIN together with the reply itself.
#pragma once

#include "deadline.h"
#include "transport.h"

#include "smtp/reply.h"

#include <string>

namespace mtatls::host {

enum class ReadStatus {
    complete,  // `reply` and `raw` hold one whole reply
    malformed, // the bytes break the reply grammar; `error` says how
    timeout,
    eof,  // connection closed before the reply was complete
    error // I/O error; `error` says which
};

struct ReplyRead {
    ReadStatus status = ReadStatus::error;
    smtp::Reply reply;
    std::string raw;   // the reply's bytes (complete) or everything unparsed (otherwise)
    std::string error; // for the log
};

class ReplyReader {
  public:
    // Reads until one reply is complete, malformed, or the deadline passes.
    // Surplus bytes stay in the reader for the next call.
    ReplyRead read(Transport& transport, const Deadline& deadline);

    // Bytes read but not yet part of any returned reply.
    [[nodiscard]] const std::string& surplus() const { return pending_; }
    // Hands over (and forgets) the surplus bytes.
    std::string take_surplus();

  private:
    // Whether the parser can answer differently now than before the last
    // read: only a line end, a control byte or an over-long line can
    // change "incomplete".  Skipping pointless re-parses keeps a drip of
    // one-byte segments linear instead of quadratic.
    bool worth_parsing(std::size_t old_size) const;

    std::string pending_;
};

} // namespace mtatls::host
