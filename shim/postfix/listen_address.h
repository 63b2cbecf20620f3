// listen_address.h - where mtatls-policyd listens: "unix:PATH" or
// "inet:127.0.0.1:PORT" ("inet:[::1]:PORT"), the forms Postfix's
// socketmap client names (socketmap:unix:PATH:NAME,
// socketmap:inet:HOST:PORT:NAME).
//
// Only loopback addresses are accepted for TCP: the socketmap protocol has
// no authentication, and a policy server reachable from the network would
// tell anyone which destinations are checked how, and could be flooded.
//
// A UNIX socket is created with the given mode (default 0660: the owner
// and the group, e.g. postfix, may connect).  A stale socket file left by
// a crashed daemon is replaced; one that a running server still answers on
// is not.  The file is removed again when the listener is destroyed, but
// only if it is still the one this listener created.
#pragma once

#include "unique_fd.h"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtatls::postfix {

struct ListenAddress {
    enum class Kind { unix_socket, inet };
    Kind kind = Kind::unix_socket;
    std::string path; // unix
    std::string host; // inet: numeric, without brackets
    uint16_t port = 0;

    // "unix:/run/mtatls/policy.sock", "inet:127.0.0.1:10026"
    [[nodiscard]] std::string text() const;
};

std::optional<ListenAddress> parse_listen_address(std::string_view text, std::string& error);

class Listener {
  public:
    // Binds and listens; nullopt with `error` set on failure.  For inet
    // with port 0 the kernel picks the port: address().port says which.
    static std::optional<Listener> open(const ListenAddress& address, mode_t unix_mode,
                                        std::string& error);
    ~Listener();
    Listener(Listener&& other) noexcept;
    Listener& operator=(Listener&&) = delete;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] const ListenAddress& address() const { return address_; }
    // Stops listening (and removes the socket file) before destruction.
    void close();

  private:
    Listener() = default;
    host::UniqueFd fd_;
    ListenAddress address_;
    dev_t device_ = 0; // of the socket file we created, to remove only ours
    ino_t inode_ = 0;
    bool owns_path_ = false;
};

} // namespace mtatls::postfix
