// socket.cpp - poll with deadlines, host:port parsing and a
// non-blocking TCP connect.
#include "socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <vector>

namespace mtatls::host {
namespace {

std::string numeric_address(const sockaddr* address, socklen_t length) {
    char text[NI_MAXHOST] = {};
    if (getnameinfo(address, length, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0)
        return "?";
    return text;
}

struct AddrinfoFree {
    void operator()(addrinfo* list) const { freeaddrinfo(list); }
};
using AddrinfoList = std::unique_ptr<addrinfo, AddrinfoFree>;

bool parse_port(std::string_view text, uint16_t& port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
        return false;
    port = static_cast<uint16_t>(value);
    return true;
}

} // namespace

WaitResult wait_fd(int fd, short events, const Deadline& deadline, std::string& error) {
    for (;;) {
        pollfd entry{fd, events, 0};
        const int timeout = deadline.poll_timeout_ms();
        const int ready = ::poll(&entry, 1, timeout);
        if (ready > 0) return WaitResult::ready;
        if (ready == 0) {
            // poll may wake a little early; only the clock decides.
            if (deadline.expired()) return WaitResult::timeout;
            continue;
        }
        if (errno == EINTR) continue;
        error = std::string("poll: ") + std::strerror(errno);
        return WaitResult::error;
    }
}

bool is_ip_literal(const std::string& host) {
    in6_addr v6{};
    in_addr v4{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 ||
           inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

std::optional<HostPort> parse_host_port(std::string_view text, uint16_t default_port,
                                        std::string& error) {
    HostPort result;
    result.port = default_port;
    std::string_view port_text;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            error = "missing ']' in \"" + std::string(text) + "\"";
            return std::nullopt;
        }
        result.host = std::string(text.substr(1, close - 1));
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                error = "unexpected text after ']' in \"" + std::string(text) + "\"";
                return std::nullopt;
            }
            port_text = rest.substr(1);
            if (port_text.empty()) {
                error = "empty port in \"" + std::string(text) + "\"";
                return std::nullopt;
            }
        }
        result.literal = true;
    } else if (const auto colon = text.find(':'); colon == std::string_view::npos) {
        result.host = std::string(text);
    } else if (text.find(':', colon + 1) != std::string_view::npos) {
        // Two or more colons: only a bare IPv6 address makes sense.
        result.host = std::string(text);
        if (!is_ip_literal(result.host)) {
            error = "\"" + std::string(text) +
                    "\" is neither HOST:PORT nor an IPv6 address "
                    "(write IPv6 addresses as [ADDRESS]:PORT)";
            return std::nullopt;
        }
    } else {
        result.host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (port_text.empty()) {
            error = "empty port in \"" + std::string(text) + "\"";
            return std::nullopt;
        }
    }
    if (result.host.empty()) {
        error = "empty host name in \"" + std::string(text) + "\"";
        return std::nullopt;
    }
    for (const char c : result.host) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte == 0x7f || c == '[' || c == ']' || c == '/' || c == '@') {
            error = "invalid character in host name \"" + std::string(text) + "\"";
            return std::nullopt;
        }
    }
    if (!port_text.empty() && !parse_port(port_text, result.port)) {
        error = "invalid port \"" + std::string(port_text) + "\" (want 1 to 65535)";
        return std::nullopt;
    }
    if (!result.literal) result.literal = is_ip_literal(result.host);
    return result;
}

namespace {

// Tries `entries` in order until one accepts (see connect_tcp).
Connected try_connect(const std::string& host, const std::vector<const addrinfo*>& entries,
                      const std::string& service, Deadline::Clock::duration per_address,
                      const Deadline& deadline) {
    Connected result;
    for (const addrinfo* entry : entries) {
        const std::string address = numeric_address(entry->ai_addr, entry->ai_addrlen);
        result.last_address = address;
        std::string where = host;
        where.append("[").append(address).append("]:").append(service);
        if (deadline.expired()) {
            result.error = "attempt time limit reached before connecting to " + where;
            break;
        }
        UniqueFd fd(::socket(entry->ai_family, entry->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             entry->ai_protocol));
        if (!fd.valid()) {
            result.error = "socket: " + std::string(std::strerror(errno));
            continue;
        }
        if (::connect(fd.get(), entry->ai_addr, entry->ai_addrlen) != 0 && errno != EINPROGRESS &&
            errno != EINTR) {
            result.error = "connect to " + where + ": " + std::strerror(errno);
            continue;
        }
        std::string wait_error;
        const Deadline limit = earliest(Deadline::after(per_address), deadline);
        const WaitResult waited = wait_fd(fd.get(), POLLOUT, limit, wait_error);
        if (waited == WaitResult::timeout) {
            result.error = "connect to " + where + ": timed out";
            continue;
        }
        if (waited == WaitResult::error) {
            result.error = std::string("connect to ").append(where).append(": ").append(wait_error);
            continue;
        }
        int socket_error = 0;
        socklen_t length = sizeof socket_error;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &socket_error, &length) != 0)
            socket_error = errno;
        if (socket_error != 0) {
            result.error = "connect to " + where + ": " + std::strerror(socket_error);
            continue;
        }
        result.fd = std::move(fd);
        result.address = address;
        result.error.clear();
        return result;
    }
    if (result.error.empty()) result.error = "no address found for " + host;
    return result;
}

} // namespace

Connected connect_tcp(const std::string& host, uint16_t port, Deadline::Clock::duration per_address,
                      const Deadline& deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_ADDRCONFIG | (is_ip_literal(host) ? AI_NUMERICHOST : 0);
    addrinfo* raw = nullptr;
    const std::string service = std::to_string(port);
    const int status = getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
    const AddrinfoList list(raw);
    if (status != 0) {
        Connected result;
        result.resolve_failed = true;
        result.error = "cannot resolve " + host + ": " +
                       (status == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(status));
        return result;
    }
    std::vector<const addrinfo*> entries;
    for (const addrinfo* entry = list.get(); entry != nullptr; entry = entry->ai_next)
        entries.push_back(entry);
    return try_connect(host, entries, service, per_address, deadline);
}

Connected connect_addresses(const std::string& host, const std::vector<std::string>& addresses,
                            uint16_t port, Deadline::Clock::duration per_address,
                            const Deadline& deadline) {
    const std::string service = std::to_string(port);
    std::vector<AddrinfoList> lists;
    std::vector<const addrinfo*> entries;
    for (const std::string& address : addresses) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        addrinfo* raw = nullptr;
        if (getaddrinfo(address.c_str(), service.c_str(), &hints, &raw) != 0) continue;
        lists.emplace_back(raw);
        entries.push_back(raw);
    }
    return try_connect(host, entries, service, per_address, deadline);
}

} // namespace mtatls::host
