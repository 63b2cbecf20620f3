// pipe_status.cpp - the --pipe status line (see pipe_status.h).
#include "pipe_status.h"

#include "text/log_safe.h"

namespace mtatls::host {
namespace {

// Postfix keeps a limited amount of command output; the status line should
// fit whole, so very long server texts are cut.
constexpr std::size_t max_text = 900;

bool is_enhanced_code(std::string_view dsn) {
    // D.D{1,3}.D{1,3}
    std::size_t part = 0;
    std::size_t digits = 0;
    for (char c : dsn) {
        if (c >= '0' && c <= '9') {
            if (++digits > (part == 0 ? 1u : 3u)) return false;
        } else if (c == '.' && digits > 0 && part < 2) {
            ++part;
            digits = 0;
        } else {
            return false;
        }
    }
    return part == 2 && digits > 0;
}

// The enhanced code for the outcome: the result's own when it has one of
// the right class, else the same detail under the outcome's class, else
// the generic x.0.0.
std::string status_code(std::string_view dsn, char klass) {
    if (!is_enhanced_code(dsn)) return std::string(1, klass) + ".0.0";
    std::string code(dsn);
    code[0] = klass;
    return code;
}

std::string one_line(std::string text) {
    text = text::log_safe(text);
    if (text.size() > max_text) text = text.substr(0, max_text) + "...";
    return text;
}

std::string where(const AttemptResult& result) {
    std::string name = result.mx_name.empty() ? result.address : result.mx_name;
    std::string text = name + "[" + (result.address.empty() ? "-" : result.address) + "]";
    if (result.port != 0) text += ":" + std::to_string(result.port);
    return text;
}

// "2.0.0 sent over TLSv1.3, verified, CIPHER, to HOST: REPLY".  pipe(8)
// only logs it, and keeps about the first 100 characters of a success's
// output: the TLS facts come first.
std::string sent_line(const AttemptResult& result) {
    std::string line = "2.0.0 sent ";
    if (result.tls.protocol.empty())
        line += "in plaintext";
    else
        line += "over " + result.tls.protocol + ", " +
                (result.tls.verified == "verified" ? "verified" : "not verified") + ", " +
                result.tls.cipher + ",";
    line += " to " + where(result) + ": " + std::to_string(result.code);
    if (!result.dsn.empty()) line += " " + result.dsn;
    if (!result.reason.empty()) line += " " + result.reason;
    return one_line(std::move(line));
}

} // namespace

std::string pipe_status_line(const AttemptResult& result) {
    if (result.outcome == Outcome::sent) return sent_line(result);
    const char klass = result.outcome == Outcome::bounced ? '5' : '4';
    std::string line = status_code(result.dsn, klass) + " ";
    const bool internal = result.reason.starts_with("[internal]") || result.code == 0 ||
                          result.stage == Stage::resolve || result.stage == Stage::local;
    if (internal) {
        line += result.reason.empty() ? std::string("[internal] delivery failed") : result.reason;
        if (result.stage != Stage::resolve && !result.mx_name.empty())
            line += " (host " + where(result) + ")";
        else if (result.stage == Stage::resolve && !result.mx_name.empty())
            line += " (next hop " + result.mx_name + ")";
    } else {
        line += "host " + where(result) + " said: " + std::to_string(result.code);
        if (!result.dsn.empty()) line += " " + result.dsn;
        if (!result.reason.empty()) line += " " + result.reason;
    }
    return one_line(std::move(line));
}

std::string local_failure_status_line(std::string_view dsn, std::string_view message) {
    return one_line(status_code(dsn, '4') + " " + std::string(message));
}

} // namespace mtatls::host
