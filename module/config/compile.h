// compile.h - turns a parsed Document into a validated, indexed Config.
//
// Every rule about names, values, scopes and files is applied here, so both
// syntaxes get exactly the same checks and messages.  The result is
// immutable and shared by all connections until the next reload.
#pragma once

#include "config/diagnostics.h"
#include "config/document.h"
#include "config/policy.h"

#include <memory>

namespace mtatls::config {

struct CompileOptions {
    // Open and check certificate, key, CA and DH files.  Off only for tools
    // that work on text (e.g. converting a file from another machine).
    bool check_files = true;
};

// Returns nullptr when any error was reported.
std::shared_ptr<const Config> compile(const Document& document, Diagnostics& diagnostics,
                                      const CompileOptions& options = {});

} // namespace mtatls::config
