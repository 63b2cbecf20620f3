// smtp_sink_session.cpp - a small, strict ESMTP server: EHLO/HELO, STARTTLS,
// MAIL, RCPT, DATA, RSET, NOOP, QUIT. Replies follow Postfix's wording so
// tests read like the real thing. PIPELINING is not advertised, but commands
// that arrive pipelined are still answered in order.
#include "smtp_sink_session.h"

#include "smtp_sink_stream.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <optional>
#include <string_view>
#include <vector>

namespace mtatls::sink {

namespace {

constexpr std::size_t command_limit = 2048;                       // Postfix's line_length_limit
constexpr std::size_t size_limit = std::size_t{50} * 1024 * 1024; // advertised as SIZE
constexpr std::size_t max_recipients = 1000;
constexpr int max_errors = 20; // then 421, as Postfix's smtpd_hard_error_limit

enum class Next { carry_on, close };

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

bool istarts_with(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view chomp(std::string_view line) {
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    return line;
}

// Client-supplied text goes into a header: no control bytes.
std::string printable(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

struct Path {
    std::string address;
    std::vector<std::string_view> parameters;
};

// "FROM:<address> PARAM..." / "TO:<address> PARAM..."; one space after the
// colon is tolerated, as Postfix does.
std::optional<Path> parse_path(std::string_view argument, std::string_view keyword) {
    if (!istarts_with(argument, keyword)) return std::nullopt;
    argument.remove_prefix(keyword.size());
    if (argument.starts_with(' ')) argument.remove_prefix(1);
    const auto close = argument.find('>');
    if (!argument.starts_with('<') || close == std::string_view::npos) return std::nullopt;
    Path path{std::string(argument.substr(1, close - 1)), {}};
    if (path.address.find_first_of("< ") != std::string::npos) return std::nullopt;
    std::string_view rest = argument.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(' ')) return std::nullopt;
    while (!rest.empty()) {
        rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
        const auto end = std::min(rest.find(' '), rest.size());
        if (end > 0) path.parameters.push_back(rest.substr(0, end));
        rest.remove_prefix(end);
    }
    return path;
}

std::string rfc5322_date() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    char text[64];
    std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &utc);
    return text;
}

class Session {
  public:
    Session(Shared& shared, int fd, const std::string& peer)
        : shared_(shared), options_(shared.options), stream_(fd), peer_(peer) {}

    void run();

  private:
    Next dispatch(std::string_view line);
    Next hello(std::string_view argument, bool extended);
    Next starttls(std::string_view argument);
    Next mail(std::string_view argument);
    Next rcpt(std::string_view argument);
    Next data(std::string_view argument);
    Next accept_message(const std::string& body);

    Next reply(const std::string& text);
    Next error(const std::string& text);
    void reset_transaction();
    std::string received_header(std::uint64_t id) const;
    void log(const std::string& text) const;

