// fuzz_scratch.h - one private scratch directory per fuzzing process.
//
// Targets that need files (include targets, a CA bundle, a configuration)
// write them here once; the directory is named after the process so that
// parallel fuzzers and test runs never share one, and it is removed at exit.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace mtatls::fuzz {

inline const std::string& scratch_dir() {
    // Never destroyed: the atexit cleanup below runs after static
    // destructors registered later, and must still read the name.
    static const std::string& dir = *new std::string([] {
        const auto path =
            std::filesystem::temp_directory_path() / ("mtatls-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
        return path.string();
    }());
    static const bool cleanup_registered = [] {
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(dir, ignored);
        });
        return true;
    }();
    (void)cleanup_registered;
    return dir;
}

inline std::string write_scratch_file(const std::string& name, std::string_view text) {
    const std::string path = scratch_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

} // namespace mtatls::fuzz
