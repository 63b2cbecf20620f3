// momentum_reader_test.cpp - tests for the Momentum (ecelerity.conf) syntax reader.
//
// Most cases compare a compact dump of the parsed tree (or of the single
// diagnostic) against the expected text, so a failure prints got and want
// side by side.
#include "config/momentum_reader.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace std::literals;
using mtatls::config::Diagnostics;
using mtatls::config::Document;
using mtatls::config::RawSetting;
using mtatls::config::RawStanza;
using mtatls::config::SourcePos;
using mtatls::config::StanzaKind;
using mtatls::config::Syntax;

namespace {

struct Result {
    Document doc;
    Diagnostics diag;
    bool ok = false;
};

Result parse(std::string_view text) {
    Result r;
    r.doc.files = {"test.conf"};
    r.ok = mtatls::config::parse_momentum_text(text, 0, r.doc, r.diag);
    return r;
}

Result read(const std::filesystem::path& path) {
    Result r;
    r.ok = mtatls::config::read_momentum_file(path.string(), r.doc, r.diag);
    return r;
}

std::string diagnostics_text(const Diagnostics& diag) {
    std::string out;
    for (const auto& d : diag.items())
        out += mtatls::config::format(d) + "\n";
    return out;
}

std::string pos_text(const SourcePos& p) {
    return std::to_string(p.file) + ":" + std::to_string(p.line) + ":" + std::to_string(p.column);
}

// name=value pairs and child stanzas, e.g. `tls="no" binding "b" { tls_ca="x" }`.
void dump(const RawStanza& s, std::string& out) {
    for (const RawSetting& setting : s.settings) {
        if (!out.empty()) out += ' ';
        out += setting.name + "=\"" + setting.value + "\"";
    }
    for (const RawStanza& child : s.children) {
        if (!out.empty()) out += ' ';
        out += std::string(mtatls::config::keyword(child.kind)) + " \"" + child.name + "\" {";
        std::string inner;
        dump(child, inner);
        if (!inner.empty()) out += " " + inner;
        out += " }";
    }
}

std::string dump(const Document& doc) {
    std::string out;
    dump(doc.root, out);
    return out;
}

// Settings and stanzas with their positions, for position checks.
void dump_positions(const RawStanza& s, std::string& out) {
    for (const RawSetting& setting : s.settings)
        out += setting.name + "@" + pos_text(setting.pos) + "=" + pos_text(setting.value_pos) + " ";
    for (const RawStanza& child : s.children) {
        out += std::string(mtatls::config::keyword(child.kind)) + "@" + pos_text(child.pos) + " { ";
        dump_positions(child, out);
        out += "} ";
    }
}

std::string dump_positions(const Document& doc) {
    std::string out;
    dump_positions(doc.root, out);
    return out;
}

std::string dump_ignored(const Document& doc) {
    std::string out;
    for (const auto& item : doc.ignored) {
        if (!out.empty()) out += " | ";
        out += item.what + "@" + pos_text(item.pos);
    }
    return out;
}

// The single error a failing parse must produce, as "LINE:COL [SCOPE] MESSAGE".
std::string only_error(const Result& r) {
    if (r.diag.items().size() != 1)
        return "expected exactly one diagnostic, got:\n" + diagnostics_text(r.diag);
    const auto& d = r.diag.items().front();
    std::string out = std::to_string(d.line) + ":" + std::to_string(d.column);
    if (!d.scope.empty()) out += " [" + d.scope + "]";
    return out + " " + d.message;
}

// A scratch directory removed when the test ends.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("mtatls-momentum-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::filesystem::path write(const std::string& name, std::string_view text) const {
        const auto file = path / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream out(file, std::ios::binary);
        out << text;
        return file;
    }
};

constexpr std::string_view vendor_example = R"(binding "customer-1" {
  tls_key = "/path/to/customer1.key"
  tls_certificate = "/path/to/customer2.cert"
  domain "trusted.partner.example.com" {
    tls = "required"
    tls_ca = "/path/to/customer1/partners.cabundle"
  }
}
)";

