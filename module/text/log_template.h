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
