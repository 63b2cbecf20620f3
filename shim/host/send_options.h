// send_options.h - the command line of mtatls-send, parsed without side
// effects so that it can be tested as a table.
//
// Addresses and names from the command line end up inside SMTP commands:
// anything that could end or split a command (CR, LF, other control bytes,
// '<' or '>') is refused here, before a connection exists.
#pragma once

#include "next_hop.h"
#include "resolver_settings.h"
#include "session.h"

#include <cstddef>
#include <string>
#include <vector>

namespace mtatls::host {

struct SendOptions {
    bool help = false;
    bool version = false;

    std::string config;
    std::string module;
    std::string binding_group;
    std::string binding;
    std::string domain; // default: the recipients' domain (they must share one)
    NextHop next_hop;
    // The name to verify for [name] and IP-literal next hops ("": the name
    // itself); refused with an MX lookup, where each MX host's own name is
    // verified.
    std::string mx_name;
    // --resolver: the DNS servers to ask, winning over the `resolver`
    // directive (empty: not given).
    std::vector<DnsServer> resolver;
    // --mx-address-limit: at most this many addresses over all MX hosts
    // (Postfix's smtp_mx_address_limit); 0: no limit.
    std::size_t mx_address_limit = 5;
    std::string helo; // default (filled by the command): the host name
    long long timeout = 300;
    bool timeout_given = false;
    long long attempt_timeout = 1800;
    // Exit 75 instead of 78/70 for a configuration, module or internal
    // error, so that a pipe transport defers rather than bounces.
    bool defer_local_errors = false;
    // Run as an MTA pipe transport (Postfix's pipe(8)): the output starts
    // with an "X.Y.Z reason" line (pipe_status.h), and every local problem,
    // a usage error included, is a deferral.  Implies defer_local_errors.
    bool pipe = false;
    std::string sender; // "" = null sender
    std::vector<std::string> recipients;
};

struct ParsedOptions {
    SendOptions options;
    std::string error; // non-empty: a usage error, one line
};

// Parses argv[1..] (without the program name).  "--" ends the options, so
// that a recipient starting with '-' cannot pass for an option.
ParsedOptions parse_send_options(const std::vector<std::string>& args);

// The limits that follow from --timeout and --attempt-timeout: connect
// min(30 s, timeout), reply and handshake = timeout, end of DATA
// max(timeout, 600 s) unless --timeout was given, QUIT min(timeout, 10 s),
// DNS (MX and address lookups together) min(timeout, 60 s).
Timeouts timeouts_for(const SendOptions& options);

// Checks an address for use in MAIL FROM:<...> / RCPT TO:<...>; returns
// why it cannot be used, or "".
std::string address_problem(const std::string& address);

} // namespace mtatls::host
