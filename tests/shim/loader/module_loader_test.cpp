// module_loader_test.cpp - the shim loads the real module from the build
// tree and refuses broken ones with a one-line reason.
#include "module_loader.h"

#include "../../support/test_paths.h"

#include <doctest/doctest.h>

#include <dlfcn.h>

#include <filesystem>

using namespace mtatls;
using mtatls::test::env_or;

namespace {

bool symbol_found(mtatls_plugin_init_fn entry) { return entry != nullptr; }

std::string module_path() { return env_or("MTATLS_TEST_MODULE", "module/mtatls.so"); }
std::string fake(const std::string& variant) {
    return env_or("MTATLS_TEST_FAKES", "tests") + "/fake_" + variant + ".so";
}

} // namespace

TEST_CASE("the real module loads, announces itself and registers its hooks") {
    std::string error;
    auto module = host::Module::load(module_path(), error);
    REQUIRE_MESSAGE(module, error);
    CHECK(module->name() == "mtatls");
    CHECK(module->version() == MTATLS_VERSION);
    for (int hook : {MTATLS_HOOK_CONFIG_LOAD, MTATLS_HOOK_CONFIG_EXPLAIN, MTATLS_HOOK_CONFIG_EXPORT,
                     MTATLS_HOOK_CONFIG_SCHEMA, MTATLS_HOOK_CONN_SETUP, MTATLS_HOOK_MACRO_LOOKUP,
                     MTATLS_HOOK_CONN_END, MTATLS_HOOK_UNLOAD})
        CHECK_MESSAGE(module->has(hook), "hook ", hook);

    SUBCASE("loading it a second time is refused") {
        std::string second_error;
        CHECK_FALSE(host::Module::load(module_path(), second_error));
        CHECK(second_error.find("already loaded") != std::string::npos);
    }
    SUBCASE("the module refuses a host with another major version or a short struct") {
        void* handle = dlopen(module_path().c_str(), RTLD_NOW | RTLD_NOLOAD);
        REQUIRE(handle != nullptr);
        auto entry =
            reinterpret_cast<mtatls_plugin_init_fn>(dlsym(handle, MTATLS_PLUGIN_ENTRY_SYMBOL));
        REQUIRE(symbol_found(entry));
        mtatls_host_api api{};
        api.struct_size = sizeof api;
        api.abi_major = 2;
        CHECK(entry(&api) == MTATLS_STATUS_VERSION);
        api.abi_major = MTATLS_ABI_MAJOR;
        api.struct_size = 8;
        CHECK(entry(&api) == MTATLS_STATUS_BAD_ARGUMENT);
        CHECK(entry(nullptr) == MTATLS_STATUS_BAD_ARGUMENT);
        dlclose(handle);
    }
    SUBCASE("a schema comes back as JSON") {
        std::string json;
        CHECK(module->config_schema(json) == MTATLS_STATUS_OK);
        CHECK(json.find("\"$schema\"") != std::string::npos);
    }
}

TEST_CASE("the module can be unloaded and loaded again") {
    for (int round = 0; round < 2; ++round) {
        std::string error;
        auto module = host::Module::load(module_path(), error);
        REQUIRE_MESSAGE(module, error);
    }
}

TEST_CASE("broken modules are refused with the reason") {
    struct Case {
        std::string path;
        const char* want;
    };
    const Case cases[] = {
        {fake("major2"), "speaks plugin ABI 2.0, this host speaks 1.1"},
        {fake("short"), "module info struct is 8 bytes, this host needs at least"},
        {fake("signature"), "built 64-bit, OpenSSL 1, this host is 64-bit, OpenSSL 3"},
        {fake("noentry"), "does not export mtatls_plugin_init(): not an mtatls plugin"},
        {"/nonexistent/mtatls.so", "cannot load module"},
    };
    for (const Case& c : cases) {
        std::string error;
        CHECK_FALSE(host::Module::load(c.path, error));
        CHECK_MESSAGE(error.find(c.want) != std::string::npos, "got \"", error, "\", want \"",
                      c.want, "\"");
        CHECK(error.find('\n') == std::string::npos);
    }
}

TEST_CASE("configuration errors arrive as diagnostics with positions") {
    std::string error;
    auto module = host::Module::load(module_path(), error);
    REQUIRE_MESSAGE(module, error);
    const auto dir = std::filesystem::temp_directory_path();
    const std::string path = (dir / ("loader-" + std::to_string(::getpid()) + ".yaml")).string();
    test::write_file(path, "tls: required\ntls_verify: hots\n");
    std::vector<mtatls_diagnostic> seen;
    std::vector<std::string> messages;
    const int status = module->config_load(path, [&](const mtatls_diagnostic& d) {
        seen.push_back(d);
        messages.emplace_back(d.message);
    });
    CHECK(status == MTATLS_STATUS_CONFIG);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].line == 2);
    CHECK(seen[0].column == 13);
    CHECK(messages[0].find("did you mean \"host\"") != std::string::npos);
    std::filesystem::remove(path);
}
