// fuzz_socketmap.cpp - libFuzzer target for mtatls-policyd's protocol side:
// the netstring decoder, the socketmap session (requests in, replies out),
// next-hop keys and the Postfix policy mapping (shim/postfix).
//
// The input is what a client sends on one connection.  The socketmap name
// of each request is read as up to nine '|'-separated directive values
// (tls/tls_verify/tls_ca/tls_ciphers/tls_protocols/tlsv13_ciphersuites/
// tls_ifavailable_fallback/tls_enable_dhe_ciphers/tls_certificate; empty
// = the default), so the mapping also sees values the module would never
// produce.  Beyond "no crash", checked on every run:
// - the output is whole netstrings, each a reply Postfix accepts: at most
//   100000 bytes, "OK ", "NOTFOUND ", "TEMP " or "PERM ", no control byte;
// - one reply per complete request, in order; after a framing error one
//   PERM and nothing more, and the session says it is closing;
// - the same bytes fed in arbitrary segments give byte-identical output;
// - every OK reply is exactly "OK " + the policy text, and that text is
//   what Postfix's policy parser takes: a level, then name=value
//   attributes it knows, valid at that level, with values free of the
//   blanks and commas that would split them;
// - parse_policy_key's domain of a next-hop is a valid lower-case name or
//   an IP literal.
#include "fuzz_check.h"

#include "netstring.h"
#include "policy_key.h"
#include "policy_map.h"
#include "socketmap_protocol.h"
#include "socketmap_session.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using mtatls::fuzz::check;
using namespace mtatls::postfix;

namespace {

constexpr std::size_t max_request = 2000;

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) return parts;
        text.remove_prefix(at + 1);
    }
}

// Postfix's policy grammar (smtp_tls_policy.c), as far as this mapping
// uses it.
void check_policy_text(std::string_view text) {
    const std::vector<std::string_view> tokens = split(text, ' ');
    const std::string_view level = tokens.front();
    check(level == "none" || level == "may" || level == "encrypt" || level == "verify",
          "OK reply with an unknown level", std::string(text));
    check(level != "none" || tokens.size() == 1, "attributes at level none", std::string(text));
    for (std::size_t i = 1; i < tokens.size(); ++i) {
        const std::string_view token = tokens[i];
        const auto equals = token.find('=');
        check(equals != std::string_view::npos && equals > 0 && equals + 1 < token.size(),
              "attribute without name=value", std::string(text));
        const std::string_view name = token.substr(0, equals);
        const std::string_view value = token.substr(equals + 1);
        check(name == "match" || name == "tafile" || name == "protocols" || name == "ciphers" ||
                  name == "exclude" || name == "servername",
              "unknown attribute", std::string(text));
        check((name != "match" && name != "tafile") || level == "verify",
              "match/tafile below level verify", std::string(text));
        for (const char c : value) {
            const auto u = static_cast<unsigned char>(c);
            check(u > 0x20 && u != 0x7f && c != ',', "attribute value Postfix would split",
                  std::string(text));
        }
        if (name == "ciphers") check(value == "medium" || value == "high", "unknown grade");
        if (name == "protocols")
            check(value.starts_with(">=TLSv1"), "protocols without a lower bound",
                  std::string(value));
    }
}

