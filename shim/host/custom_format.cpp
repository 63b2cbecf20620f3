// custom_format.cpp - rendering custom log templates (see custom_format.h).
#include "custom_format.h"

#include "text/log_safe.h"

#include <algorithm>

namespace mtatls::host {

std::string render_template(std::string_view text, const FieldLookup& lookup) {
    const text::ParsedTemplate parsed = text::parse_template(text);
    if (!parsed.error.empty()) return text::log_safe(text);
    std::string line;
    for (const text::TemplatePiece& piece : parsed.pieces)
        line += text::log_safe(piece.is_reference ? lookup(piece.text) : piece.text);
    return line;
}

std::vector<std::string> template_names(std::string_view text) {
    std::vector<std::string> names;
    for (const text::TemplatePiece& piece : text::parse_template(text).pieces)
        if (piece.is_reference && std::find(names.begin(), names.end(), piece.text) == names.end())
            names.push_back(piece.text);
    return names;
}

} // namespace mtatls::host
