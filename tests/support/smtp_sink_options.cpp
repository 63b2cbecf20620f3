// smtp_sink_options.cpp - parses and cross-checks the sink's command line.
#include "smtp_sink_options.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <utility>

namespace mtatls::sink {

const char* const usage_text =
    "usage: smtp-sink --listen ADDR:PORT [--cert FILE [--key FILE] [--chain FILE]]\n"
    "                 [--no-starttls] [--maildir DIR] [--hostname NAME] [--max-messages N]\n"
    "                 [--ask-client-cert [--client-ca FILE]] [--reject-rcpt SUBSTR]\n"
    "                 [--defer-rcpt SUBSTR] [--quiet]\n"
    "ADDR is IPv4 or [IPv6]; PORT 0 picks a free port. Prints `ready ADDR:PORT` once listening.\n";

namespace {

ParsedOptions failure(std::string message) { return {std::nullopt, std::move(message)}; }

bool parse_number(std::string_view text, std::uint64_t& value) {
    const char* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(text.data(), end, value);
    return !text.empty() && ec == std::errc() && stop == end;
}

// Splits ADDR:PORT or [IPv6]:PORT; the address itself is checked when binding.
bool split_listen(Options& options) {
    std::string_view text = options.listen;
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) return false;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return false; // IPv6 needs brackets
    }
    std::uint64_t number = 0;
    if (host.empty() || !parse_number(port, number) || number > 65535) return false;
    options.listen_host = host;
    options.listen_port = std::to_string(number);
    return true;
}

} // namespace

ParsedOptions parse_options(int argc, char** argv) {
    static const std::pair<std::string_view, std::string Options::*> valued[] = {
        {"--listen", &Options::listen},
        {"--cert", &Options::cert},
        {"--key", &Options::key},
        {"--chain", &Options::chain},
        {"--maildir", &Options::maildir},
        {"--hostname", &Options::hostname},
        {"--client-ca", &Options::client_ca},
        {"--reject-rcpt", &Options::reject_rcpt},
        {"--defer-rcpt", &Options::defer_rcpt},
    };
    static const std::pair<std::string_view, std::pair<bool Options::*, bool>> flags[] = {
        {"--no-starttls", {&Options::offer_starttls, false}},
        {"--ask-client-cert", {&Options::ask_client_cert, true}},
        {"--quiet", {&Options::quiet, true}},
    };

    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") return {};
        bool known = false;
        for (const auto& [name, member] : flags) {
            if (arg != name) continue;
            options.*member.first = member.second;
            known = true;
        }
        if (known) continue;
        if (i + 1 >= argc) return failure("unknown option or missing value: " + std::string(arg));
        const std::string_view value = argv[++i];
        if (arg == "--max-messages") {
            if (!parse_number(value, options.max_messages) || options.max_messages == 0)
                return failure("--max-messages wants a positive number");
            continue;
        }
        for (const auto& [name, member] : valued) {
            if (arg != name) continue;
            options.*member = value;
            known = true;
        }
        if (!known) return failure("unknown option: " + std::string(arg));
    }

    if (options.listen.empty()) return failure("--listen is required");
    if (!split_listen(options)) return failure("--listen wants ADDR:PORT or [IPv6]:PORT");
    if (options.cert.empty() && (!options.key.empty() || !options.chain.empty()))
        return failure("--key and --chain need --cert");
    if (options.ask_client_cert && options.cert.empty())
        return failure("--ask-client-cert needs --cert");
    if (!options.client_ca.empty() && !options.ask_client_cert)
        return failure("--client-ca needs --ask-client-cert");
    // The name goes into every reply and header, so it must be one printable word.
    const bool printable = std::all_of(options.hostname.begin(), options.hostname.end(),
                                       [](char c) { return c > ' ' && c < 0x7f && c != '/'; });
    if (options.hostname.empty() || !printable)
        return failure("--hostname wants one word of printable ASCII");
    return {std::move(options), {}};
}

} // namespace mtatls::sink
