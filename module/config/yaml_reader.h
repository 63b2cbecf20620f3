// yaml_reader.h - reads the native YAML configuration into a Document.
//
// The shape is the JSON Schema in config-schema/: directives at the top
// level are global; `binding_group`, `binding` and `domain` map names to
// nested stanzas.  Unknown keys are errors (with a did-you-mean hint).
#pragma once

#include "config/document.h"

#include <string>
#include <string_view>

namespace mtatls::config {

bool read_yaml_file(const std::string& path, Document& document, Diagnostics& diagnostics);
bool parse_yaml_text(std::string_view text, Document& document, Diagnostics& diagnostics);

} // namespace mtatls::config
