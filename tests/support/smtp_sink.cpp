// smtp_sink.cpp - `smtp-sink`: the STARTTLS-capable SMTP server that the tests,
// the README's walkthrough and the delivery benchmark send mail to.
//
// One immutable SSL_CTX is built at start-up; each connection then gets a
// thread of its own, so the sink is never the bottleneck it is measuring.
// SIGTERM/SIGINT and --max-messages end it cleanly: stop accepting, wake and
// join every connection thread, exit 0.
#include "smtp_sink_maildir.h"
#include "smtp_sink_options.h"
#include "smtp_sink_session.h"
#include "smtp_sink_tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

namespace {

using namespace mtatls::sink;

constexpr int exit_usage = 64;
constexpr int exit_failure = 1;
constexpr int idle_timeout_seconds = 60;
constexpr auto drain_grace = std::chrono::seconds(5);

volatile std::sig_atomic_t stop_signal = 0;

extern "C" void on_stop_signal(int) { stop_signal = 1; }

class UniqueFd {
  public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }
    int get() const { return fd_; }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

  private:
    int fd_;
};

// "127.0.0.1" or "::1"; with `bracketed`, IPv6 as "[::1]" for ADDR:PORT.
std::string address_text(const sockaddr_storage& address, bool bracketed) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
        return bracketed ? "[" + std::string(text) + "]" : text;
    }
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return text;
}

int port_of(const sockaddr_storage& address) {
    return ntohs(address.ss_family == AF_INET6
                     ? reinterpret_cast<const sockaddr_in6&>(address).sin6_port
                     : reinterpret_cast<const sockaddr_in&>(address).sin_port);
}

// Binds and listens; `where` gets the actual ADDR:PORT (port 0 resolved).
bool open_listener(const Options& options, UniqueFd& listener, std::string& where,
                   std::string& error) {
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc =
            ::getaddrinfo(options.listen_host.c_str(), options.listen_port.c_str(), &hints, &found);
        rc != 0) {
        error = "bad --listen address " + options.listen_host + ": " + ::gai_strerror(rc);
        return false;
    }
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, ::freeaddrinfo);
    listener.reset(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int on = 1;
    if (listener.get() < 0 ||
        ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (found->ai_family == AF_INET6 &&
         ::setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
        ::bind(listener.get(), found->ai_addr, found->ai_addrlen) != 0 ||
        ::listen(listener.get(), 1024) != 0) {
        error = "cannot listen on " + options.listen + ": " + std::strerror(errno);
        return false;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &length);
    where = address_text(bound, true) + ":" + std::to_string(port_of(bound));
    return true;
}

// The connection threads: started per accepted socket, joined when done
// (reaped on the next accept) or at shutdown, after their sockets are shut
// down so that even an idle connection ends at once.
class Connections {
  public:
    ~Connections() { stop_all(); }

    void start(Shared& shared, int fd, std::string peer) {
        const std::lock_guard lock(mutex_);
        Entry& entry = entries_.emplace_back();
        entry.fd = fd;
        try {
            entry.thread = std::thread([this, &shared, &entry, fd, peer = std::move(peer)] {
                run_session(shared, fd, peer);
                // Closed under the lock, so stop_all never shuts down a reused number.
                const std::lock_guard done_lock(mutex_);
                ::close(fd);
                entry.fd = -1;
            });
        } catch (const std::system_error& e) {
            std::fprintf(stderr, "smtp-sink: cannot start a thread: %s\n", e.what());
            ::close(fd);
            entries_.pop_back();
        }
    }

    void reap() {
        const std::lock_guard lock(mutex_);
        entries_.remove_if([](Entry& entry) {
            if (entry.fd >= 0) return false;
            entry.thread.join(); // it has left the lock, so it is about to return
            return true;
        });
    }

    bool idle() {
        const std::lock_guard lock(mutex_);
        return std::all_of(entries_.begin(), entries_.end(),
                           [](const Entry& entry) { return entry.fd < 0; });
    }

    void stop_all() {
        {
            const std::lock_guard lock(mutex_);
            for (const Entry& entry : entries_)
                if (entry.fd >= 0) ::shutdown(entry.fd, SHUT_RDWR);
        }
        for (Entry& entry : entries_)
            if (entry.thread.joinable()) entry.thread.join();
        entries_.clear();
    }

  private:
    struct Entry {
        std::thread thread;
        int fd = -1; // -1 once the session has ended
    };
    std::mutex mutex_;
    std::list<Entry> entries_; // a list: threads hold references to their entry
};

void accept_one(int listener, Shared& shared, Connections& connections) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            std::fprintf(stderr, "smtp-sink: accept: %s\n", std::strerror(errno));
            ::usleep(10000); // do not spin while out of descriptors
        }
        return;
    }
    // SMTP is lock-step with small writes: Nagle would add delayed-ACK stalls.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    const timeval idle{idle_timeout_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof idle);
    connections.start(shared, fd, address_text(peer, false));
}

} // namespace

