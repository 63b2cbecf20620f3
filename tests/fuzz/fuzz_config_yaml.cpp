// fuzz_config_yaml.cpp - libFuzzer target for the native YAML configuration:
// the YAML reader, the compile step (file checks off) and the round trip
// through `convert` (config_roundtrip.h).  A malicious configuration file is
// part of the threat model (docs/security.md), so no input may crash, leak,
// hang or produce a configuration that its own conversion cannot load.
#include "config_roundtrip.h"
#include "fuzz_scratch.h"

#include "config/yaml_reader.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mtatls;
    // Relative paths in the input resolve against the scratch directory,
    // as they would against the directory of a real file.
    static const std::string source = fuzz::scratch_dir() + "/fuzz.yaml";
    config::Document document;
    document.files = {source};
    config::Diagnostics diagnostics;
    const bool ok = config::parse_yaml_text(
        std::string_view(reinterpret_cast<const char*>(data), size), document, diagnostics);
    fuzz::compile_and_round_trip(document, ok, diagnostics, source);
    return 0;
}
