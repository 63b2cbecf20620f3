// socket.h - the socket layer of a delivery attempt: waiting for
// readiness under a deadline, "HOST[:PORT]" parsing and a TCP connect
// (IPv4 and IPv6) that never blocks longer than its deadline.
//
// Sockets are created non-blocking and close-on-exec: every wait goes
// through poll(2) with a deadline, never through a blocking call.
#pragma once

#include "deadline.h"
#include "unique_fd.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtatls::host {

enum class WaitResult { ready, timeout, error };

// Waits until `fd` has one of `events` (POLLIN/POLLOUT) or an error or
// hang-up (reported as ready: the next read or write says what happened),
// or until `deadline`.  EINTR is retried with the time that is left.
WaitResult wait_fd(int fd, short events, const Deadline& deadline, std::string& error);

struct HostPort {
    std::string host; // without brackets
    uint16_t port = 0;
    bool literal = false; // written as [..] or an IP address
};

// Parses "host", "host:port", "1.2.3.4[:port]", "[2001:db8::1][:port]"
// (a bracketed name is accepted too) and a bare IPv6 address.  Returns
// nullopt and sets `error` for anything else.
std::optional<HostPort> parse_host_port(std::string_view text, uint16_t default_port,
                                        std::string& error);

// True when `host` is a numeric IPv4 or IPv6 address.
bool is_ip_literal(const std::string& host);

struct Connected {
    UniqueFd fd;              // non-blocking, close-on-exec
    std::string address;      // numeric address actually connected to
    std::string error;        // why nothing connected (fd invalid then)
    std::string last_address; // the last address tried, for the log
    bool resolve_failed = false;
};

// Resolves `host` (getaddrinfo, in the resolver's order) and tries each
// address until one accepts.  Each try is limited by `per_address` and by
// `deadline`.  Name resolution itself is bounded only by the resolver's own
// timeouts (resolv.conf); the time it takes counts against `deadline`.
Connected connect_tcp(const std::string& host, uint16_t port, Deadline::Clock::duration per_address,
                      const Deadline& deadline);

// Tries each of `addresses` (numeric, already resolved; `host` names them
// in messages) in order until one accepts, under the same limits.
Connected connect_addresses(const std::string& host, const std::vector<std::string>& addresses,
                            uint16_t port, Deadline::Clock::duration per_address,
                            const Deadline& deadline);

} // namespace mtatls::host
