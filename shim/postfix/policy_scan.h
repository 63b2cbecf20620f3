// policy_scan.h - `mtatls-policyd --check` (and so `mtatls-config check
// --postfix`): the Postfix policy for every socketmap name and next-hop a
// configuration distinguishes, and every finding of the mapping, once,
// with the file, line and stanza of the directive behind it.
//
// The stanzas come from the module's own CONFIG_EXPORT of the file (YAML,
// whatever the file's syntax): the ABI has no hook that lists them.  The
// socketmap names checked are "default" (messages without a binding) and
// every declared binding; the next-hops, for each name, a domain no exact
// stanza names (shown as "*") and every exact domain stanza that can apply
// to it (global ones, its binding's, its group's).  A regex domain stanza
// cannot be enumerated: it is listed as a note, and --next-hop checks
// domains it should match.
#pragma once

#include "module_loader.h"

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace mtatls::postfix {

struct ScanOptions {
    std::vector<std::string> names;     // extra socketmap names to check
    std::vector<std::string> next_hops; // extra next-hops (keys) to check
    bool print_policies = true;         // one line per (name, next-hop) on `out`
};

struct ScanResult {
    bool ok = false;   // false: the module could not export or explain
    std::string error; // why not
    std::size_t policies = 0;
    std::size_t warnings = 0;
    std::size_t notes = 0;
    std::size_t deferred = 0; // policies answered TEMP
};

// `file` must already be loaded into `module` (CONFIG_LOAD succeeded).
// Policies go to `out`, findings (warnings and notes) to `err`.
ScanResult scan_configuration(const host::Module& module, const std::string& file,
                              const ScanOptions& options, std::FILE* out, std::FILE* err);

// The whole check as both commands print it: the scan, then one summary
// line on `out` ("FILE: Postfix mapping: 6 policies, 2 warnings, 1
// note"), or "PROGRAM: FILE: ERROR" on `err` when the scan fails.
// Returns whether it succeeded.
bool check_configuration(const host::Module& module, const std::string& file,
                         const ScanOptions& options, const char* program, std::FILE* out,
                         std::FILE* err);

} // namespace mtatls::postfix
