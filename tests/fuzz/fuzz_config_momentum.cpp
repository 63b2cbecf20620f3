// fuzz_config_momentum.cpp - libFuzzer target for the Momentum-syntax reader
// (ecelerity.conf stanzas, heredocs, lists, includes), the compile step
// (file checks off) and the round trip through `convert` to YAML
// (config_roundtrip.h).
//
// The text is parsed as if it were <scratch>/fuzz.conf.  The scratch
// directory holds a few include files (one that includes another, one that
// includes itself, one with a syntax error) so the fuzzer can reach the
// include paths with relative names it can guess from the seeds.
#include "config_roundtrip.h"
#include "fuzz_scratch.h"

#include "config/momentum_reader.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    using mtatls::fuzz::write_scratch_file;
    write_scratch_file("a.conf", "include \"b.conf\"\nbinding \"inc\" { tls = required }\n");
    write_scratch_file("b.conf", "domain \"inc.example\" { tls_verify = host }\n");
    write_scratch_file("loop.conf", "include \"loop.conf\"\n");
    write_scratch_file("broken.conf", "binding \"x\" {\n  tls = \n");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mtatls;
    static const std::string source = fuzz::scratch_dir() + "/fuzz.conf";
    config::Document document;
    document.files = {source};
    config::Diagnostics diagnostics;
    const bool ok = config::parse_momentum_text(
        std::string_view(reinterpret_cast<const char*>(data), size), 0, document, diagnostics);
    fuzz::compile_and_round_trip(document, ok, diagnostics, source);
    return 0;
}
