// attempt_log.cpp - formatting of the attempt and recipient log lines in
// every form, and of the Postfix summary line.
#include "attempt_log.h"

#include "custom_format.h"
#include "log_text.h"
#include "text/log_safe.h"

#include <cstdio>
#include <ctime>

namespace mtatls::host {
namespace {

bool needs_quotes(std::string_view value) {
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f || c == ' ' || c == '"' || c == '\\' || c == '=')
            return true;
        if (byte >= 0x80) {
            const std::size_t length = text::safe_utf8_length(value, i);
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

std::string delay_text(double seconds) {
    char delay[32];
    std::snprintf(delay, sizeof delay, "%.2f", seconds < 0 ? 0.0 : seconds);
    return delay;
}

std::string relay_text(const AttemptResult& result) {
    return result.mx_name + "[" + (result.address.empty() ? "-" : result.address) +
           "]:" + std::to_string(result.port);
}

// ---- JSON ----

void json_key(std::string& out, std::string_view key) {
    if (out.back() != '{') out += ',';
    append_json_string(out, key);
    out += ':';
}

void json_string(std::string& out, std::string_view key, std::string_view value) {
    json_key(out, key);
    append_json_string(out, value);
}

void json_raw(std::string& out, std::string_view key, std::string_view number) {
    json_key(out, key);
    out += number;
}

void json_code(std::string& out, int code) {
    json_raw(out, "code", code > 0 ? std::to_string(code) : "null");
}

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
        } else if (byte >= 0x80 && text::safe_utf8_length(value, i) > 0) {
            const std::size_t length = text::safe_utf8_length(value, i);
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
    field(line, "relay", relay_text(result));
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
    field(line, "delay", delay_text(result.delay_seconds));
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

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm utc{};
    if (gmtime_r(&seconds, &utc) == nullptr) return {};
    char text[96]; // room for any int year, to keep -Wformat-truncation quiet
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    return text;
}

std::string delivery_field(std::string_view name, std::string_view program,
                           const AttemptResult& result, bool fallback) {
    if (!name.starts_with("delivery:")) return {};
    name.remove_prefix(9);
    if (name == "status") return status_word(result.outcome, fallback);
    if (name == "relay") return relay_text(result);
    if (name == "mx") return result.mx_name;
    if (name == "address") return result.address;
    if (name == "port") return std::to_string(result.port);
    if (name == "domain") return result.domain;
    if (name == "sender") return result.sender;
    if (name == "recipients") {
        std::string list;
        for (const RecipientResult& r : result.recipients) {
            if (!list.empty()) list += ',';
            list += r.address;
        }
        return list;
    }
    if (name == "code") return code_text(result.code);
    if (name == "dsn") return result.dsn;
    if (name == "reason") return result.reason;
    if (name == "delay") return delay_text(result.delay_seconds);
    if (name == "time") return rfc3339_utc(result.time);
    if (name == "program") return std::string(program);
    return {};
}

std::string format_json_line(std::string_view program, const AttemptResult& result, bool fallback) {
    std::string out = "{";
    json_string(out, "program", program);
    json_string(out, "time", rfc3339_utc(result.time));
    json_string(out, "status", status_word(result.outcome, fallback));
    json_string(out, "mx", result.mx_name);
    json_string(out, "address", result.address);
    json_raw(out, "port", std::to_string(result.port));
    json_string(out, "domain", result.domain);
    json_string(out, "sender", result.sender);
    json_key(out, "recipients");
    out += '[';
    for (const RecipientResult& r : result.recipients) {
        if (out.back() != '[') out += ',';
        out += '{';
        json_string(out, "address", r.address);
        json_string(out, "status", status_word(r.outcome, false));
        json_code(out, r.code);
        json_string(out, "dsn", r.dsn);
        json_string(out, "reason", r.reason);
        out += '}';
    }
    out += ']';
    json_code(out, result.code);
    json_string(out, "dsn", result.dsn);
    json_string(out, "reason", result.reason);
    json_raw(out, "delay", delay_text(result.delay_seconds));
    json_raw(out, "fallback", fallback ? "true" : "false");
    json_key(out, "macros");
    out += '{';
    for (const auto& [name, value] : result.macros)
        json_string(out, name, value);
    out += "}}";
    return out;
}

std::string format_custom_line(std::string_view program, const AttemptResult& result, bool fallback,
                               const LogSettings& settings) {
    return render_template(template_for(settings, result.outcome, fallback),
                           [&](std::string_view name) -> std::string {
                               if (name.starts_with("delivery:"))
                                   return delivery_field(name, program, result, fallback);
                               for (const auto& [macro, value] : result.macros)
                                   if (macro == name) return value;
                               return {};
                           });
}

std::optional<std::string> format_summary_line(std::string_view program,
                                               const AttemptResult& result) {
    const std::string& achieved = result.tls.achieved;
    const char* word = achieved == "verified"    ? "Verified"
                       : achieved == "trusted"   ? "Trusted"
                       : achieved == "untrusted" ? "Untrusted"
                       : achieved == "anonymous" ? "Anonymous"
                                                 : nullptr;
    if (word == nullptr) return std::nullopt; // "", "none", or a word Postfix has not
    const TlsFacts& tls = result.tls;
    std::string line(program);
    line += ": ";
    line += word;
    line += " TLS connection established to " + text::log_safe(result.mx_name) + "[" +
            text::log_safe(result.address) + "]:" + std::to_string(result.port) + ": " +
            text::log_safe(tls.protocol) + " with cipher " + text::log_safe(tls.cipher) + " (" +
            text::log_safe(tls.use_bits) + "/" + text::log_safe(tls.alg_bits) + " bits)";
    return line;
}

std::vector<std::string> format_attempt_lines(std::string_view program, const AttemptResult& result,
                                              bool fallback, const LogSettings& settings) {
    std::vector<std::string> lines;
    if (settings.postfix_summary)
        if (std::optional<std::string> summary = format_summary_line(program, result))
            lines.push_back(std::move(*summary));
    switch (settings.form) {
    case LogForm::keyvalue:
        lines.push_back(format_attempt_line(program, result, fallback));
        for (std::string& line : format_recipient_lines(program, result))
            lines.push_back(std::move(line));
        break;
    case LogForm::json: lines.push_back(format_json_line(program, result, fallback)); break;
    case LogForm::custom:
        lines.push_back(format_custom_line(program, result, fallback, settings));
        break;
    }
    return lines;
}

} // namespace mtatls::host
