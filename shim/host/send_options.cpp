// send_options.cpp - mtatls-send's command line.
#include "send_options.h"

#include "ascii_case.h"

#include <algorithm>
#include <charconv>

namespace mtatls::host {
namespace {

// A day is far beyond any sensible SMTP wait; the cap also keeps the
// arithmetic far from overflow.
constexpr long long max_seconds = 86400;
// More addresses than any MX set needs; the cap keeps a typo from meaning
// "try for ever".
constexpr long long max_address_limit = 1000;

bool parse_seconds(const std::string& text, long long& out) {
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max_seconds)
        return false;
    out = value;
    return true;
}

bool has_control(const std::string& text) {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    });
}

std::string name_problem(const std::string& name) {
    if (name.empty()) return "is empty";
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f) return "contains a space, control or non-ASCII byte";
    }
    return {};
}

// A DNS name used for policy lookup or certificate matching.  OpenSSL reads
// a name starting with '.' as "any subdomain", so that and empty labels
// are refused outright.
std::string dns_name_problem(const std::string& name) {
    if (std::string why = name_problem(name); !why.empty()) return why;
    if (name.front() == '[') return {}; // an address literal
    const std::string body = name.back() == '.' ? name.substr(0, name.size() - 1) : name;
    if (body.empty() || body.front() == '.' || body.find("..") != std::string::npos ||
        body.back() == '.')
        return "has an empty label";
    return {};
}

// Lower case, one trailing dot removed: domains compare that way.
std::string domain_key(std::string domain) {
    if (domain.size() > 1 && domain.back() == '.') domain.pop_back();
    return ascii_lower(domain);
}

std::string domain_of(const std::string& address) {
    const auto at = address.rfind('@');
    return at == std::string::npos ? std::string() : address.substr(at + 1);
}

} // namespace

std::string address_problem(const std::string& address) {
    // RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets.
    if (address.size() > 254) return "is longer than 254 bytes";
    if (has_control(address)) return "contains a control byte";
    if (address.find_first_of("<>") != std::string::npos) return "contains '<' or '>'";
    return {};
}

