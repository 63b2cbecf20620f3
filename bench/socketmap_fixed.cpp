// socketmap_fixed.cpp - the baseline of the policyd benchmark: a socketmap
// server with mtatls-policyd's event loop and limits (shim/postfix) that
// answers every request with the same reply, without the module.  The
// difference to mtatls-policyd is what resolving and mapping a policy
// costs per lookup.
//
//   socketmap-fixed --listen unix:PATH|inet:127.0.0.1:PORT ... --reply "OK may ..."
//
// Prints "ready ADDRESS ..." on standard output once listening; stops on
// SIGTERM.
#include "daemon_log.h"
#include "listen_address.h"
#include "socketmap_server.h"
#include "unique_fd.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace mtatls::postfix;

struct FixedHandler : RequestHandler {
    std::string reply;
    std::string answer(const Request&) override { return reply; }
};

} // namespace

int main(int argc, char** argv) {
    FixedHandler handler;
    handler.reply = "OK may";
    std::vector<ListenAddress> addresses;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        std::string error;
        if (arg == "--listen") {
            const auto address = parse_listen_address(argv[i + 1], error);
            if (!address) {
                std::fprintf(stderr, "socketmap-fixed: %s\n", error.c_str());
                return 64;
            }
            addresses.push_back(*address);
        } else if (arg == "--reply") {
            handler.reply = argv[i + 1];
        } else {
            std::fprintf(stderr, "usage: socketmap-fixed --listen ADDRESS... [--reply TEXT]\n");
            return 64;
        }
    }
    if (addresses.empty()) {
        std::fprintf(stderr, "usage: socketmap-fixed --listen ADDRESS... [--reply TEXT]\n");
        return 64;
    }
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    mtatls::host::UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));

    std::vector<Listener> listeners;
    std::string ready = "ready";
    for (const ListenAddress& address : addresses) {
        std::string error;
        auto listener = Listener::open(address, 0666, error);
        if (!listener) {
            std::fprintf(stderr, "socketmap-fixed: %s\n", error.c_str());
            return 71;
        }
        ready += " " + listener->address().text();
        listeners.push_back(std::move(*listener));
    }
    DaemonLog log("socketmap-fixed");
    ServerLimits limits;
    limits.max_clients = 1024;
    SocketmapServer server(std::move(listeners), limits, handler, log, false);
    server.watch(signal_fd.get(), [&] { server.stop(); });
    std::printf("%s\n", ready.c_str());
    std::fflush(stdout);
    return server.run() ? 0 : 71;
}
