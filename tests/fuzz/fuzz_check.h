// fuzz_check.h - the one way a fuzz target reports a broken invariant.
//
// libFuzzer treats any abort as a finding and keeps the input, so a failed
// property check is a crash like any other.  The message goes to stderr
// first, because the stack trace alone does not say which property broke.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace mtatls::fuzz {

[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "\n*** fuzz invariant broken: %.*s\n", static_cast<int>(what.size()),
                 what.data());
    if (!detail.empty())
        std::fprintf(stderr, "*** %.*s\n", static_cast<int>(detail.size()), detail.data());
    std::fflush(stderr);
    std::abort();
}

inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
    if (!ok) fail(what, detail);
}

// Whether a reported, not yet fixed bug named `id` is listed in
// MTATLS_FUZZ_KNOWN (comma-separated).  A long run sets it so that one
// shallow known bug does not stop the search for others; CI leaves it empty,
// so every check is on and a fix can be seen to hold.
inline bool known(std::string_view id) {
    static const std::string list = [] {
        const char* env = std::getenv("MTATLS_FUZZ_KNOWN");
        return "," + std::string(env != nullptr ? env : "") + ",";
    }();
    return list.find("," + std::string(id) + ",") != std::string::npos;
}

} // namespace mtatls::fuzz
