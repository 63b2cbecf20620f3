// ehlo.h - the capability list of an EHLO reply (RFC 5321 §4.1.1.1).
//
// Pure and bounded: it works on a parsed Reply and never looks at a
// socket.  Keywords are compared exactly and case-insensitively, so
// "XSTARTTLS" or a "STARTTLS" inside the greeting text is not STARTTLS.
#pragma once

#include "smtp/reply.h"

#include <optional>
#include <string>
#include <vector>

namespace mtatls::smtp {

struct Capability {
    std::string keyword; // upper case
    std::string parameters;
};

struct Capabilities {
    std::string server_name; // first word of the first line
    std::vector<Capability> list;

    [[nodiscard]] const Capability* find(std::string_view keyword) const;
    [[nodiscard]] bool has(std::string_view keyword) const { return find(keyword) != nullptr; }
};

enum class EhloState { accepted, refused, malformed };

struct EhloParse {
    EhloState state = EhloState::malformed;
    Capabilities capabilities; // when accepted
    std::string error;         // when malformed
};

// Interprets a complete reply to EHLO: 250 gives the capability list,
// 4xx/5xx means the server refused EHLO (a HELO may follow), anything else
// or a badly shaped capability line is malformed.
EhloParse parse_ehlo(const Reply& reply);

// parse_reply + parse_ehlo over raw bytes: the reply must be complete and
// must be all there is (EHLO is never pipelined with anything).
EhloParse parse_ehlo_bytes(std::string_view bytes);

} // namespace mtatls::smtp