constexpr std::string_view vendor_dump =
    R"(binding "customer-1" { tls_key="/path/to/customer1.key" tls_certificate="/path/to/customer2.cert" )"
    R"(domain "trusted.partner.example.com" { tls="required" tls_ca="/path/to/customer1/partners.cabundle" } })";

std::string to_crlf(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

} // namespace

TEST_CASE("momentum: the vendor's outbound TLS example loads verbatim") {
    const Result r = parse(vendor_example);
    INFO(diagnostics_text(r.diag));
    REQUIRE(r.ok);
    CHECK(r.diag.items().empty());
    CHECK(r.doc.syntax == Syntax::momentum);
    CHECK(r.doc.root.kind == StanzaKind::global);
    CHECK(dump(r.doc) == vendor_dump);
    CHECK(r.doc.ignored.empty());

    REQUIRE(r.doc.root.children.size() == 1);
    const RawStanza& binding = r.doc.root.children[0];
    CHECK(binding.kind == StanzaKind::binding);
    CHECK(binding.name == "customer-1");
    REQUIRE(binding.children.size() == 1);
    CHECK(binding.children[0].kind == StanzaKind::domain);
    CHECK(dump_positions(r.doc) ==
          "binding@0:1:1 { tls_key@0:2:3=0:2:13 tls_certificate@0:3:3=0:3:21 "
          "domain@0:4:3 { tls@0:5:5=0:5:11 tls_ca@0:6:5=0:6:14 } } ");
}

TEST_CASE("momentum: CRLF line endings parse like LF") {
    const Result r = parse(to_crlf(vendor_example));
    INFO(diagnostics_text(r.diag));
    REQUIRE(r.ok);
    CHECK(dump(r.doc) == vendor_dump);
    CHECK(dump_positions(r.doc) ==
          "binding@0:1:1 { tls_key@0:2:3=0:2:13 tls_certificate@0:3:3=0:3:21 "
          "domain@0:4:3 { tls@0:5:5=0:5:11 tls_ca@0:6:5=0:6:14 } } ");

    const Result heredoc = parse("x = <<EOT\r\nline 1\r\nline 2\r\nEOT\r\ny = z\r\n");
    INFO(diagnostics_text(heredoc.diag));
    CHECK(heredoc.ok);
    CHECK(dump(heredoc.doc) == "x=\"line 1\nline 2\" y=\"z\"");

    const Result bad = parse("tls = ok\r\ntls_verify host\r\n");
    CHECK(only_error(bad) == "2:12 expected \"=\" or \"{\" after \"tls_verify\"");
}