int main(int argc, char** argv) {
    const ParsedOptions parsed = parse_options(argc, argv);
    if (!parsed.options) {
        if (parsed.error.empty()) return std::fputs(usage_text, stdout) < 0 ? exit_failure : 0;
        std::fprintf(stderr, "smtp-sink: %s\n%s", parsed.error.c_str(), usage_text);
        return exit_usage;
    }
    const Options& options = *parsed.options;
    std::signal(SIGPIPE, SIG_IGN); // OpenSSL writes with write(2): a closed peer must not kill us

    std::string error;
    SslCtxPtr tls;
    if (!options.cert.empty() && !(tls = make_server_context(options, error))) {
        std::fprintf(stderr, "smtp-sink: %s\n", error.c_str());
        return exit_failure;
    }
    std::optional<Maildir> maildir;
    if (!options.maildir.empty() &&
        !(maildir = Maildir::open(options.maildir, options.hostname, error))) {
        std::fprintf(stderr, "smtp-sink: %s\n", error.c_str());
        return exit_failure;
    }
    UniqueFd listener;
    std::string where;
    if (!open_listener(options, listener, where, error)) {
        std::fprintf(stderr, "smtp-sink: %s\n", error.c_str());
        return exit_failure;
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        std::fprintf(stderr, "smtp-sink: pipe: %s\n", std::strerror(errno));
        return exit_failure;
    }
    const UniqueFd wake_read(pipe_fds[0]);
    const UniqueFd wake_write(pipe_fds[1]);

    // The stop signals stay blocked everywhere except inside ppoll below:
    // connection threads inherit the mask and never see EINTR, and the flag
    // cannot be set between testing it and going to sleep.
    sigset_t stop_signals;
    sigset_t while_waiting;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &while_waiting);
    sigdelset(&while_waiting, SIGINT);
    sigdelset(&while_waiting, SIGTERM);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);

    std::printf("ready %s\n", where.c_str());
    std::fflush(stdout);

    Shared shared(options, tls.get(), maildir ? &*maildir : nullptr, wake_write.get());
    Connections connections;
    while (!stop_signal && !shared.limit_reached()) {
        pollfd fds[2] = {{listener.get(), POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
        if (::ppoll(fds, 2, nullptr, &while_waiting) <= 0) continue; // EINTR: test the flags
        if (fds[0].revents & POLLIN) accept_one(listener.get(), shared, connections);
        connections.reap();
    }
    listener.reset(); // refuse new connections at once

    // After --max-messages, let the clients finish (they usually QUIT at
    // once); a signal ends the wait, and so does the grace period.
    const auto deadline = std::chrono::steady_clock::now() + drain_grace;
    while (!stop_signal && !connections.idle() && std::chrono::steady_clock::now() < deadline) {
        const timespec tick{0, 20'000'000};
        ::ppoll(nullptr, 0, &tick, &while_waiting);
    }
    connections.stop_all();
    return 0;
}
