// socketmap_server.cpp - the poll(2) loop (see socketmap_server.h).
#include "socketmap_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mtatls::postfix {
namespace {

constexpr std::size_t read_chunk = 64 * 1024;

std::string peer_name(int fd, const ListenAddress& via) {
    if (via.kind == ListenAddress::Kind::unix_socket) {
        ucred cred{};
        socklen_t length = sizeof cred;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0)
            return "unix pid=" + std::to_string(cred.pid) + " uid=" + std::to_string(cred.uid);
        return "unix";
    }
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return "inet";
    char text[INET6_ADDRSTRLEN] = {};
    uint16_t port = 0;
    if (storage.ss_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        port = ntohs(sin6->sin6_port);
        return std::string("[") + text + "]:" + std::to_string(port);
    }
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
    port = ntohs(sin->sin_port);
    return std::string(text) + ":" + std::to_string(port);
}

} // namespace

SocketmapServer::SocketmapServer(std::vector<Listener> listeners, ServerLimits limits,
                                 RequestHandler& handler, DaemonLog& log, bool verbose)
    : listeners_(std::move(listeners)), limits_(limits), handler_(handler), log_(log),
      verbose_(verbose) {}

SocketmapServer::~SocketmapServer() = default;

void SocketmapServer::watch(int fd, std::function<void()> on_readable) {
    watches_.push_back({fd, std::move(on_readable)});
}

void SocketmapServer::stop() {
    if (stopping_) return;
    stopping_ = true;
    stop_deadline_ = Clock::now() + limits_.shutdown_grace;
    // New clients get "connection refused" at once instead of waiting.
    for (Listener& listener : listeners_)
        listener.close();
}

bool SocketmapServer::wants_read(const Client& client) const {
    return !stopping_ && !client.eof && !client.session.closing() &&
           client.pending() < limits_.max_output;
}

void SocketmapServer::accept_from(const Listener& listener) {
    while (clients_.size() < limits_.max_clients) {
        const int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            // EMFILE and the like: the connection stays in the backlog; say
            // so once per episode, not once per loop.
            if (!accept_error_logged_)
                log_.error("accept on " + listener.address().text() + ": " + std::strerror(errno));
            accept_error_logged_ = true;
            return;
        }
        accept_error_logged_ = false;
        Client client{host::UniqueFd(fd),
                      peer_name(fd, listener.address()),
                      SocketmapSession(limits_.max_request, handler_),
                      {},
                      0,
                      Clock::now()};
        if (verbose_) log_.info("client " + client.peer + " connected");
        clients_.push_back(std::move(client));
        ++accepted_;
    }
    if (!at_limit_logged_)
        log_.warning("client limit (" + std::to_string(limits_.max_clients) +
                     ") reached; further connections wait until a client leaves "
                     "(raise --max-clients if this repeats)");
    at_limit_logged_ = true;
}