TEST_CASE("momentum: values, comments, keywords and stanza forms") {
    struct Case {
        const char* label;
        std::string_view input;
        std::string_view want;
    };
    const Case cases[] = {
        {"bare word", "tls = required", R"(tls="required")"},
        {"no spaces around =", "tls=required", R"(tls="required")"},
        {"= on the next line", "tls\n  = required", R"(tls="required")"},
        {"name case kept", "TLS_Verify = Host", R"(TLS_Verify="Host")"},
        {"comment lines and trailing comments",
         "# a comment\n\n   # indented\ntls = no # trailing\n#last", R"(tls="no")"},
        {"# ends a bare word", "tls = no#comment", R"(tls="no")"},
        {"# inside a string is text", R"(x = "a # b" # c)", R"(x="a # b")"},
        {"escapes", R"(x = "q\"b\\s\nn\tt\qz")",
         "x=\"q\"b\\s\nn\tt"
         "qz\""},
        {"empty string", R"(x = "")", R"(x="")"},
        {"escaped newline is kept", "x = \"a\\\nb\"", "x=\"a\nb\""},
        {"comma is a word character outside lists", "tls_ciphers = HIGH:!aNULL,!MD5",
         R"(tls_ciphers="HIGH:!aNULL,!MD5")"},
        {"bare path", "tls_ca = /etc/ssl/ca.pem", R"(tls_ca="/etc/ssl/ca.pem")"},
        {"non-ASCII bytes in words", "x = caf\xC3\xA9", "x=\"caf\xC3\xA9\""},
        {"list with optional commas", R"(debug_flags = ( a b, "c d" ,e ))",
         R"(debug_flags="a b c d e")"},
        {"list over several lines", "debug_flags = (\n  a,\n  b # why\n)\nx = y",
         R"(debug_flags="a b" x="y")"},
        {"empty list", "debug_flags = ()", R"(debug_flags="")"},
        {"heredoc", "x = <<EOT\nline 1\n  line 2\nEOT\ny = z", "x=\"line 1\n  line 2\" y=\"z\""},
        {"heredoc ends only at an exact line", "x = <<EOT\n EOT\nEOT \nEOTX\nEOT",
         "x=\" EOT\nEOT \nEOTX\""},
        {"heredoc keeps # and quotes", "x = <<END # note\na \"#\" b\nEND", "x=\"a \"#\" b\""},
        {"empty heredoc", "x = <<EOT\nEOT", R"(x="")"},
        {"heredoc at end of file without newline", "x = <<E\nv\nE", R"(x="v")"},
        {"two options on one line", "a = b c = d", R"(a="b" c="d")"},
        {"option named include", "include = yes", R"(include="yes")"},
        {"UTF-8 byte order mark", "\xEF\xBB\xBFtls = no", R"(tls="no")"},
        {"keywords are case-insensitive",
         "BINDING_GROUP g { Binding \"b\" { DOMAIN d { TLS = required } } }",
         R"(binding_group "g" { binding "b" { domain "d" { TLS="required" } } })"},
        {"brace on its own line", "binding \"b\"\n{\n  tls = no\n}", R"(binding "b" { tls="no" })"},
        {"empty stanza", "domain \"x\" {}", R"(domain "x" { })"},
        {"bare stanza name", "domain example.com { tls = no }",
         R"(domain "example.com" { tls="no" })"},
        {"escaped stanza name", R"(binding "a\"b" {})", R"(binding "a"b" { })"},
        {"regex domain kept verbatim", R"(domain "/^.*\.example\.com$/" { tls = required })",
         R"(domain "/^.*\.example\.com$/" { tls="required" })"},
        {"bare regex domain", R"(domain /^mx\d+\./ {})", R"(domain "/^mx\d+\./" { })"},
        {"nesting is not validated here", "domain a { domain b { tls = no } }",
         R"(domain "a" { domain "b" { tls="no" } })"},
        {"non-TLS options are recorded",
         "max_outbound_connections = 20\nbinding b { Bind_Address = 10.0.0.1 }",
         R"(max_outbound_connections="20" binding "b" { Bind_Address="10.0.0.1" })"},
        {"declaration order", "binding a {}\nx = 1\nbinding b {}\ndomain c {}",
         R"(x="1" binding "a" { } binding "b" { } domain "c" { })"},
        {"list for a non-TLS option", "binding b { ehlo_hosts = ( a b ) }",
         R"(binding "b" { ehlo_hosts="a b" })"},
        {"empty input", "", ""},
        {"only blanks", " \t\r\n\n", ""},
    };
    for (const Case& c : cases) {
        INFO("case: " << c.label);
        const Result r = parse(c.input);
        INFO("diagnostics:\n" << diagnostics_text(r.diag));
        CHECK(r.ok);
        CHECK(dump(r.doc) == c.want);
    }
}

