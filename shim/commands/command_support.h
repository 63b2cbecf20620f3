// command_support.h - what every mtatls command shares: sysexits codes,
// finding the module (build tree or installed), and printing diagnostics.
#pragma once

#include "module_loader.h"

#include <memory>
#include <string>

namespace mtatls::command {

// sysexits(3) values, so MTA pipe transports understand our exit codes.
inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 64;
inline constexpr int exit_unavailable = 69;
inline constexpr int exit_software = 70;
inline constexpr int exit_tempfail = 75;
inline constexpr int exit_config = 78;

// The module to load: `explicit_path` if given, else $MTATLS_MODULE, else
// the build tree's module when this binary runs from the build tree,
// `build_depth` directories below its root (1: build/shim/CMD, 2:
// build/shim/postfix/CMD), else the installed one.
std::string module_path(const std::string& explicit_path, int build_depth = 1);

// Loads the module or prints why not (prefixed with `program`).
std::unique_ptr<host::Module> load_module(const std::string& program, const std::string& path);

// Prints a diagnostic as FILE:LINE:COL: severity: [scope] message.
std::string format_diagnostic(const mtatls_diagnostic& diagnostic);

} // namespace mtatls::command
