// policyd_options.cpp - mtatls-policyd's command line.
#include "policyd_options.h"

#include <charconv>
#include <limits>

namespace mtatls::postfix {
namespace {

bool parse_number(std::string_view text, unsigned long min, unsigned long max, int base,
                  unsigned long& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size() && value >= min &&
           value <= max;
}

} // namespace

const char* policyd_usage() {
    return "usage: mtatls-policyd --config FILE --listen unix:PATH|inet:127.0.0.1:PORT ...\n"
           "                      [--module PATH] [--max-clients N] [--idle-timeout SECONDS]\n"
           "                      [--max-request BYTES] [--socket-mode MODE] [--verbose]\n"
           "       mtatls-policyd --check --config FILE [--name NAME ...] [--next-hop KEY ...]\n"
           "                      [--module PATH]\n"
           "       mtatls-policyd --version | --help\n"
           "Answers Postfix's socketmap lookups for smtp_tls_policy_maps with the mtatls policy:\n"
           "  smtp_tls_policy_maps = socketmap:unix:PATH:BINDING\n";
}

bool parse_policyd_options(int argc, const char* const* argv, PolicydOptions& options,
                           std::string& error) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&](std::string& into) {
            if (i + 1 >= argc) {
                error = arg + " needs a value";
                return false;
            }
            into = argv[++i];
            return true;
        };
        std::string text;
        unsigned long number = 0;
        if (arg == "--help" || arg == "-h") {
            options.help = true;
        } else if (arg == "--version") {
            options.version = true;
        } else if (arg == "--verbose" || arg == "-v") {
            options.verbose = true;
        } else if (arg == "--check") {
            options.check = true;
        } else if (arg == "--quiet-load") {
            options.quiet_load = true;
        } else if (arg == "--config") {
            if (!value(options.config)) return false;
        } else if (arg == "--module") {
            if (!value(options.module)) return false;
        } else if (arg == "--listen") {
            if (!value(text)) return false;
            const auto address = parse_listen_address(text, error);
            if (!address) return false;
            options.listen.push_back(*address);
        } else if (arg == "--max-clients") {
            if (!value(text)) return false;
            if (!parse_number(text, 1, 65536, 10, number)) {
                error = "--max-clients wants a number from 1 to 65536, not \"" + text + "\"";
                return false;
            }
            options.limits.max_clients = number;
        } else if (arg == "--idle-timeout") {
            if (!value(text)) return false;
            if (!parse_number(text, 1, 86400, 10, number)) {
                error = "--idle-timeout wants seconds from 1 to 86400, not \"" + text + "\"";
                return false;
            }
            options.limits.idle_timeout = std::chrono::seconds(number);
        } else if (arg == "--max-request") {
            if (!value(text)) return false;
            if (!parse_number(text, 64, 1000000, 10, number)) {
                error = "--max-request wants bytes from 64 to 1000000, not \"" + text + "\"";
                return false;
            }
            options.limits.max_request = number;
        } else if (arg == "--socket-mode") {
            if (!value(text)) return false;
            if (!parse_number(text, 0, 0777, 8, number)) {
                error = "--socket-mode wants an octal mode such as 0660, not \"" + text + "\"";
                return false;
            }
            options.socket_mode = static_cast<mode_t>(number);
        } else if (arg == "--name") {
            if (!value(text)) return false;
            options.check_names.push_back(text);
        } else if (arg == "--next-hop") {
            if (!value(text)) return false;
            options.check_next_hops.push_back(text);
        } else {
            error = "unknown argument " + arg;
            return false;
        }
    }
    if (options.help || options.version) return true;
    if (options.config.empty()) {
        error = "--config FILE is required";
        return false;
    }
    if (options.check) {
        if (!options.listen.empty()) {
            error = "--check and --listen do not go together";
            return false;
        }
        return true;
    }
    if (!options.check_names.empty() || !options.check_next_hops.empty()) {
        error = "--name and --next-hop go with --check";
        return false;
    }
    if (options.listen.empty()) {
        error = "at least one --listen unix:PATH or inet:127.0.0.1:PORT is required";
        return false;
    }
    return true;
}

} // namespace mtatls::postfix
