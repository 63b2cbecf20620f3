// module_harness.h - the real module as the tests that drive it through the
// ABI see it: loading it, loading a configuration text into it, and its
// connection hooks as plain function pointers.
#pragma once

#include "module_loader.h"
#include "test_paths.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace mtatls::test {

// Writes `text` to a temporary file called `name` (its ending picks the
// syntax), loads it into `module` and removes the file; the test stops
// unless that works.  Returns the file's path, as the module reports it in
// explanations.
inline std::string load_config_text(const host::Module& module, const std::string& name,
                                    const std::string& text) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("mtatls-tests-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / name).string();
    std::ofstream(path) << text;
    std::string diagnostics;
    const int status = module.config_load(path, [&](const mtatls_diagnostic& d) {
        diagnostics += std::string(d.message != nullptr ? d.message : "") + "\n";
    });
    std::filesystem::remove_all(dir);
    REQUIRE_MESSAGE(status == MTATLS_STATUS_OK, diagnostics);
    return path;
}

// A freshly loaded module ($MTATLS_TEST_MODULE) holding the YAML `yaml`
// ("@PKI@" replaced by the test PKI directory).
inline std::unique_ptr<host::Module> load_module_with(const std::string& yaml) {
    std::string error;
    auto module = host::Module::load(env_or("MTATLS_TEST_MODULE", "module/mtatls.so"), error);
    REQUIRE_MESSAGE(module, error);
    load_config_text(*module, "mtatls.yaml", with_pki(yaml));
    return module;
}

// The connection hooks, called directly: the tests step them by hand.
struct Hooks {
    mtatls_conn_setup_fn setup;
    mtatls_ehlo_fn ehlo;
    mtatls_starttls_begin_fn begin;
    mtatls_starttls_step_fn step;
    mtatls_starttls_finish_fn finish;
    mtatls_tls_read_fn read;
    mtatls_tls_write_fn write;
    mtatls_tls_shutdown_fn shutdown;
    mtatls_macro_lookup_fn macro;
    mtatls_conn_end_fn end;
    void* closure;

    explicit Hooks(const host::Module& module) {
        setup = module.hook<mtatls_conn_setup_fn>(MTATLS_HOOK_CONN_SETUP).first;
        ehlo = module.hook<mtatls_ehlo_fn>(MTATLS_HOOK_EHLO).first;
        begin = module.hook<mtatls_starttls_begin_fn>(MTATLS_HOOK_STARTTLS_BEGIN).first;
        step = module.hook<mtatls_starttls_step_fn>(MTATLS_HOOK_STARTTLS_STEP).first;
        finish = module.hook<mtatls_starttls_finish_fn>(MTATLS_HOOK_STARTTLS_FINISH).first;
        read = module.hook<mtatls_tls_read_fn>(MTATLS_HOOK_TLS_READ).first;
        write = module.hook<mtatls_tls_write_fn>(MTATLS_HOOK_TLS_WRITE).first;
        shutdown = module.hook<mtatls_tls_shutdown_fn>(MTATLS_HOOK_TLS_SHUTDOWN).first;
        macro = module.hook<mtatls_macro_lookup_fn>(MTATLS_HOOK_MACRO_LOOKUP).first;
        end = module.hook<mtatls_conn_end_fn>(MTATLS_HOOK_CONN_END).first;
        closure = module.hook<mtatls_conn_setup_fn>(MTATLS_HOOK_CONN_SETUP).second;
    }
};

} // namespace mtatls::test
