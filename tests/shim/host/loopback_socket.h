// loopback_socket.h - a socket bound to a loopback address, for the host
// tests that need a port of their own: a DNS server that never answers
// (UDP, nobody reads), an address that refuses connections (TCP, bound,
// not listening), or a test server's listener.  The descriptor is closed
// with its owner, whatever the test's path.
#pragma once

#include "unique_fd.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

namespace mtatls::test {

struct BoundSocket {
    host::UniqueFd fd;
    uint16_t port = 0; // the port bound (the kernel's choice for port 0)
};

// A socket of `type` (SOCK_STREAM, SOCK_DGRAM) bound to `address` (host
// byte order, 127.0.0.1 unless given) and `port` (0: any free one).
inline BoundSocket bind_loopback(int type, uint32_t address = INADDR_LOOPBACK, uint16_t port = 0) {
    BoundSocket bound{host::UniqueFd(::socket(AF_INET, type | SOCK_CLOEXEC, 0))};
    REQUIRE(bound.fd.valid());
    sockaddr_in name{};
    name.sin_family = AF_INET;
    name.sin_addr.s_addr = htonl(address);
    name.sin_port = htons(port);
    REQUIRE(::bind(bound.fd.get(), reinterpret_cast<sockaddr*>(&name), sizeof name) == 0);
    socklen_t length = sizeof name;
    REQUIRE(::getsockname(bound.fd.get(), reinterpret_cast<sockaddr*>(&name), &length) == 0);
    bound.port = ntohs(name.sin_port);
    return bound;
}

} // namespace mtatls::test
