// listen_address.cpp - parsing listen addresses and opening listeners.
#include "listen_address.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace mtatls::postfix {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool loopback(const std::string& host, bool& v6) {
    in_addr v4addr{};
    in6_addr v6addr{};
    if (inet_pton(AF_INET, host.c_str(), &v4addr) == 1) {
        v6 = false;
        return (ntohl(v4addr.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6addr) == 1) {
        v6 = true;
        return IN6_IS_ADDR_LOOPBACK(&v6addr) != 0;
    }
    return false;
}

} // namespace

std::string ListenAddress::text() const {
    if (kind == Kind::unix_socket) return "unix:" + path;
    const bool v6 = host.find(':') != std::string::npos;
    return "inet:" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error) {
    ListenAddress address;
    if (text.starts_with("unix:")) {
        address.kind = ListenAddress::Kind::unix_socket;
        address.path = std::string(text.substr(5));
        if (address.path.empty()) {
            error = "unix: needs a path (unix:/run/mtatls/policy.sock)";
            return std::nullopt;
        }
        if (address.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
            error = "socket path longer than " +
                    std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes: " + address.path;
            return std::nullopt;
        }
        return address;
    }
    if (!text.starts_with("inet:")) {
        error = "listen address \"" + std::string(text) +
                "\" is neither unix:PATH nor inet:127.0.0.1:PORT";
        return std::nullopt;
    }
    std::string_view rest = text.substr(5);
    std::string_view port_text;
    if (rest.starts_with('[')) {
        const auto close = rest.find("]:");
        if (close == std::string_view::npos) {
            error = "inet:[ADDRESS]:PORT expected in \"" + std::string(text) + "\"";
            return std::nullopt;
        }
        address.host = std::string(rest.substr(1, close - 1));
        port_text = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            error = "inet:ADDRESS:PORT expected in \"" + std::string(text) + "\"";
            return std::nullopt;
        }
        address.host = std::string(rest.substr(0, colon));
        port_text = rest.substr(colon + 1);
    }
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port > 65535) {
        error = "invalid port \"" + std::string(port_text) + "\" in \"" + std::string(text) + "\"";
        return std::nullopt;
    }
    address.port = static_cast<uint16_t>(port);
    bool v6 = false;
    if (!loopback(address.host, v6)) {
        error = "\"" + address.host +
                "\" is not a loopback address: the socketmap protocol has no authentication, "
                "so mtatls-policyd listens on 127.0.0.0/8 or ::1 only";
        return std::nullopt;
    }
    address.kind = ListenAddress::Kind::inet;
    return address;
}

std::optional<Listener> Listener::open(const ListenAddress& address, mode_t unix_mode,
                                       std::string& error) {
    Listener listener;
    listener.address_ = address;
    if (address.kind == ListenAddress::Kind::unix_socket) {
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, address.path.c_str(), address.path.size() + 1);
        struct stat existing {};
        if (::lstat(address.path.c_str(), &existing) == 0) {
            if (!S_ISSOCK(existing.st_mode)) {
                error = address.path + " exists and is not a socket; not replacing it";
                return std::nullopt;
            }
            // A server still answering there is another daemon: leave it.
            host::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
            if (probe.valid() &&
                ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0) {
                error = address.path + " is in use by a running server";
                return std::nullopt;
            }
            if (::unlink(address.path.c_str()) != 0) {
                error = errno_text(("cannot remove the stale socket " + address.path).c_str());
                return std::nullopt;
            }
        }
        listener.fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!listener.fd_.valid()) {
            error = errno_text("socket");
            return std::nullopt;
        }
        if (::bind(listener.fd_.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) != 0) {
            error = errno_text(("bind " + address.path).c_str());
            return std::nullopt;
        }
        struct stat created {};
        if (::stat(address.path.c_str(), &created) == 0) {
            listener.device_ = created.st_dev;
            listener.inode_ = created.st_ino;
            listener.owns_path_ = true;
        }
        if (::chmod(address.path.c_str(), unix_mode) != 0) {
            error = errno_text(("chmod " + address.path).c_str());
            return std::nullopt;
        }
    } else {
        bool v6 = false;
        (void)loopback(address.host, v6);
        listener.fd_.reset(
            ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!listener.fd_.valid()) {
            error = errno_text("socket");
            return std::nullopt;
        }
        const int on = 1;
        ::setsockopt(listener.fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_storage storage{};
        socklen_t length = 0;
        if (v6) {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(address.port);
            inet_pton(AF_INET6, address.host.c_str(), &sin6->sin6_addr);
            length = sizeof *sin6;
        } else {
            auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
            sin->sin_family = AF_INET;
            sin->sin_port = htons(address.port);
            inet_pton(AF_INET, address.host.c_str(), &sin->sin_addr);
            length = sizeof *sin;
        }
        if (::bind(listener.fd_.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
            error = errno_text(("bind " + address.text()).c_str());
            return std::nullopt;
        }
        // Port 0: learn the port the kernel chose.
        if (::getsockname(listener.fd_.get(), reinterpret_cast<sockaddr*>(&storage), &length) == 0)
            listener.address_.port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    }
    if (::listen(listener.fd_.get(), SOMAXCONN) != 0) {
        error = errno_text(("listen " + address.text()).c_str());
        return std::nullopt;
    }
    return listener;
}

void Listener::close() {
    fd_.reset();
    if (!owns_path_) return;
    owns_path_ = false;
    struct stat now {};
    if (::lstat(address_.path.c_str(), &now) == 0 && now.st_dev == device_ && now.st_ino == inode_)
        ::unlink(address_.path.c_str());
}

Listener::Listener(Listener&& other) noexcept
    : fd_(std::move(other.fd_)), address_(std::move(other.address_)), device_(other.device_),
      inode_(other.inode_), owns_path_(other.owns_path_) {
    other.owns_path_ = false; // the moved-from listener must not remove the file
}

Listener::~Listener() { close(); }

} // namespace mtatls::postfix
