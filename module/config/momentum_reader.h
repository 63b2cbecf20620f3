// momentum_reader.h - reads Momentum (ecelerity.conf) syntax into a Document.
//
// Admins point mtatls at the stanzas they already have.  The reader keeps
// binding_group / binding / domain stanzas and every option in them (the
// compile step decides which options are TLS directives); any other stanza
// (esmtp_listener, spool, ...) is skipped whole and listed as ignored.
#pragma once

#include "config/document.h"

#include <string>
#include <string_view>

namespace mtatls::config {

// Reads `path` (following `include` lines) into `document`, which must be
// empty.  Returns false when a syntax error was reported to `diagnostics`.
bool read_momentum_file(const std::string& path, Document& document, Diagnostics& diagnostics);

// Parses `text` as if it were the file `document.files[file_index]`;
// `include` paths are relative to that file's directory.
bool parse_momentum_text(std::string_view text, uint32_t file_index, Document& document,
                         Diagnostics& diagnostics);

} // namespace mtatls::config
