// command_support.cpp - module discovery and diagnostic printing.
#include "command_support.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace mtatls::command {

std::string module_path(const std::string& explicit_path, int build_depth) {
    if (!explicit_path.empty()) return explicit_path;
    if (const char* env = std::getenv("MTATLS_MODULE"); env != nullptr && *env != '\0') return env;
    // Running from the build tree: build/module/ is beside the directory
    // `build_depth` levels above this binary's (build/shim/CMD: one).
    std::error_code error;
    auto root = std::filesystem::read_symlink("/proc/self/exe", error).parent_path();
    if (!error) {
        for (int i = 0; i < build_depth; ++i)
            root = root.parent_path();
        const auto candidate = root / "module" / "mtatls.so";
        if (std::filesystem::exists(candidate, error)) return candidate.string();
    }
    return MTATLS_MODULE_DIR "/mtatls.so";
}

std::unique_ptr<host::Module> load_module(const std::string& program, const std::string& path) {
    std::string error;
    auto module = host::Module::load(path, error);
    if (!module) std::fprintf(stderr, "%s: %s\n", program.c_str(), error.c_str());
    return module;
}

std::string format_diagnostic(const mtatls_diagnostic& d) {
    std::string out;
    if (d.file != nullptr) {
        out += d.file;
        if (d.line > 0) {
            out += ':' + std::to_string(d.line);
            if (d.column > 0) out += ':' + std::to_string(d.column);
        }
        out += ": ";
    }
    switch (d.severity) {
    case MTATLS_SEVERITY_ERROR: out += "error: "; break;
    case MTATLS_SEVERITY_WARNING: out += "warning: "; break;
    default: out += "note: "; break;
    }
    if (d.scope != nullptr) out += std::string("[") + d.scope + "] ";
    out += d.message != nullptr ? d.message : "";
    return out;
}

} // namespace mtatls::command
