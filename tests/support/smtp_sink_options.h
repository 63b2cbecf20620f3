// smtp_sink_options.h - the test sink's command line, parsed into a plain
// value that every connection then reads and never changes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mtatls::sink {

struct Options {
    std::string listen;      // as given: ADDR:PORT or [IPv6]:PORT
    std::string listen_host; // numeric address without brackets
    std::string listen_port; // numeric; "0" picks a free port
    std::string cert;        // empty: no TLS at all
    std::string key;         // empty: the key is in the cert file
    std::string chain;       // extra intermediates sent after the leaf
    bool offer_starttls = true;
    std::string maildir; // empty: count messages and discard them
    std::string hostname = "mx.example.test";
    std::uint64_t max_messages = 0; // 0: no limit
    bool ask_client_cert = false;
    std::string client_ca;
    std::string reject_rcpt; // recipients containing this get 550 5.1.1
    std::string defer_rcpt;  // recipients containing this get 450 4.2.0
    bool quiet = false;
};

struct ParsedOptions {
    std::optional<Options> options; // empty on --help or error
    std::string error;              // empty on --help
};

ParsedOptions parse_options(int argc, char** argv);

extern const char* const usage_text;

} // namespace mtatls::sink