// Answers as mtatls-policyd does, from a policy the name spells out.
struct FuzzHandler : RequestHandler {
    std::size_t answered = 0;
    std::string answer(const Request& request) override {
        ++answered;
        const ParsedKey key = parse_policy_key(request.key);
        if (key.kind == KeyKind::parent_probe) {
            check(request.key.front() == '.', "a parent probe that does not start with '.'");
            return make_reply(ReplyStatus::notfound);
        }
        if (key.kind == KeyKind::invalid) {
            check(!key.error.empty(), "an invalid key without a reason");
            return make_reply(ReplyStatus::perm, "invalid next-hop: " + key.error);
        }
        const std::string& domain = key.next_hop.name;
        check(!domain.empty() && domain.size() <= 253, "next-hop domain empty or too long", domain);
        for (const char c : domain)
            check(!(c >= 'A' && c <= 'Z') && c != ' ' && c != '[' && c != ']',
                  "next-hop domain not normalised", domain);

        static const char* const names[] = {"tls",
                                            "tls_verify",
                                            "tls_ca",
                                            "tls_ciphers",
                                            "tls_protocols",
                                            "tlsv13_ciphersuites",
                                            "tls_ifavailable_fallback",
                                            "tls_enable_dhe_ciphers",
                                            "tls_certificate"};
        EffectivePolicy policy;
        const std::vector<std::string_view> fields = split(request.name, '|');
        for (std::size_t i = 0; i < std::size(names); ++i) {
            const bool set = i < fields.size() && !fields[i].empty();
            policy.set({names[i],
                        set ? std::string(fields[i]) : std::string(mtatls_default(names[i])),
                        set ? "domain \"" + domain + "\"" : "default", set ? "/fuzz.yaml" : "",
                        set ? static_cast<uint32_t>(i + 1) : 0, set ? 1u : 0u});
        }
        const PostfixPolicy mapped = map_policy(policy);
        for (const Finding& finding : mapped.findings) {
            check(!finding.id.empty() && !finding.message.empty(), "empty finding");
            check(finding.message.find('\n') == std::string::npos, "finding over several lines");
        }
        if (mapped.defer) {
            check(!mapped.defer_reason.empty(), "deferred without a reason");
            return make_reply(ReplyStatus::temp, mapped.defer_reason);
        }
        const std::string text = mapped.text();
        check_policy_text(text);
        std::string reply = make_reply(ReplyStatus::ok, text);
        check(reply == "OK " + text, "the OK reply is not the policy text byte for byte", reply);
        return reply;
    }
};

struct Outcome {
    std::string out;
    bool closing = false;
    std::size_t requests = 0;
};

Outcome run(std::string_view input, const std::vector<std::size_t>& segments) {
    FuzzHandler handler;
    SocketmapSession session(max_request, handler);
    Outcome outcome;
    std::size_t offset = 0;
    for (std::size_t i = 0; offset < input.size(); ++i) {
        const std::size_t take =
            segments.empty() ? input.size()
                             : std::min(segments[i % segments.size()], input.size() - offset);
        session.receive(input.substr(offset, take), outcome.out);
        offset += take;
    }
    outcome.closing = session.closing();
    outcome.requests = session.requests();
    check(handler.answered <= session.requests(), "more answers than requests");
    return outcome;
}

// Segment sizes from the input itself (a cheap hash), so a crash replays.
std::vector<std::size_t> segments_for(std::string_view input) {
    uint64_t state = 1469598103934665603ull;
    for (const char c : input)
        state = (state ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 16; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        sizes.push_back(1 + static_cast<std::size_t>(state % 23));
    }
    return sizes;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const Outcome whole = run(input, {});
    const Outcome pieces = run(input, segments_for(input));
    check(whole.out == pieces.out, "output depends on how the input was split");
    check(whole.closing == pieces.closing && whole.requests == pieces.requests,
          "session state depends on how the input was split");

    // The output: whole netstrings, each a reply Postfix accepts.
    NetstringDecoder replies(max_reply_length);
    replies.feed(whole.out);
    std::size_t count = 0;
    bool saw_perm_close = false;
    for (;;) {
        const NetstringDecoder::Status status = replies.next();
        if (status == NetstringDecoder::Status::need_more) break;
        check(status == NetstringDecoder::Status::payload, "output is not whole netstrings");
        check(!saw_perm_close, "a reply after the closing PERM");
        const std::string_view reply = replies.payload();
        check(reply.starts_with("OK ") || reply == "NOTFOUND " || reply.starts_with("TEMP ") ||
                  reply.starts_with("PERM "),
              "reply of an unknown kind", std::string(reply));
        for (const char c : reply) {
            const auto u = static_cast<unsigned char>(c);
            check(u >= 0x20 && u != 0x7f, "control byte in a reply", std::string(reply));
        }
        ++count;
        if (whole.closing && count == whole.requests + 1) saw_perm_close = true;
    }
    check(replies.buffered() == 0, "output ends inside a netstring");
    check(count == whole.requests + (whole.closing ? 1 : 0),
          "not one reply per request (plus one PERM for a framing error)");

    // The netstring codec round trip on the input's own bytes.
    NetstringDecoder again(size + 16);
    again.feed(netstring_encode(input));
    check(again.next() == NetstringDecoder::Status::payload && again.payload() == input,
          "netstring round trip");
    return 0;
}
