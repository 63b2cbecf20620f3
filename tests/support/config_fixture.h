// config_fixture.h - builds a Config from text in either syntax for tests,
// and turns its diagnostics into one string for failure messages.
#pragma once

#include "config/compile.h"
#include "config/load.h"
#include "config/momentum_reader.h"
#include "config/yaml_reader.h"
#include "test_paths.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

namespace mtatls::test {

struct Compiled {
    std::shared_ptr<const config::Config> config;
    config::Diagnostics diagnostics;

    [[nodiscard]] std::string text() const {
        std::string all;
        for (const auto& d : diagnostics.items())
            all += config::format(d) + "\n";
        return all;
    }
};

// Writes `text` (with @PKI@ expanded) to a temporary file named `name`,
// whose extension selects the syntax, and loads it.
inline Compiled compile_text(const std::string& name, const std::string& text,
                             bool check_files = true) {
    // Per process: meson runs test programs in parallel.
    const auto dir =
        std::filesystem::temp_directory_path() / ("mtatls-tests-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / name).string();
    write_file(path, with_pki(text));
    Compiled result;
    config::CompileOptions options;
    options.check_files = check_files;
    result.config = config::load_config(path, result.diagnostics, options);
    return result;
}

inline std::string value_of(const config::Config& config, std::string_view group,
                            std::string_view binding, std::string_view domain,
                            config::Directive directive) {
    return config.resolve({group, binding, domain})[directive].value;
}

} // namespace mtatls::test