ParsedOptions parse_send_options(const std::vector<std::string>& args) {
    ParsedOptions parsed;
    SendOptions& o = parsed.options;
    std::string next_hop;
    std::string timeout_text;
    std::string attempt_text;
    std::string resolver_text;
    std::string limit_text;
    bool have_sender = false;
    bool options_done = false;
    const auto usage = [&parsed](std::string message) {
        parsed.error = std::move(message);
        return parsed;
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
            o.recipients.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg == "--help" || arg == "-h") {
            o.help = true;
            return parsed;
        }
        if (arg == "--version") {
            o.version = true;
            return parsed;
        }
        // -fSENDER, sendmail style, besides -f SENDER.
        if (arg.size() > 2 && arg.starts_with("-f")) {
            o.sender = arg.substr(2);
            have_sender = true;
            continue;
        }
        std::string* into = nullptr;
        if (arg == "--config")
            into = &o.config;
        else if (arg == "--module")
            into = &o.module;
        else if (arg == "--binding")
            into = &o.binding;
        else if (arg == "--binding-group")
            into = &o.binding_group;
        else if (arg == "--domain")
            into = &o.domain;
        else if (arg == "--next-hop")
            into = &next_hop;
        else if (arg == "--mx-name")
            into = &o.mx_name;
        else if (arg == "--helo")
            into = &o.helo;
        else if (arg == "--timeout")
            into = &timeout_text;
        else if (arg == "--attempt-timeout")
            into = &attempt_text;
        else if (arg == "--resolver")
            into = &resolver_text;
        else if (arg == "--mx-address-limit")
            into = &limit_text;
        else if (arg == "--defer-local-errors") {
            o.defer_local_errors = true;
            continue;
        } else if (arg == "--pipe") {
            o.pipe = o.defer_local_errors = true;
            continue;
        } else if (arg == "-f") {
            into = &o.sender;
            have_sender = true;
        } else
            return usage("unknown option " + arg);
        if (i + 1 >= args.size()) return usage(arg + " needs a value");
        *into = args[++i];
        if (arg == "--timeout") o.timeout_given = true;
    }

    if (o.config.empty()) return usage("--config FILE is required");
    if (next_hop.empty()) return usage("--next-hop DESTINATION is required");
    if (!have_sender) return usage("-f SENDER is required (-f '' for the null sender)");
    if (o.recipients.empty()) return usage("at least one recipient is required");

    std::string error;
    const auto hop = parse_next_hop(next_hop, error);
    if (!hop) return usage("--next-hop: " + error);
    o.next_hop = *hop;
    if (!o.mx_name.empty()) {
        if (o.next_hop.kind == NextHopKind::mx_lookup)
            return usage("--mx-name cannot be used with an MX lookup (--next-hop " + next_hop +
                         "): each MX host's own name is verified; write --next-hop [" +
                         o.next_hop.name + "] to deliver to that host without an MX lookup");
        if (const std::string why = dns_name_problem(o.mx_name); !why.empty())
            return usage("--mx-name " + why);
    }
    if (!resolver_text.empty()) {
        const auto servers = parse_dns_servers(resolver_text, error);
        if (!servers) return usage("--resolver: " + error);
        o.resolver = *servers;
    }
    if (!limit_text.empty()) {
        long long limit = 0;
        const auto [end, ec] =
            std::from_chars(limit_text.data(), limit_text.data() + limit_text.size(), limit);
        if (ec != std::errc() || end != limit_text.data() + limit_text.size() || limit < 0 ||
            limit > max_address_limit)
            return usage("--mx-address-limit: want a number from 0 (no limit) to " +
                         std::to_string(max_address_limit));
        o.mx_address_limit = static_cast<std::size_t>(limit);
    }
    if (!o.helo.empty())
        if (const std::string why = name_problem(o.helo); !why.empty())
            return usage("--helo " + why);

    if (!timeout_text.empty() && !parse_seconds(timeout_text, o.timeout))
        return usage("--timeout: want whole seconds from 1 to " + std::to_string(max_seconds));
    if (!attempt_text.empty() && !parse_seconds(attempt_text, o.attempt_timeout))
        return usage("--attempt-timeout: want whole seconds from 1 to " +
                     std::to_string(max_seconds));

    if (o.sender == "<>") o.sender.clear();
    if (const std::string why = address_problem(o.sender); !why.empty())
        return usage("sender address " + why);
    for (const std::string& rcpt : o.recipients) {
        if (rcpt.empty()) return usage("empty recipient address");
        if (const std::string why = address_problem(rcpt); !why.empty())
            return usage(
                std::string("recipient address \"").append(rcpt).append("\" ").append(why));
    }
    if (o.domain.empty()) {
        o.domain = domain_of(o.recipients.front());
        if (o.domain.empty())
            return usage("--domain is required: the first recipient has no domain");
        // The recipient domain decides the policy and is a name the server
        // certificate may carry: one run must not mix domains, or a
        // recipient in a lax (or attacker-owned) domain would set the
        // terms for all the others.
        for (const std::string& rcpt : o.recipients)
            if (domain_key(domain_of(rcpt)) != domain_key(o.domain))
                return usage("recipients are in several domains (" + o.domain + ", " +
                             domain_of(rcpt) +
                             "): deliver one domain per run, or name the policy domain with "
                             "--domain");
    }
    if (const std::string why = dns_name_problem(o.domain); !why.empty())
        return usage("domain \"" + o.domain + "\" " + why);
    if (has_control(o.domain) || has_control(o.binding) || has_control(o.binding_group))
        return usage("--domain, --binding and --binding-group must not contain control bytes");
    return parsed;
}

Timeouts timeouts_for(const SendOptions& options) {
    Timeouts t;
    t.connect = seconds(std::min<long long>(30, options.timeout));
    t.reply = seconds(options.timeout);
    t.handshake = seconds(options.timeout);
    t.data_end = seconds(options.timeout_given ? options.timeout
                                               : std::max<long long>(options.timeout, 600));
    t.quit = seconds(std::min<long long>(10, options.timeout));
    t.dns = seconds(std::min<long long>(60, options.timeout));
    t.attempt = seconds(options.attempt_timeout);
    return t;
}

} // namespace mtatls::host
