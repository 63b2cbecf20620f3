// log_template.h - the custom log format language (Momentum custom_logger
// style): literal text with %{NAME} references and %% for a percent sign.
// sendmail-style names keep their braces: %{{verify}}.
//
// Shared by the module, which validates templates at configuration load
// (every NAME must be a known macro or host field), and the host, which
// renders them, so both read a template the same way.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mtatls::text {

// The default of the tls_log_*_format directives: one line with the facts
// most admins want, the same for every outcome.  The module reports it as
// the directives' default; a host falls back on it only with a module that
// does not know those directives.
inline constexpr const char* default_log_template =
    "%{delivery:time} %{delivery:status} relay=%{delivery:relay} domain=%{delivery:domain} "
    "tls=%{mtatls:tls} protocol=%{outbound_tls:outbound_tls_protocol} "
    "cipher=%{outbound_tls:outbound_tls_cipher} code=%{delivery:code} dsn=%{delivery:dsn} "
    "reason=%{delivery:reason}";

struct TemplatePiece {
    bool is_reference = false;
    std::string text; // literal text, or the referenced name
};

struct ParsedTemplate {
    std::vector<TemplatePiece> pieces;
    std::string error; // empty when valid
    std::size_t error_offset = 0;
};

// Splits `text` into literals and references.  Errors: a '%' followed by
// anything but '{' or '%', an unterminated or empty %{...}, a control byte.
ParsedTemplate parse_template(std::string_view text);

} // namespace mtatls::text