TEST_CASE("momentum: other stanzas are skipped and listed once") {
    struct Case {
        const char* label;
        std::string_view input;
        std::string_view want_tree;
        std::string_view want_ignored;
    };
    const Case cases[] = {
        {"nested braces inside",
         "esmtp_listener {\n  listen \":25\" {\n    peer \"10.0.0.0/8\" { tls = required }\n  "
         "}\n}\ntls = no",
         R"(tls="no")", R"(stanza "esmtp_listener"@0:1:1)"},
        {"keyword lower-cased, argument added", "Listen \":25\" { }", "",
         R"(stanza "listen" ":25"@0:1:1)"},
        {"several arguments, bare and quoted", "pathway_group a \"b c\" {}", "",
         R"(stanza "pathway_group" "a" "b c"@0:1:1)"},
        {"argument as written", R"(peer "a\"b" {})", "", R"(stanza "peer" "a\"b"@0:1:1)"},
        {"inside a binding", "binding b {\n  peer \"x\" { tls = required }\n  tls = ifavailable\n}",
         R"(binding "b" { tls="ifavailable" })", R"(stanza "peer" "x"@0:2:3)"},
        {"TLS stanzas inside are not recorded", "Keys { binding x { tls = y } domain z {} }", "",
         R"(stanza "keys"@0:1:1)"},
        {"includes inside are not followed", "spool { include \"/nonexistent/file.conf\" }", "",
         R"(stanza "spool"@0:1:1)"},
        {"a list of a TLS option inside is not checked", "esmtp_listener { tls_ciphers = ( a b ) }",
         "", R"(stanza "esmtp_listener"@0:1:1)"},
        {"braces in strings, heredocs and comments",
         "scriptlet s {\n  a = \"}\"\n  b = <<X\n}\nX\n  # }\n}\ntls = no", R"(tls="no")",
         R"(stanza "scriptlet" "s"@0:1:1)"},
        {"two skipped stanzas", "spool {}\nesmtp_listener {}", "",
         R"(stanza "spool"@0:1:1 | stanza "esmtp_listener"@0:2:1)"},
    };
    for (const Case& c : cases) {
        INFO("case: " << c.label);
        const Result r = parse(c.input);
        INFO("diagnostics:\n" << diagnostics_text(r.diag));
        CHECK(r.ok);
        CHECK(dump(r.doc) == c.want_tree);
        CHECK(dump_ignored(r.doc) == c.want_ignored);
    }
}

