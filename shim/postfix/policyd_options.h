// policyd_options.h - the command line of mtatls-policyd (see
// docs/man/mtatls-policyd.8):
//
//   mtatls-policyd --config FILE --listen ADDR [--listen ADDR ...]
//                  [--module PATH] [--max-clients N] [--idle-timeout SECONDS]
//                  [--max-request BYTES] [--socket-mode MODE] [--verbose]
//   mtatls-policyd --check --config FILE [--name NAME ...] [--next-hop KEY ...]
//                  [--module PATH] [--quiet-load]
//   mtatls-policyd --version | --help
#pragma once

#include "listen_address.h"
#include "socketmap_server.h"

#include <sys/types.h>

#include <string>
#include <vector>

namespace mtatls::postfix {

struct PolicydOptions {
    std::string config;
    std::string module;
    std::vector<ListenAddress> listen;
    ServerLimits limits;
    mode_t socket_mode = 0660;
    bool verbose = false;
    bool check = false;
    bool quiet_load = false; // --check after mtatls-config check: no diagnostics twice
    std::vector<std::string> check_names;
    std::vector<std::string> check_next_hops;
    bool help = false;
    bool version = false;
};

// Parses argv; on error returns false with `error` set (exit 64).
bool parse_policyd_options(int argc, const char* const* argv, PolicydOptions& options,
                           std::string& error);

const char* policyd_usage();

} // namespace mtatls::postfix
