// regressions_test.cpp - one doctest per bug the fuzz targets found, so a fix
// stays fixed in the ordinary (and the sanitizer) test run, not only under
// libFuzzer.  The fuzzer's own input for each is kept under
// tests/fuzz/regressions/TARGET/ (README.md says how to replay it).
//
// Each test states the property, not the fix: any correct fix passes.
#include "reply_reader.h"

#include "config/compile.h"
#include "config/momentum_reader.h"
#include "config/yaml_reader.h"
#include "config/yaml_writer.h"
#include "smtp/reply.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace mtatls;

namespace {

// Hands out fixed segments, then EOF.
class Segments final : public host::Transport {
  public:
    explicit Segments(std::vector<std::string> segments) : segments_(std::move(segments)) {}
    host::IoResult read_some(char* buffer, std::size_t size, const host::Deadline&) override {
        host::IoResult io;
        if (next_ == segments_.size()) {
            io.status = host::IoStatus::eof;
            return io;
        }
        const std::string& segment = segments_[next_++];
        REQUIRE(segment.size() <= size);
        segment.copy(buffer, segment.size());
        io.bytes = segment.size();
        return io;
    }
    host::IoResult write_all(std::string_view, const host::Deadline&,
                             host::Deadline::Clock::duration) override {
        return {};
    }
    [[nodiscard]] bool is_tls() const override { return false; }

  private:
    std::vector<std::string> segments_;
    std::size_t next_ = 0;
};

struct Converted {
    std::shared_ptr<const config::Config> source;
    std::shared_ptr<const config::Config> converted;
    std::string yaml;
};

// Compiles `text` (file checks off, as `convert` does) and, when that
// works, compiles its conversion to YAML.
Converted convert(const std::string& text, bool momentum) {
    Converted out;
    config::Document document;
    document.files = {"/nonexistent/fuzz-regression" + std::string(momentum ? ".conf" : ".yaml")};
    config::Diagnostics diagnostics;
    const bool read = momentum ? config::parse_momentum_text(text, 0, document, diagnostics)
                               : config::parse_yaml_text(text, document, diagnostics);
    config::CompileOptions options;
    options.check_files = false;
    if (read) out.source = config::compile(document, diagnostics, options);
    if (!out.source) return out;
    out.yaml = config::to_yaml(*out.source, document.files.front());
    config::Document again;
    again.files = document.files;
    config::Diagnostics again_diagnostics;
    if (config::parse_yaml_text(out.yaml, again, again_diagnostics))
        out.converted = config::compile(again, again_diagnostics, options);
    return out;
}

// fuzz finding config_yaml/non-utf8 and config_momentum/non-utf8: yaml-cpp's
// emitter writes U+FFFD for bytes that are not UTF-8, so `convert` changed
// file names and domain names, and a domain's `tls = required` no longer
// applied to the name in the converted file.
void require_faithful(const std::string& text, bool momentum) {
    const Converted c = convert(text, momentum);
    if (!c.source) return; // refusing such bytes at load time is a correct fix too
    REQUIRE_MESSAGE(c.converted, c.yaml);
    const std::string domain = "trusted\xae"
                               "partner.example.com";
    const auto before = c.source->resolve({"", "customer-1", domain});
    const auto after = c.converted->resolve({"", "customer-1", domain});
    CHECK(before.tls() == config::TlsMode::required);
    CHECK_MESSAGE(after.tls() == before.tls(), c.yaml);
    CHECK_MESSAGE(after[config::Directive::tls_ca].value == before[config::Directive::tls_ca].value,
                  c.yaml);
}

} // namespace

TEST_CASE("ReplyReader judges a CR that ended one segment when the next byte arrives") {
    // fuzz finding smtp_reply/reader-bare-cr: "\r" is fine as the last byte
    // read so far, but once a byte other than LF follows, the reply is
    // malformed at once, as parse_reply says for the same bytes in one piece.
    REQUIRE(smtp::parse_reply("250 ok\rv").state == smtp::ReplyState::malformed);
    Segments transport({"250 ok\r", "v"});
    host::ReplyReader reader;
    const host::ReplyRead read = reader.read(transport, host::Deadline::never());
    CHECK(read.status == host::ReadStatus::malformed);
}

TEST_CASE("convert keeps bytes that are not UTF-8 (or the file is refused): YAML") {
    require_faithful("binding:\n"
                     "  customer-1:\n"
                     "    domain:\n"
                     "      \"trusted\xae"
                     "partner.example.com\":\n"
                     "        tls: required\n"
                     "        tls_ca: \"/etc/\x99pki/ca.pem\"\n",
                     false);
}

TEST_CASE("convert keeps bytes that are not UTF-8 (or the file is refused): Momentum") {
    require_faithful("binding \"customer-1\" {\n"
                     "  domain \"trusted\xae"
                     "partner.example.com\" {\n"
                     "    tls = required\n"
                     "    tls_ca = \"/etc/\x99pki/ca.pem\"\n"
                     "  }\n"
                     "}\n",
                     true);
}

TEST_CASE("domain regexes with huge counts or back-references are refused, without UB") {
    // fuzz finding config_momentum/regex-int-overflow: libstdc++'s regex
    // compiler (GCC 12) reads "{N}" and "\\N" into a signed long without an
    // overflow check: undefined behaviour on a configuration file, which
    // UBSan (build-sanitize) reports.  The pattern must be refused before it
    // reaches std::regex.
    for (const char* pattern : {"/x{99999999999999999999}/", "/(x)\\99999999999999999999/",
                                "/x{1,99999999999999999999}/"}) {
        INFO(pattern);
        const Converted c =
            convert("domain \"" + std::string(pattern) + "\" { tls = required }\n", true);
        CHECK_FALSE(c.source);
    }
}

TEST_CASE("convert writes names that escaping makes long so that they load again") {
    // fuzz finding config_momentum/yaml-long-key: yaml-cpp chooses the
    // implicit "key:" form by the name's raw length (at most 1024), but the
    // written key holds its escapes (\\\\, \\", \\xNN); past 1024 characters
    // YAML forbids an implicit key and the converted file does not load.
    const std::string backslashes(600, '\\');
    const std::string controls(300, '\x13');
    for (const std::string& text :
         {"binding \"" + std::string(1200, '\\') + "\" { tls = required }\n",
          "domain \"/" + backslashes + "/\" { tls = required }\n",
          "domain \"/" + controls + "/\" { tls = required }\n"}) {
        const Converted c = convert(text, true);
        if (!c.source) continue; // refusing such names at load time is a correct fix too
        CHECK_MESSAGE(c.converted, c.yaml.substr(0, 200));
    }
}

TEST_CASE("a domain name with trailing dots means the same before and after convert") {
    // fuzz finding config_momentum/domain-trailing-dots: normalize_domain
    // removes ONE trailing dot, so "partner.example.." is kept as
    // "partner.example.", written so by convert, and read back as
    // "partner.example": the converted file applies the stanza to a domain
    // the original did not, and converting it again changes it.
    const Converted c = convert("domain \"partner.example..\" { tls = required }\n", true);
    if (!c.source) return; // refusing empty labels at load time is a correct fix too
    REQUIRE_MESSAGE(c.converted, c.yaml);
    CHECK(config::to_yaml(*c.converted, "/nonexistent/fuzz-regression.conf") == c.yaml);
    for (const char* domain : {"partner.example", "partner.example.", "partner.example.."}) {
        INFO(domain);
        CHECK(c.source->resolve({"", "", domain}).tls() ==
              c.converted->resolve({"", "", domain}).tls());
    }
}
