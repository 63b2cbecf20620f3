// socketmap_server.h - the event loop of mtatls-policyd: one thread,
// poll(2) over the listeners, every client connection and a few extra
// descriptors (signals, reload results).
//
// A lookup is answered in memory (CONFIG_EXPLAIN and the mapping take
// microseconds), so the loop answers requests as it reads them and never
// blocks; reloads, which read files, run on another thread.  Limits, each
// so that no client can hold more than a bounded share:
//
//   max_clients    beyond it, new connections wait in the listen backlog
//                  until a client leaves (Postfix's socketmap client gives
//                  up after 100 s and defers the mail);
//   idle_timeout   a connection without progress (no byte read or
//                  written) for this long is closed; Postfix closes its
//                  own idle connections after 10 s and reconnects at will;
//   max_request    a request over it is answered PERM and the connection
//                  closed (socketmap_session.h);
//   max_output     replies piling up for a client that does not read
//                  stop the reading of its requests until they drain.
//
// stop() (on SIGTERM) closes the listeners at once, stops reading, gives
// the clients `shutdown_grace` to receive the replies already made, then
// closes them.
#pragma once

#include "daemon_log.h"
#include "listen_address.h"
#include "socketmap_session.h"

#include "unique_fd.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <string>
#include <vector>

namespace mtatls::postfix {

struct ServerLimits {
    std::size_t max_clients = 256;
    std::chrono::milliseconds idle_timeout{60000};
    std::size_t max_request = default_max_request;
    std::size_t max_output = 1024 * 1024;
    std::chrono::milliseconds shutdown_grace{2000};
};

class SocketmapServer {
  public:
    SocketmapServer(std::vector<Listener> listeners, ServerLimits limits, RequestHandler& handler,
                    DaemonLog& log, bool verbose);
    ~SocketmapServer();
    SocketmapServer(const SocketmapServer&) = delete;
    SocketmapServer& operator=(const SocketmapServer&) = delete;

    // Calls `on_readable` from the loop whenever `fd` is readable.
    void watch(int fd, std::function<void()> on_readable);
    // Ends run() after the grace period (callable from a watch callback).
    void stop();
    // Serves until stop(); returns false if poll itself failed.
    bool run();

    [[nodiscard]] std::size_t clients() const { return clients_.size(); }
    [[nodiscard]] std::size_t connections_accepted() const { return accepted_; }

  private:
    using Clock = std::chrono::steady_clock;
    struct Client {
        host::UniqueFd fd;
        std::string peer; // for the log
        SocketmapSession session;
        std::string out;
        std::size_t out_offset = 0;
        Clock::time_point last_progress;
        bool eof = false;  // the client closed its side
        bool dead = false; // to be removed
        [[nodiscard]] std::size_t pending() const { return out.size() - out_offset; }
    };
    struct Watch {
        int fd;
        std::function<void()> on_readable;
    };

    void accept_from(const Listener& listener);
    void serve(Client& client, short revents);
    void read_from(Client& client);
    void write_to(Client& client);
    [[nodiscard]] bool wants_read(const Client& client) const;

    std::vector<Listener> listeners_;
    ServerLimits limits_;
    RequestHandler& handler_;
    DaemonLog& log_;
    bool verbose_;
    std::vector<Watch> watches_;
    std::list<Client> clients_;
    bool stopping_ = false;
    Clock::time_point stop_deadline_;
    bool at_limit_logged_ = false;
    bool accept_error_logged_ = false;
    std::size_t accepted_ = 0;
    std::vector<char> read_buffer_; // one for all clients: the loop reads one at a time
};

} // namespace mtatls::postfix
