// macros.h - every fact of a delivery attempt as a named macro, in the
// vocabularies admins already parse: Momentum's tls_macros
// (outbound_tls:*), sendmail/milter ({tls_version}, {verify}, ...), Exim
// (tls_out_*), and mtatls's own (mtatls:*: requested vs achieved, how far
// the attempt got, why it failed, the policy and where each value came
// from).  docs/logging.md is the reference for names and values.
//
// One table holds every name with the hook after which its value is
// known; lookups, the per-stage lists (MACRO_LIST) and the validation of
// custom log formats all read it.
#pragma once

#include "attempt/outcome.h"
#include "module_state.h"
#include "tls/client_session.h"
#include "tls/peer_check.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::attempt {

// How far an attempt got (mtatls:stage).
enum class Progress { connected, ehlo, starttls, handshake, tls, plaintext };

// Everything the macros read; kept up to date by Attempt.
struct AttemptFacts {
    const Connection* connection = nullptr;
    bool plaintext_retry = false;
    Progress progress = Progress::connected;
    std::optional<Event> failure;
    std::string failure_text;
    int starttls_reply_code = 0;
    std::string sni;
    bool handshake_done = false;
    tls::SessionFacts session;
    std::optional<tls::PeerCheck::Verdict> verdict;
};

// The hook after which a macro's value is known.
enum class MacroStage { conn_setup, ehlo, starttls_finish };

// The value of `name` for an attempt (raw: not yet made log-safe), or
// nullopt when no such macro exists.  Known macros without a value yet
// give "".
std::optional<std::string> macro_value(const AttemptFacts& facts, std::string_view name);

// Every macro name first known after `stage`, in documentation order.
std::vector<std::string> macro_names(MacroStage stage);
// Every macro name.
std::vector<std::string> all_macro_names();

// Whether `name` is a macro or a host field (delivery:*) a custom log
// format may reference.
bool is_known_macro(std::string_view name);
bool is_host_field(std::string_view name);

// The fields a host renders itself in custom formats (delivery:status, ...).
const std::vector<std::string>& host_field_names();

} // namespace mtatls::attempt
