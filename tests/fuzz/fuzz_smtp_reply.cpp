// fuzz_smtp_reply.cpp - libFuzzer target for the SMTP reply and EHLO parsers
// (module/smtp) and for the host's ReplyReader that feeds them from a socket.
//
// The whole input is what a server sent.  Beyond "no crash", it checks the
// properties the session's security rests on:
// - consumed <= size, and consumed > 0 exactly when the reply is complete;
// - a complete reply parses identically on its own (the bytes after it
//   cannot change it), and every shorter prefix of it is `incomplete`
//   (otherwise a reply split over two TCP segments would be refused);
// - a complete reply obeys the documented grammar limits;
// - the EHLO view agrees with the reply view;
// - the ReplyReader, fed the same bytes in arbitrary segments, finds the
//   same reply, the same verdict and the same raw bytes as one parse of
//   everything (its "is it worth parsing again" shortcut must never change
//   an answer).
#include "fuzz_check.h"

#include "reply_reader.h"
#include "smtp/ehlo.h"
#include "smtp/reply.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using mtatls::fuzz::check;
using mtatls::fuzz::known;
using namespace mtatls;

namespace {

bool same_reply(const smtp::Reply& a, const smtp::Reply& b) {
    return a.code == b.code && a.lines == b.lines;
}

void check_grammar(const smtp::Reply& reply) {
    check(smtp::reply_class(reply.code) != 0, "complete reply has a code outside 200-599");
    check(!reply.lines.empty() && reply.lines.size() <= smtp::max_reply_lines,
          "complete reply has no lines or too many");
    for (const std::string& line : reply.lines) {
        check(line.size() <= smtp::max_reply_line, "reply line longer than the limit");
        for (const char c : line) {
            const auto b = static_cast<unsigned char>(c);
            check(b == '\t' || (b >= 0x20 && b != 0x7f), "control byte inside a parsed reply line");
        }
    }
}

// Prefixes shorter than a complete reply must ask for more bytes.  All of
// them for short replies; a sample for long ones, to keep each run linear.
void check_prefixes(std::string_view bytes, std::size_t consumed) {
    const std::size_t step = consumed <= 512 ? 1 : consumed / 256;
    for (std::size_t k = 0; k < consumed; k += step) {
        const smtp::ReplyParse prefix = smtp::parse_reply(bytes.substr(0, k));
        check(prefix.state == smtp::ReplyState::incomplete,
              "a prefix of a complete reply is not `incomplete`",
              "prefix length " + std::to_string(k) + ": " + prefix.error);
    }
}

void check_ehlo(std::string_view bytes, const smtp::ReplyParse& parsed) {
    const smtp::EhloParse ehlo = smtp::parse_ehlo_bytes(bytes);
    const bool whole =
        parsed.state == smtp::ReplyState::complete && parsed.consumed == bytes.size();
    switch (ehlo.state) {
    case smtp::EhloState::accepted:
        check(whole && parsed.reply.code == 250, "EHLO accepted without one whole 250 reply");
        for (const smtp::Capability& capability : ehlo.capabilities.list) {
            check(!capability.keyword.empty(), "empty EHLO keyword");
            for (const char c : capability.keyword)
                check((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-',
                      "EHLO keyword not upper-case alphanumeric");
            check(ehlo.capabilities.find(capability.keyword) != nullptr,
                  "a listed EHLO keyword is not found");
        }
        break;
    case smtp::EhloState::refused:
        check(whole && (smtp::reply_class(parsed.reply.code) == 4 ||
                        smtp::reply_class(parsed.reply.code) == 5),
              "EHLO refused without one whole 4xx/5xx reply");
        break;
    case smtp::EhloState::malformed: check(!ehlo.error.empty(), "malformed EHLO without a reason");
    }
    // parse_ehlo on any complete reply (also one followed by more bytes)
    // must not crash either: the module calls it on what the host hands
    // over.
    if (parsed.state == smtp::ReplyState::complete) (void)smtp::parse_ehlo(parsed.reply);
}

// Hands out the input in segments whose sizes come from a hash of the
// input, so each input replays the same way.
class SegmentedTransport final : public host::Transport {
  public:
    explicit SegmentedTransport(std::string_view bytes) : bytes_(bytes) {
        for (const char c : bytes)
            state_ = (state_ ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    host::IoResult read_some(char* buffer, std::size_t size, const host::Deadline&) override {
        host::IoResult io;
        if (at_ == bytes_.size()) {
            io.status = host::IoStatus::eof;
            return io;
        }
        state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
        // Mostly small segments (the interesting splits), now and then big.
        const std::size_t want = (state_ >> 60) == 0 ? 4096 : 1 + ((state_ >> 33) % 16);
        std::size_t n = want < size ? want : size;
        if (n > bytes_.size() - at_) n = bytes_.size() - at_;
        bytes_.copy(buffer, n, at_);
        at_ += n;
        io.bytes = n;
        return io;
    }
    host::IoResult write_all(std::string_view, const host::Deadline&,
                             host::Deadline::Clock::duration) override {
        return {};
    }
    [[nodiscard]] bool is_tls() const override { return false; }

  private:
    std::string_view bytes_;
    std::size_t at_ = 0;
    std::uint64_t state_ = 0xcbf29ce484222325ULL;
};

void check_reader(std::string_view bytes, const smtp::ReplyParse& parsed) {
    SegmentedTransport transport(bytes);
    host::ReplyReader reader;
    const host::ReplyRead read = reader.read(transport, host::Deadline::never());
    switch (parsed.state) {
    case smtp::ReplyState::complete:
        check(read.status == host::ReadStatus::complete,
              "ReplyReader did not find the complete reply", read.error);
        check(same_reply(read.reply, parsed.reply), "ReplyReader's reply differs from parse_reply");
        check(read.raw == bytes.substr(0, parsed.consumed),
              "ReplyReader's raw bytes differ from the reply");
        check(bytes.substr(parsed.consumed).starts_with(reader.surplus()),
              "ReplyReader's surplus is not what followed the reply");
        break;
    case smtp::ReplyState::malformed:
        // Known bug "reader-bare-cr" (tests/fuzz/README.md): a CR that ended
        // one segment is not judged again when the next byte is not LF.
        if (known("reader-bare-cr") && read.status == host::ReadStatus::eof &&
            parsed.error == "control byte in reply")
            break;
        check(read.status == host::ReadStatus::malformed, "ReplyReader missed a malformed reply",
              parsed.error);
        check(bytes.starts_with(read.raw), "ReplyReader's raw bytes are not the input");
        break;
    case smtp::ReplyState::incomplete:
        check(read.status == host::ReadStatus::eof,
              "ReplyReader did not report EOF for an incomplete reply", read.error);
        check(read.raw == bytes, "ReplyReader lost bytes of an incomplete reply");
        break;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const smtp::ReplyParse parsed = smtp::parse_reply(bytes);

    check(parsed.consumed <= size, "consumed > size");
    check((parsed.consumed > 0) == (parsed.state == smtp::ReplyState::complete),
          "consumed set for a reply that is not complete (or missing for a complete one)");
    check((parsed.state == smtp::ReplyState::malformed) == !parsed.error.empty(),
          "an error text without `malformed` (or the reverse)");
    if (parsed.state == smtp::ReplyState::complete) {
        check(bytes[parsed.consumed - 1] == '\n', "a complete reply does not end with LF");
        check_grammar(parsed.reply);
        const smtp::ReplyParse again = smtp::parse_reply(bytes.substr(0, parsed.consumed));
        check(again.state == smtp::ReplyState::complete && again.consumed == parsed.consumed &&
                  same_reply(again.reply, parsed.reply),
              "a complete reply does not re-parse identically on its own");
        check_prefixes(bytes, parsed.consumed);
    }
    check_ehlo(bytes, parsed);
    check_reader(bytes, parsed);
    return 0;
}
