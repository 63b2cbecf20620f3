// socketmap_protocol.h - the messages of Postfix's socketmap protocol
// (socketmap_table(5)), inside their netstrings.
//
// A request is "NAME KEY": the name is the last field of the Postfix table
// name (socketmap:unix:/run/mtatls/policy.sock:NAME), the key what Postfix
// looks up.  A reply is "OK DATA", "NOTFOUND ", "TEMP REASON", "TIMEOUT
// REASON" or "PERM REASON".  Postfix refuses replies longer than 100000
// bytes (not counting the netstring framing).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mtatls::postfix {

// Postfix's limit on a reply (socketmap_table(5)).
inline constexpr std::size_t max_reply_length = 100000;
// The request limit the daemon applies by default: Postfix 3.12's query
// limit; real keys are next-hops of a few dozen bytes.
inline constexpr std::size_t default_max_request = 10000;

struct Request {
    std::string_view name;
    std::string_view key;
};

// Splits a request payload at its first space.  Returns false, with
// `error` set, when there is no space, the name or key is empty, or either
// holds a control byte.
bool parse_request(std::string_view payload, Request& request, std::string& error);

enum class ReplyStatus { ok, notfound, temp, timeout, perm };

// The reply payload: "OK data", "NOTFOUND ", "TEMP reason", ...  Control
// bytes in `text` are written as \xNN (a reason may quote a client's key).
// A reply that would exceed max_reply_length becomes a TEMP saying so.
std::string make_reply(ReplyStatus status, std::string_view text = {});

} // namespace mtatls::postfix
