// attempt_log.cpp - formatting of the attempt and recipient log lines.
#include "attempt_log.h"

#include <cstdio>

namespace mtatls::host {
namespace {

// Length of the UTF-8 sequence at value[i] if it is valid and harmless in
// a log line, else 0.  Harmful: C1 controls (U+0080-U+009F, NEL among
// them), the line and paragraph separators U+2028/U+2029 and the bidi
// controls U+202A-U+202E and U+2066-U+2069, which some viewers render as
// a line break or as reversed text.
std::size_t safe_utf8_length(std::string_view value, std::size_t i) {
    const auto at = [&value](std::size_t k) {
        return k < value.size() ? static_cast<unsigned char>(value[k]) : 0u;
    };
    const unsigned lead = at(i);
    std::size_t length = 0;
    unsigned code = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
        code = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
        code = lead & 0x0fu;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
        code = lead & 0x07u;
    } else {
        return 0;
    }
    for (std::size_t k = 1; k < length; ++k) {
        const unsigned next = at(i + k);
        if ((next & 0xc0u) != 0x80u) return 0;
        code = (code << 6) | (next & 0x3fu);
    }
    const unsigned minimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < minimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
    if (code <= 0x9f || code == 0x2028 || code == 0x2029 || (code >= 0x202a && code <= 0x202e) ||
        (code >= 0x2066 && code <= 0x2069))
        return 0;
    return length;
}

bool needs_quotes(std::string_view value) {
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f || c == ' ' || c == '"' || c == '\\' || c == '=')
            return true;
        if (byte >= 0x80) {
            const std::size_t length = safe_utf8_length(value, i);
            if (length == 0) return true;
            i += length - 1;
        }
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
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte >= 0x80 && safe_utf8_length(value, i) > 0) {
            const std::size_t length = safe_utf8_length(value, i);
            out.append(value.substr(i, length));
            i += length - 1;
        } else if (byte < 0x20 || byte >= 0x7f) {
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
