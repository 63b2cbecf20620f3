// real_module.h - the real mtatls module for the host tests that read
// settings through CONFIG_EXPLAIN (explain, log_settings,
// resolver_settings): loaded once per process from $MTATLS_TEST_MODULE,
// and configurations written to a temporary file and loaded into it.
#pragma once

#include "../../support/module_harness.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace mtatls::test {

// The module; nullptr (with a message) when it cannot be loaded.  The
// module can be loaded once per process, so every test shares this one.
inline const host::Module* real_module() {
    static const std::unique_ptr<host::Module> module = [] {
        const char* path = std::getenv("MTATLS_TEST_MODULE");
        std::string error;
        auto loaded = path != nullptr ? host::Module::load(path, error) : nullptr;
        if (!loaded) MESSAGE("no module: ", error);
        return loaded;
    }();
    return module.get();
}

// Writes `text` to a temporary file called `name` (its ending picks the
// syntax) and loads it into the real module, which then holds it; the
// test stops unless both work.  Returns the file's path, as the module
// reports it in explanations (the file itself is gone by then).
inline std::string load_config(const std::string& name, const std::string& text) {
    const host::Module* module = real_module();
    REQUIRE(module != nullptr);
    return load_config_text(*module, name, text);
}

} // namespace mtatls::test
