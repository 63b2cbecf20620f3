// attempt_log.cpp - formatting of the attempt and recipient log lines.
#include "attempt_log.h"

#include <cstdio>

namespace mtatls::host {
namespace {

bool needs_quotes(std::string_view value) {
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f || c == ' ' || c == '"' || c == '\\' || c == '=')
            return true;
    }
    return false;
}

void field(std::string& line, const char* key, std::string_view value) {
    line += ' ';
    line += key;
    line += '=';
    line += log_value(value);
}

std::string code_text(int code) { return code > 0 ? std::to_string(code) : std::string(); }

} // namespace

std::string log_value(std::string_view value) {
    if (value.empty()) return "-";
    if (!needs_quotes(value)) return std::string(value);
    std::string out = "\"";
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte == 0x7f) {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", byte);
            out += hex;
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

const char* status_word(Outcome outcome, bool fallback) {
    if (fallback) return "fallback";
    switch (outcome) {
    case Outcome::sent: return "sent";
    case Outcome::deferred: return "deferred";
    case Outcome::bounced: return "bounced";
    }
    return "deferred";
}

std::string format_attempt_line(std::string_view program, const AttemptResult& result,
                                bool fallback) {
    const TlsFacts& tls = result.tls;
    // The TLS facts are shown whenever a handshake got that far, also when
    // the certificate was then refused: that is when an admin needs them.
    const bool used_tls = tls.used == "TLS" || !tls.protocol.empty();
    std::string line(program);
    line += ':';
    field(line, "status", status_word(result.outcome, fallback));
    field(line, "relay",
          result.mx_name + "[" + (result.address.empty() ? "-" : result.address) +
              "]:" + std::to_string(result.port));
    field(line, "domain", result.domain);
    field(line, "tls_policy", tls.policy);
    field(line, "verify_policy", tls.verify_policy);
    field(line, "tls", used_tls ? (tls.protocol.empty() ? "unknown" : tls.protocol) : "none");
    field(line, "cipher", used_tls ? tls.cipher : "");
    field(line, "bits",
          used_tls && !tls.use_bits.empty() && !tls.alg_bits.empty()
              ? tls.use_bits + "/" + tls.alg_bits
              : "");
    field(line, "verified",
          !used_tls                      ? ""
          : tls.verified == "verified"   ? "yes"
          : tls.verified == "unverified" ? "no"
                                         : "");
    field(line, "subject", used_tls ? tls.subject : "");
    field(line, "issuer", used_tls ? tls.issuer : "");
    field(line, "code", code_text(result.code));
    field(line, "dsn", result.dsn);
    field(line, "reason", result.reason);
    char delay[32];
    std::snprintf(delay, sizeof delay, "%.2f",
                  result.delay_seconds < 0 ? 0.0 : result.delay_seconds);
    field(line, "delay", delay);
    return line;
}

std::vector<std::string> format_recipient_lines(std::string_view program,
                                                const AttemptResult& result) {
    std::vector<std::string> lines;
    bool differ = false;
    for (const RecipientResult& r : result.recipients) {
        const RecipientResult& first = result.recipients.front();
        if (r.outcome != first.outcome || r.code != first.code || r.dsn != first.dsn ||
            r.reason != first.reason)
            differ = true;
    }
    if (!differ) return lines;
    for (const RecipientResult& r : result.recipients) {
        std::string line(program);
        line += ':';
        field(line, "rcpt", "<" + r.address + ">");
        field(line, "status", status_word(r.outcome, false));
        field(line, "code", code_text(r.code));
        field(line, "dsn", r.dsn);
        field(line, "reason", r.reason);
        lines.push_back(std::move(line));
    }
    return lines;
}

} // namespace mtatls::host
