// ehlo.cpp - EHLO capability parsing (see ehlo.h).
#include "smtp/ehlo.h"

namespace mtatls::smtp {
namespace {

bool is_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

EhloParse malformed(std::string why) {
    EhloParse result;
    result.error = std::move(why);
    return result;
}

} // namespace

const Capability* Capabilities::find(std::string_view keyword) const {
    for (const Capability& capability : list) {
        if (capability.keyword.size() != keyword.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < keyword.size() && same; ++i)
            same = capability.keyword[i] == upper(keyword[i]);
        if (same) return &capability;
    }
    return nullptr;
}

EhloParse parse_ehlo(const Reply& reply) {
    EhloParse result;
    const int klass = reply_class(reply.code);
    if (klass == 4 || klass == 5) {
        result.state = EhloState::refused;
        return result;
    }
    if (reply.code != 250)
        return malformed("unexpected reply code " + std::to_string(reply.code) + " to EHLO");
    const std::string& greeting = reply.lines.front();
    result.capabilities.server_name = greeting.substr(0, greeting.find(' '));
    for (std::size_t i = 1; i < reply.lines.size(); ++i) {
        const std::string& line = reply.lines[i];
        // A bare "250" as the last line is legal and says nothing.
        if (line.empty() && i + 1 == reply.lines.size()) continue;
        // ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); some old
        // servers write "AUTH=LOGIN", so '=' also ends a keyword.
        std::size_t end = 0;
        while (end < line.size() && (is_alnum(line[end]) || (end > 0 && line[end] == '-')))
            ++end;
        if (end == 0 || (end < line.size() && line[end] != ' ' && line[end] != '='))
            return malformed("malformed EHLO capability line " + std::to_string(i + 1));
        Capability capability;
        capability.keyword.reserve(end);
        for (std::size_t k = 0; k < end; ++k)
            capability.keyword += upper(line[k]);
        if (end < line.size()) capability.parameters = line.substr(end + 1);
        result.capabilities.list.push_back(std::move(capability));
    }
    result.state = EhloState::accepted;
    return result;
}

EhloParse parse_ehlo_bytes(std::string_view bytes) {
    const ReplyParse parsed = parse_reply(bytes);
    if (parsed.state == ReplyState::malformed) return malformed(parsed.error);
    if (parsed.state == ReplyState::incomplete) return malformed("EHLO reply is incomplete");
    if (parsed.consumed != bytes.size()) return malformed("data after the EHLO reply");
    return parse_ehlo(parsed.reply);
}

} // namespace mtatls::smtp