TEST_CASE("momentum: syntax errors name one position and stop") {
    struct Case {
        const char* label;
        std::string_view input;
        std::string_view want; // LINE:COL [SCOPE] MESSAGE
    };
    const Case cases[] = {
        {"missing =", "tls_verify host\n", R"(1:12 expected "=" or "{" after "tls_verify")"},
        {"missing = and value", "tls_verify\ntls = no",
         R"(1:11 expected "=" or "{" after "tls_verify")"},
        {"missing = does not swallow the next stanza", "tls_verify host\nbinding \"b\" {\n}\n",
         R"(1:12 expected "=" or "{" after "tls_verify")"},
        {"unquoted value with a space", "tls_ciphers = HIGH MEDIUM\n",
         R"(1:26 expected "=" or "{" after "MEDIUM" (if it belongs to the value of "tls_ciphers", put that value in double quotes))"},
        {"unquoted value with spaces", "tls_ciphers = HIGH MEDIUM LOW\n",
         R"(1:27 expected "=" or "{" after "MEDIUM" (if it belongs to the value of "tls_ciphers", put that value in double quotes))"},
        {"name followed by (", "tls ( a )", R"(1:5 expected "=" or "{" after "tls")"},
        {"name at end of file", "binding b { }\ntls", R"(2:4 expected "=" or "{" after "tls")"},
        {"nested scope is named", "binding \"x\" {\n  domain \"y\" {\n    tls_verify host\n  }\n}",
         R"(3:16 [binding "x" / domain "y"] expected "=" or "{" after "tls_verify")"},
        {"unterminated string at end of line", "tls = \"abc\ntls_ca = x",
         "1:7 unterminated string"},
        {"unterminated string at end of file", "binding b {\n  tls = \"abc",
         "2:9 [binding \"b\"] unterminated string"},
        {"backslash at end of file", "tls = \"abc\\", "1:7 unterminated string"},
        {"missing }", "binding \"x\" {\n  tls = y\n",
         R"(3:1 [binding "x"] missing "}" for binding "x" opened at line 1)"},
        {"missing } of a skipped stanza", "esmtp_listener {\n  x = y",
         R"(2:8 [esmtp_listener] missing "}" for esmtp_listener opened at line 1)"},
        {"stray }", "}", R"(1:1 unexpected "}")"},
        {"stray } after a stanza", "binding \"x\" { }\n}", R"(2:1 unexpected "}")"},
        {"statement starting with =", "= x", R"(1:1 expected an option or stanza name, got "=")"},
        {"statement starting with a string", "\"tls\" = x",
         R"(1:1 expected an option or stanza name, got string "tls")"},
        {"statement starting with )", "tls = x )",
         R"~(1:9 expected an option or stanza name, got ")")~"},
        {"missing value at end of line", "tls_ca =\ntls = required",
         R"(1:9 missing value after "tls_ca =")"},
        {"missing value at end of file", "tls_ca = ", R"(1:9 missing value after "tls_ca =")"},
        {"value is a brace", "binding b { tls = }",
         R"(1:19 [binding "b"] expected a value after "tls =", got "}")"},
        {"value is =", "tls = = x", R"(1:7 expected a value after "tls =", got "=")"},
        {"list for tls_*", "tls_ca = (a b)",
         R"(1:10 option "tls_ca" expects a single value, not a list)"},
        {"list for TLS (case)", "binding b { TLS = ( required ) }",
         R"(1:19 [binding "b"] option "TLS" expects a single value, not a list)"},
        {"list for ssl_*", "SSL_lock_method = ( mutex )",
         R"(1:19 option "SSL_lock_method" expects a single value, not a list)"},
        {"list for starttls_*", "starttls_injection_policy = (reject)",
         R"(1:29 option "starttls_injection_policy" expects a single value, not a list)"},
        {"list for crypto_lock_*", "crypto_lock_method = (x)",
         R"(1:22 option "crypto_lock_method" expects a single value, not a list)"},
        {"brace inside a list", "debug = (a { b)", R"(1:12 unexpected "{" in the list of "debug")"},
        {"nested list", "debug = (a (b))", R"(1:12 unexpected "(" in the list of "debug")"},
        {"unterminated list", "debug = (a b\n",
         R"~(2:1 missing ")" for the list of "debug" opened at line 1)~"},
        {"unterminated heredoc", "x = <<EOT\nabc\n",
         R"(1:5 unterminated heredoc: no line "EOT" before the end of the file)"},
        {"heredoc tag at end of file", "x = <<EOT",
         R"(1:5 unterminated heredoc: no line "EOT" before the end of the file)"},
        {"text after a heredoc tag", "x = <<EOT junk\nEOT",
         R"(1:11 expected the end of the line after "<<EOT")"},
        {"heredoc without tag", "x = <<\n\n", R"(1:5 a heredoc needs a tag after "<<")"},
        {"binding without name", "binding { }", "1:1 binding stanza needs exactly one name"},
        {"binding with two names", "binding a b { }", "1:1 binding stanza needs exactly one name"},
        {"domain without name", "Domain {}", "1:1 domain stanza needs exactly one name"},
        {"binding_group with two names", "binding_group \"a\" \"b\" {}",
         "1:1 binding_group stanza needs exactly one name"},
        {"stanza arguments on the next line", "binding \"x\"\n\"y\" {}",
         R"(1:9 expected "=" or "{" after "binding")"},
        {"error inside a skipped stanza", "esmtp_listener {\n  listen \":25\" {\n    x =\n  }\n}",
         R"(3:8 [esmtp_listener / listen ":25"] missing value after "x =")"},
        {"control byte in a word", "tls = re\x01quired",
         "1:9 unexpected control byte 0x01 (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"NUL after a name", "tls\0 = x"sv,
         "1:4 unexpected control byte 0x00 (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"NUL at the start", "\0"sv,
         "1:1 unexpected control byte 0x00 (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"NUL in a comment", "# a\0\ntls = x"sv,
         "1:4 unexpected control byte 0x00 (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"DEL", "a = b\x7f",
         "1:6 unexpected control byte 0x7f (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"vertical tab", "a = b\n\v",
         "2:1 unexpected control byte 0x0b (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"form feed in a skipped stanza", "spool {\n \f }",
         "2:2 [spool] unexpected control byte 0x0c (only tab, CR and LF may appear outside quoted "
         "strings)"},
        {"NUL in a string", "tls = \"a\0b\""sv, "1:9 NUL byte inside a quoted string"},
        {"escaped NUL in a string", "tls = \"a\\\0b\""sv, "1:10 NUL byte inside a quoted string"},
        {"NUL in a heredoc", "x = <<E\na\0\nE"sv, "2:2 NUL byte inside a heredoc"},
        {"control byte after a heredoc tag", "x = <<E \x01\nE",
         "1:9 unexpected control byte 0x01 (only tab, CR and LF may appear outside quoted "
         "strings)"},
    };
    for (const Case& c : cases) {
        INFO("case: " << c.label);
        const Result r = parse(c.input);
        CHECK_FALSE(r.ok);
        CHECK(r.diag.error_count() == 1);
        CHECK(only_error(r) == c.want);
        if (!r.diag.items().empty()) CHECK(r.diag.items().front().file == "test.conf");
    }
}

TEST_CASE("momentum: control bytes are allowed inside strings") {
    const Result r = parse("x = \"a\x01\tb\"");
    INFO(diagnostics_text(r.diag));
    CHECK(r.ok);
    CHECK(dump(r.doc) == "x=\"a\x01\tb\"");
}

TEST_CASE("momentum: nesting depth is bounded") {
    const auto nested = [](int depth, std::string_view keyword) {
        std::string text;
        for (int i = 0; i < depth; ++i)
            text += std::string(keyword) + " \"g" + std::to_string(i) + "\" {\n";
        for (int i = 0; i < depth; ++i)
            text += "}\n";
        return text;
    };

    const Result ok = parse(nested(64, "domain"));
    INFO(diagnostics_text(ok.diag));
    CHECK(ok.ok);

    const Result deep = parse(nested(65, "domain"));
    CHECK_FALSE(deep.ok);
    const std::string err = only_error(deep);
    CHECK(err.rfind("65:1 ", 0) == 0);
    CHECK(err.find("stanzas nested more than 64 deep") != std::string::npos);

    // Skipped stanzas are bounded the same way, and hostile depth must not
    // exhaust the stack.
    const Result hostile = parse(nested(200000, "x"));
    CHECK_FALSE(hostile.ok);
    CHECK(only_error(hostile).find("65:1 ") == 0);

    std::string braces(1000000, '{');
    const Result only_braces = parse(braces);
    CHECK(only_error(only_braces) == R"(1:1 expected an option or stanza name, got "{")");
}

TEST_CASE("momentum: input larger than 64 MiB is refused") {
    const std::string big(64u * 1024u * 1024u + 1u, ' ');
    const Result r = parse(big);
    CHECK_FALSE(r.ok);
    const std::string err = only_error(r);
    CHECK(err.find("larger than 64 MiB") != std::string::npos);
}

TEST_CASE("momentum: read_momentum_file") {
    TempDir dir;
    SUBCASE("reads and parses a file") {
        const auto path = dir.write("ecelerity.conf", vendor_example);
        const Result r = read(path);
        INFO(diagnostics_text(r.diag));
        REQUIRE(r.ok);
        CHECK(r.doc.syntax == Syntax::momentum);
        CHECK(r.doc.files == std::vector<std::string>{path.string()});
        CHECK(dump(r.doc) == vendor_dump);
    }
    SUBCASE("missing file") {
        const auto path = dir.path / "nope.conf";
        const Result r = read(path);
        CHECK_FALSE(r.ok);
        REQUIRE(r.diag.items().size() == 1);
        CHECK(r.diag.items()[0].file == path.string());
        CHECK(r.diag.items()[0].message == "cannot read file: No such file or directory");
    }
    SUBCASE("a directory") {
        const Result r = read(dir.path);
        CHECK_FALSE(r.ok);
        REQUIRE(r.diag.items().size() == 1);
        CHECK(r.diag.items()[0].message == "cannot read file: Is a directory");
    }
    SUBCASE("errors name the file") {
        const auto path = dir.write("bad.conf", "tls = ok\nbinding b {\n  tls_verify host\n}\n");
        const Result r = read(path);
        CHECK_FALSE(r.ok);
        REQUIRE(r.diag.items().size() == 1);
        CHECK(mtatls::config::format(r.diag.items()[0]) ==
              path.string() +
                  R"(:3:14: error: [binding "b"] expected "=" or "{" after "tls_verify")");
    }
}

TEST_CASE("momentum: include splices files into the enclosing stanza") {
    TempDir dir;
    dir.write("sub/inc.conf", "tls_key = k\nreadonly_include \"more.conf\"\n");
    dir.write("sub/more.conf", "domain \"d\" { tls = required }\n");
    const auto main_path = dir.write("main.conf", "tls = ifavailable\n"
                                                  "binding \"b\" {\n"
                                                  "  INCLUDE \"sub/inc.conf\"\n"
                                                  "  tls_verify = host\n"
                                                  "}\n");
    const Result r = read(main_path);
    INFO(diagnostics_text(r.diag));
    REQUIRE(r.ok);
    CHECK(
        dump(r.doc) ==
        R"(tls="ifavailable" binding "b" { tls_key="k" tls_verify="host" domain "d" { tls="required" } })");
    CHECK(r.doc.files == std::vector<std::string>{main_path.string(),
                                                  (dir.path / "sub/inc.conf").string(),
                                                  (dir.path / "sub/more.conf").string()});
    CHECK(dump_positions(r.doc) == "tls@0:1:1=0:1:7 binding@0:2:1 { tls_key@1:1:1=1:1:11 "
                                   "tls_verify@0:4:3=0:4:16 domain@2:1:1 { tls@2:1:14=2:1:20 } } ");
}

TEST_CASE("momentum: include paths, loops, depth and errors") {
    TempDir dir;
    const std::string d = dir.path.string();

    SUBCASE("absolute path, bare word, relative to the file given to parse_momentum_text") {
        const auto abs = dir.write("abs.conf", "a = 1\n");
        dir.write("rel.conf", "b = 2\n");
        Result r;
        r.doc.files = {(dir.path / "virtual.conf").string()};
        r.ok = mtatls::config::parse_momentum_text(
            "include " + abs.string() + "\ninclude \"rel.conf\"\n", 0, r.doc, r.diag);
        INFO(diagnostics_text(r.diag));
        CHECK(r.ok);
        CHECK(dump(r.doc) == R"(a="1" b="2")");
        CHECK(r.doc.files.size() == 3);
    }
    SUBCASE("the same file twice is not a loop") {
        dir.write("x.conf", "x = 1\n");
        const auto main_path = dir.write("main.conf", "include \"x.conf\"\ninclude \"x.conf\"\n");
        const Result r = read(main_path);
        INFO(diagnostics_text(r.diag));
        CHECK(r.ok);
        CHECK(dump(r.doc) == R"(x="1" x="1")");
    }
    SUBCASE("loop through two files") {
        dir.write("a.conf", "x = 1\ninclude \"b.conf\"\n");
        dir.write("b.conf", "binding b {\n  include \"./a.conf\"\n}\n");
        const Result r = read(dir.path / "a.conf");
        CHECK_FALSE(r.ok);
        REQUIRE(r.diag.items().size() == 1);
        CHECK(r.diag.items()[0].file == d + "/b.conf");
        CHECK(only_error(r) ==
              "2:11 [binding \"b\"] include loop: \"" + d + "/./a.conf\" is already being read");
    }
    SUBCASE("a file including itself") {
        dir.write("self.conf", "include \"self.conf\"\n");
        const Result r = read(dir.path / "self.conf");
        CHECK_FALSE(r.ok);
        CHECK(only_error(r) == "1:9 include loop: \"" + d + "/self.conf\" is already being read");
    }
    SUBCASE("missing include names the include line") {
        const auto main_path = dir.write("main.conf", "tls = no\n  include \"nope.conf\"\n");
        const Result r = read(main_path);
        CHECK_FALSE(r.ok);
        REQUIRE(r.diag.items().size() == 1);
        CHECK(r.diag.items()[0].file == main_path.string());
        CHECK(only_error(r) ==
              R"(2:11 cannot read include file "nope.conf": No such file or directory)");
    }
    SUBCASE("including a directory") {
        std::filesystem::create_directories(dir.path / "subdir");
        const auto main_path = dir.write("main.conf", "include subdir\n");
        const Result r = read(main_path);
        CHECK(only_error(r) == R"(1:9 cannot read include file "subdir": Is a directory)");
    }
    SUBCASE("empty include name") {
        const auto main_path = dir.write("main.conf", "include \"\"\n");
        const Result r = read(main_path);
        CHECK(only_error(r) == "1:9 empty include file name");
    }
    SUBCASE("depth 16 is allowed, 17 is not") {
        // f0 includes f1 ... includes fN; fN holds one option.
        const auto chain = [&](int levels) {
            for (int i = 0; i < levels; ++i)
                dir.write("f" + std::to_string(i) + ".conf",
                          "include \"f" + std::to_string(i + 1) + ".conf\"\n");
            dir.write("f" + std::to_string(levels) + ".conf", "deepest = yes\n");
            return read(dir.path / "f0.conf");
        };
        const Result ok = chain(16);
        INFO(diagnostics_text(ok.diag));
        CHECK(ok.ok);
        CHECK(dump(ok.doc) == R"(deepest="yes")");

        const Result deep = chain(17);
        CHECK_FALSE(deep.ok);
        REQUIRE(deep.diag.items().size() == 1);
        CHECK(deep.diag.items()[0].file == d + "/f16.conf");
        CHECK(only_error(deep) == "1:9 includes nested more than 16 deep");
    }
    SUBCASE("errors inside an included file name that file and the enclosing scope") {
        dir.write("bad.conf", "tls = no\ntls_verify host\n");
        const Result r =
            read(dir.write("main.conf", "binding \"b\" {\n  include \"bad.conf\"\n}\n"));
        CHECK_FALSE(r.ok);
        REQUIRE(r.diag.items().size() == 1);
        CHECK(r.diag.items()[0].file == d + "/bad.conf");
        CHECK(only_error(r) == R"(2:12 [binding "b"] expected "=" or "{" after "tls_verify")");
    }
    SUBCASE("an included file cannot close the enclosing stanza") {
        dir.write("close.conf", "tls = no\n}\n");
        const Result r =
            read(dir.write("main.conf", "binding \"b\" {\n  include \"close.conf\"\n"));
        CHECK(only_error(r) == R"(2:1 [binding "b"] unexpected "}")");
        CHECK(r.diag.items()[0].file == d + "/close.conf");
    }
    SUBCASE("an included file must close its own stanzas") {
        dir.write("open.conf", "domain \"x\" {\n");
        const Result r = read(dir.write("main.conf", "include \"open.conf\"\n}\n"));
        CHECK(only_error(r) == R"(2:1 [domain "x"] missing "}" for domain "x" opened at line 1)");
        CHECK(r.diag.items()[0].file == d + "/open.conf");
    }
    SUBCASE("nesting depth continues across includes") {
        std::string outer;
        for (int i = 0; i < 63; ++i)
            outer += "domain d {\n";
        outer += "include \"inner.conf\"\n";
        for (int i = 0; i < 63; ++i)
            outer += "}\n";
        dir.write("inner.conf", "domain a {\n  domain b { }\n}\n");
        const Result r = read(dir.write("main.conf", outer));
        CHECK_FALSE(r.ok);
        CHECK(only_error(r).find("2:3 ") == 0);
        CHECK(only_error(r).find("stanzas nested more than 64 deep") != std::string::npos);
    }
}

// Speed is measured by bench/config_scale, never asserted here.
TEST_CASE("momentum: 100,000 domain stanzas parse completely") {
    std::string text;
    text.reserve(8u * 1024u * 1024u);
    for (int i = 0; i < 100000; ++i) {
        text += "domain \"customer-";
        text += std::to_string(i);
        text += ".example.com\" {\n  tls = required\n  tls_verify = host # checked\n}\n";
    }
    const Result r = parse(text);
    REQUIRE(r.ok);
    CHECK(r.doc.root.children.size() == 100000);
    CHECK(r.doc.root.children.back().name == "customer-99999.example.com");
    CHECK(r.doc.root.children.back().settings.size() == 2);
}