    Shared& shared_;
    const Options& options_;
    Stream stream_;
    const std::string peer_;
    std::string helo_; // empty until HELO/EHLO, and again after STARTTLS
    bool esmtp_ = false;
    std::optional<TlsFacts> tls_;
    std::optional<std::string> sender_;
    std::vector<std::string> recipients_;
    int errors_ = 0;
};

void Session::run() {
    if (reply("220 " + options_.hostname + " ESMTP mtatls test sink") == Next::close) return;
    std::string line;
    for (;;) {
        switch (stream_.read_line(line, command_limit)) {
        case Stream::Read::line:
            if (dispatch(chomp(line)) == Next::close) return;
            break;
        case Stream::Read::too_long:
            if (error("500 5.5.2 Error: line too long") == Next::close) return;
            break;
        case Stream::Read::closed:
            if (stream_.timed_out()) {
                reply("421 4.4.2 " + options_.hostname + " Error: timeout exceeded");
                log("error=timeout");
            }
            return;
        }
    }
}

Next Session::dispatch(std::string_view line) {
    const auto space = line.find(' ');
    const std::string_view verb = line.substr(0, space);
    std::string_view argument = space == std::string_view::npos ? "" : line.substr(space + 1);
    argument.remove_prefix(std::min(argument.find_first_not_of(' '), argument.size()));
    while (argument.ends_with(' '))
        argument.remove_suffix(1);

    if (iequals(verb, "EHLO")) return hello(argument, true);
    if (iequals(verb, "HELO")) return hello(argument, false);
    if (iequals(verb, "STARTTLS")) return starttls(argument);
    if (iequals(verb, "MAIL")) return mail(argument);
    if (iequals(verb, "RCPT")) return rcpt(argument);
    if (iequals(verb, "DATA")) return data(argument);
    if (iequals(verb, "RSET")) {
        reset_transaction();
        return reply("250 2.0.0 Ok");
    }
    if (iequals(verb, "NOOP")) return reply("250 2.0.0 Ok");
    if (iequals(verb, "QUIT")) {
        reply("221 2.0.0 Bye");
        stream_.end_tls();
        return Next::close;
    }
    return error("500 5.5.2 Error: command not recognized");
}

Next Session::hello(std::string_view argument, bool extended) {
    if (argument.empty())
        return error(std::string("501 5.5.4 Syntax: ") + (extended ? "EHLO" : "HELO") +
                     " hostname");
    reset_transaction();
    helo_ = printable(argument);
    esmtp_ = extended;
    if (!extended) return reply("250 " + options_.hostname);
    std::string text = "250-" + options_.hostname + "\r\n250-SIZE " + std::to_string(size_limit) +
                       "\r\n250-8BITMIME\r\n";
    if (shared_.tls && options_.offer_starttls && !tls_) text += "250-STARTTLS\r\n";
    return reply(text + "250 ENHANCEDSTATUSCODES");
}

Next Session::starttls(std::string_view argument) {
    if (!argument.empty()) return error("501 5.5.4 Syntax: STARTTLS");
    if (tls_) return error("554 5.5.1 Error: TLS already active");
    if (!shared_.tls || !options_.offer_starttls)
        return error("502 5.5.1 Error: command not implemented");
    if (reply("220 2.0.0 Ready to start TLS") == Next::close) return Next::close;
    std::string why;
    if (!stream_.start_tls(shared_.tls, why)) {
        log("error=\"TLS handshake failed: " + why + "\"");
        return Next::close;
    }
    tls_ = describe_tls(stream_.ssl(), options_.ask_client_cert);
    // RFC 3207: forget everything learned before TLS; EHLO must come again.
    helo_.clear();
    esmtp_ = false;
    reset_transaction();
    return Next::carry_on;
}

Next Session::mail(std::string_view argument) {
    if (helo_.empty()) return error("503 5.5.1 Error: send HELO/EHLO first");
    if (sender_) return error("503 5.5.1 Error: nested MAIL command");
    if (shared_.limit_reached()) {
        reply("421 4.3.2 " + options_.hostname + " Error: message limit reached");
        return Next::close;
    }
    const auto path = parse_path(argument, "FROM:");
    if (!path) return error("501 5.5.4 Syntax: MAIL FROM:<address>");
    for (const std::string_view parameter : path->parameters) {
        if (istarts_with(parameter, "SIZE=")) {
            const std::string_view digits = parameter.substr(5);
            std::size_t size = 0;
            const auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), size);
            if (ec != std::errc() || end != digits.data() + digits.size())
                return error("501 5.5.4 Bad message size syntax");
            if (size > size_limit) return error("552 5.3.4 Message size exceeds fixed limit");
        } else if (!iequals(parameter, "BODY=7BIT") && !iequals(parameter, "BODY=8BITMIME")) {
            return error("555 5.5.4 Unsupported option: " + printable(parameter));
        }
    }
    sender_ = path->address;
    return reply("250 2.1.0 Ok");
}

Next Session::rcpt(std::string_view argument) {
    if (!sender_) return error("503 5.5.1 Error: need MAIL command");
    const auto path = parse_path(argument, "TO:");
    if (!path || path->address.empty()) return error("501 5.1.3 Bad recipient address syntax");
    if (!path->parameters.empty())
        return error("555 5.5.4 Unsupported option: " + printable(path->parameters.front()));
    const std::string& address = path->address;
    if (recipients_.size() >= max_recipients) return reply("452 4.5.3 Error: too many recipients");
    const std::string quoted = "<" + printable(address) + ">";
    if (!options_.reject_rcpt.empty() && address.find(options_.reject_rcpt) != std::string::npos)
        return reply("550 5.1.1 " + quoted + ": Recipient address rejected: User unknown");
    if (!options_.defer_rcpt.empty() && address.find(options_.defer_rcpt) != std::string::npos)
        return reply("450 4.2.0 " + quoted + ": Recipient address rejected: Try again later");
    recipients_.push_back(address);
    return reply("250 2.1.5 Ok");
}