void SocketmapServer::read_from(Client& client) {
    read_buffer_.resize(read_chunk);
    const ssize_t n = ::recv(client.fd.get(), read_buffer_.data(), read_buffer_.size(), 0);
    if (n > 0) {
        client.last_progress = Clock::now();
        client.session.receive(std::string_view(read_buffer_.data(), static_cast<std::size_t>(n)),
                               client.out);
        if (client.session.closing())
            log_.warning("client " + client.peer + ": " + client.session.close_reason() +
                         "; answered PERM and closing the connection");
        return;
    }
    if (n == 0) {
        client.eof = true;
        if (client.session.pending_input() > 0)
            log_.warning("client " + client.peer +
                         " closed the connection in the middle of a "
                         "request (" +
                         std::to_string(client.session.pending_input()) + " bytes)");
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    if (verbose_ || errno != ECONNRESET)
        log_.warning("client " + client.peer + ": read: " + std::strerror(errno));
    client.dead = true;
}

void SocketmapServer::write_to(Client& client) {
    while (client.pending() > 0) {
        const ssize_t n = ::send(client.fd.get(), client.out.data() + client.out_offset,
                                 client.pending(), MSG_NOSIGNAL);
        if (n > 0) {
            client.out_offset += static_cast<std::size_t>(n);
            client.last_progress = Clock::now();
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        if (verbose_ || (errno != EPIPE && errno != ECONNRESET))
            log_.warning("client " + client.peer + ": write: " + std::strerror(errno));
        client.dead = true;
        return;
    }
    if (client.pending() == 0) {
        client.out.clear();
        client.out_offset = 0;
    }
}

void SocketmapServer::serve(Client& client, short revents) {
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && wants_read(client)) read_from(client);
    if (!client.dead && client.pending() > 0) write_to(client);
    if (client.dead) return;
    // Nothing more will come in: close once everything went out.
    if ((client.eof || client.session.closing() || stopping_) && client.pending() == 0)
        client.dead = true;
    // A hang-up we cannot read past (replies still queued) ends it too.
    if ((revents & (POLLHUP | POLLERR)) != 0 && !wants_read(client) && client.pending() > 0 &&
        (revents & POLLOUT) == 0)
        client.dead = true;
}

bool SocketmapServer::run() {
    std::vector<pollfd> fds;
    for (;;) {
        const Clock::time_point now = Clock::now();
        if (stopping_ && (clients_.empty() || now >= stop_deadline_)) break;

        fds.clear();
        const bool accepting = !stopping_ && clients_.size() < limits_.max_clients;
        if (clients_.size() < limits_.max_clients) at_limit_logged_ = false;
        for (const Listener& listener : listeners_)
            if (listener.fd() >= 0)
                fds.push_back({listener.fd(), static_cast<short>(accepting ? POLLIN : 0), 0});
        const std::size_t first_watch = fds.size();
        for (const Watch& w : watches_)
            fds.push_back({w.fd, POLLIN, 0});
        const std::size_t first_client = fds.size();
        Clock::time_point wake = stopping_ ? stop_deadline_ : Clock::time_point::max();
        for (const Client& client : clients_) {
            short events = 0;
            if (wants_read(client)) events |= POLLIN;
            if (client.pending() > 0) events |= POLLOUT;
            fds.push_back({client.fd.get(), events, 0});
            wake = std::min(wake, client.last_progress + limits_.idle_timeout);
        }
        int timeout = -1;
        if (wake != Clock::time_point::max()) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
            timeout = static_cast<int>(std::clamp<long long>(left, 0, 60 * 60 * 1000));
        }
        const int ready = ::poll(fds.data(), fds.size(), timeout);
        if (ready < 0) {
            if (errno == EINTR) continue;
            log_.error(std::string("poll: ") + std::strerror(errno));
            return false;
        }
        // Watches first: a stop() there must be seen before new work.
        for (std::size_t i = 0; i < watches_.size(); ++i)
            if ((fds[first_watch + i].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
                watches_[i].on_readable();
        std::size_t index = first_client;
        const Clock::time_point after = Clock::now();
        for (Client& client : clients_) {
            if (index >= fds.size()) break; // accepted during this round
            const short revents = fds[index++].revents;
            if (revents != 0) serve(client, revents);
            if (!client.dead && after - client.last_progress >= limits_.idle_timeout) {
                if (verbose_ || client.session.pending_input() > 0 || client.pending() > 0)
                    log_.info("client " + client.peer + ": idle for " +
                              std::to_string(limits_.idle_timeout.count() / 1000) +
                              " s, closing the connection");
                client.dead = true;
            }
        }
        clients_.remove_if([this](const Client& c) {
            if (c.dead && verbose_) log_.info("client " + c.peer + " disconnected");
            return c.dead;
        });
        if (!stopping_)
            for (std::size_t i = 0; i < first_watch; ++i)
                if ((fds[i].revents & POLLIN) != 0) accept_from(listeners_[i]);
    }
    clients_.clear();
    return true;
}

} // namespace mtatls::postfix
