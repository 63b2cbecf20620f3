// socketmap_load.cpp - the load generator of the policyd benchmark: C
// connections, each a thread that sends socketmap lookups for keys from a
// file and reads the replies, as Postfix's smtp processes do (one request,
// then its reply: --pipeline 1), or with up to P requests in flight
// (--pipeline P: what the server can do when the client is not the limit).
//
//   socketmap-load --connect unix:PATH|inet:HOST:PORT --name NAME --keys FILE
//                  [--connections C] [--pipeline P] [--seconds S]
//
// Prints "result lookups=N seconds=S rate=R errors=E" (errors: replies that
// are not OK/NOTFOUND, and I/O failures).
#include "netstring.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace mtatls::postfix;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string connect, name = "default", keys;
    int connections = 1;
    int pipeline = 1;
    double seconds = 3.0;
};

int connect_to(const std::string& address) {
    if (address.rfind("unix:", 0) == 0) {
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", address.c_str() + 5);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) return fd;
        if (fd >= 0) ::close(fd);
        return -1;
    }
    const std::string rest = address.substr(5); // inet:HOST:PORT
    const auto colon = rest.rfind(':');
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<uint16_t>(std::stoi(rest.substr(colon + 1))));
    inet_pton(AF_INET, rest.substr(0, colon).c_str(), &sin.sin_addr);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0) return fd;
    if (fd >= 0) ::close(fd);
    return -1;
}

struct Totals {
    std::atomic<long> lookups{0};
    std::atomic<long> errors{0};
};

void client(const Options& options, const std::vector<std::string>& requests, int index,
            Clock::time_point end, Totals& totals) {
    const int fd = connect_to(options.connect);
    if (fd < 0) {
        ++totals.errors;
        return;
    }
    NetstringDecoder replies(200000);
    std::vector<char> buffer(65536);
    std::size_t next = static_cast<std::size_t>(index) * 7919 % requests.size();
    long lookups = 0;
    long errors = 0;
    while (Clock::now() < end) {
        std::string batch;
        for (int i = 0; i < options.pipeline; ++i) {
            batch += requests[next];
            next = (next + 1) % requests.size();
        }
        if (::send(fd, batch.data(), batch.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(batch.size())) {
            ++errors;
            break;
        }
        int pending = options.pipeline;
        while (pending > 0) {
            NetstringDecoder::Status status;
            while (pending > 0 && (status = replies.next()) == NetstringDecoder::Status::payload) {
                const std::string_view reply = replies.payload();
                if (!reply.starts_with("OK ") && !reply.starts_with("NOTFOUND")) ++errors;
                ++lookups;
                --pending;
            }
            if (pending == 0) break;
            const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
            if (n <= 0) {
                ++errors;
                pending = -1;
                break;
            }
            replies.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        }
        if (pending < 0) break;
    }
    ::close(fd);
    totals.lookups += lookups;
    totals.errors += errors;
}

} // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const std::string value = argv[i + 1];
        if (arg == "--connect")
            options.connect = value;
        else if (arg == "--name")
            options.name = value;
        else if (arg == "--keys")
            options.keys = value;
        else if (arg == "--connections")
            options.connections = std::stoi(value);
        else if (arg == "--pipeline")
            options.pipeline = std::stoi(value);
        else if (arg == "--seconds")
            options.seconds = std::stod(value);
        else {
            std::fprintf(stderr, "socketmap-load: unknown argument %s\n", arg.c_str());
            return 64;
        }
    }
    std::vector<std::string> requests;
    std::ifstream keys(options.keys);
    for (std::string key; std::getline(keys, key);)
        if (!key.empty()) requests.push_back(netstring_encode(options.name + " " + key));
    if (options.connect.empty() || requests.empty() || options.connections < 1 ||
        options.pipeline < 1) {
        std::fprintf(stderr, "usage: socketmap-load --connect ADDRESS --keys FILE [--name NAME] "
                             "[--connections C] [--pipeline P] [--seconds S]\n");
        return 64;
    }
    Totals totals;
    const Clock::time_point start = Clock::now();
    const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(options.seconds));
    std::vector<std::thread> threads;
    for (int i = 0; i < options.connections; ++i)
        threads.emplace_back(client, std::cref(options), std::cref(requests), i, end,
                             std::ref(totals));
    for (std::thread& t : threads)
        t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("result lookups=%ld seconds=%.3f rate=%.0f errors=%ld\n", totals.lookups.load(),
                seconds, static_cast<double>(totals.lookups.load()) / seconds,
                totals.errors.load());
    return totals.errors.load() == 0 ? 0 : 1;
}