Next Session::data(std::string_view argument) {
    if (!argument.empty()) return error("501 5.5.4 Syntax: DATA");
    if (!sender_) return error("503 5.5.1 Error: need MAIL command");
    if (recipients_.empty()) return error("554 5.5.1 Error: no valid recipients");
    if (reply("354 End data with <CR><LF>.<CR><LF>") == Next::close) return Next::close;

    // Only CRLF ends a line here (RFC 5321 4.1.1.4): a bare LF is an
    // ordinary byte, kept as received, and "\n.\n" neither ends the message
    // nor is unstuffed, so a test sees exactly what a sloppy client sent.
    std::string body;
    std::string line;
    bool too_big = false;
    bool line_start = true; // the previous piece ended with CRLF
    for (;;) {
        const auto read = stream_.read_line(line, size_limit);
        if (read == Stream::Read::closed) {
            log("error=\"lost connection in DATA\"");
            return Next::close;
        }
        if (read == Stream::Read::too_long) {
            too_big = true;
            line_start = true; // its ending is unknown; assume the usual CRLF
            continue;
        }
        if (line_start && line == ".\r\n") break;
        std::string_view text = line;
        if (line_start && text.starts_with('.')) text.remove_prefix(1);
        line_start = line.ends_with("\r\n");
        too_big = too_big || body.size() + text.size() > size_limit;
        if (too_big)
            body.clear();
        else
            body += text;
    }
    if (too_big) {
        reset_transaction();
        return reply("552 5.3.4 Message size exceeds fixed limit");
    }
    return accept_message(body);
}

Next Session::accept_message(const std::string& body) {
    const std::uint64_t id = shared_.next_id.fetch_add(1);
    const std::uint64_t count = shared_.accepted.fetch_add(1) + 1;
    const std::uint64_t limit = options_.max_messages;
    if (limit != 0 && count > limit) {
        reply("421 4.3.2 " + options_.hostname + " Error: message limit reached");
        return Next::close;
    }
    std::string why;
    if (shared_.maildir && !shared_.maildir->store(id, received_header(id), body, why)) {
        shared_.accepted.fetch_sub(1);
        log("error=\"" + why + "\"");
        reset_transaction();
        return reply("451 4.3.0 Error: queue file write error");
    }
    log("tls=" + (tls_ ? tls_->protocol : "none") + " cipher=" + (tls_ ? tls_->cipher : "-") +
        " rcpt=" + std::to_string(recipients_.size()) + " size=" + std::to_string(body.size()));
    reset_transaction();
    const Next next = reply("250 2.0.0 Ok: queued as " + std::to_string(id));
    if (limit != 0 && count == limit) {
        const char byte = 1;
        [[maybe_unused]] const auto ignored = ::write(shared_.wake_fd, &byte, 1);
    }
    return next;
}

// Postfix's layout, on one line: "with ESMTPS" and the "(using ...)" clause
// only under TLS, "for <rcpt>" only with exactly one recipient.
std::string Session::received_header(std::uint64_t id) const {
    std::string header = "Received: from " + helo_ + " (" + peer_ + ") by " + options_.hostname +
                         " (mtatls-sink) with " + (esmtp_ ? "ESMTP" : "SMTP") + (tls_ ? "S" : "") +
                         " id " + std::to_string(id);
    if (tls_) {
        header += " (using " + tls_->protocol + " with cipher " + tls_->cipher + " (" +
                  std::to_string(tls_->use_bits) + "/" + std::to_string(tls_->alg_bits) + " bits))";
        if (!tls_->client_cert.empty()) header += " " + tls_->client_cert;
    }
    if (recipients_.size() == 1) header += " for <" + printable(recipients_.front()) + ">";
    return header + "; " + rfc5322_date() + "\r\n";
}

Next Session::reply(const std::string& text) {
    return stream_.write(text + "\r\n") ? Next::carry_on : Next::close;
}

// Counts protocol errors so a client spewing garbage is cut off.
Next Session::error(const std::string& text) {
    if (++errors_ < max_errors) return reply(text);
    reply("421 4.7.0 " + options_.hostname + " Error: too many errors");
    log("error=\"too many errors\"");
    return Next::close;
}

void Session::reset_transaction() {
    sender_.reset();
    recipients_.clear();
}

// One write(2) per line keeps lines from concurrent connections whole.
void Session::log(const std::string& text) const {
    if (options_.quiet) return;
    const std::string line = "sink: from=" + peer_ + " " + text + "\n";
    [[maybe_unused]] const auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace

void run_session(Shared& shared, int fd, const std::string& peer) {
    Session(shared, fd, peer).run();
}

} // namespace mtatls::sink
