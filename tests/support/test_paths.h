// test_paths.h - where the build put the things tests need (the PKI made at
// test time, the module, the fake modules); meson passes them in the
// environment so tests run from any directory.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace mtatls::test {

inline std::string env_or(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

inline std::string pki_dir() { return env_or("MTATLS_TEST_PKI", "tests/pki"); }
inline std::string pki(const std::string& file) { return pki_dir() + "/" + file; }

// Replaces every "@PKI@" in `text` with the PKI directory.
inline std::string with_pki(std::string text) {
    const std::string marker = "@PKI@";
    const std::string dir = pki_dir();
    for (std::size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at))
        text.replace(at, marker.size(), dir);
    return text;
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

} // namespace mtatls::test
