// momentum_reader.cpp - reader for Momentum (ecelerity.conf) configuration syntax.
//
// Produces the raw Document tree; nothing is validated here beyond syntax.
// Decisions this reader takes where the vendor's documentation is silent:
//
//  * Statements are not terminated, but a few things must stay on one line so
//    that a typo cannot silently turn configuration into something else:
//      - an option's value starts on the line of its "=" (a list may then
//        continue over several lines);
//      - a stanza's arguments stand on the line of its keyword (the "{" may
//        follow on a later line).  Otherwise `tls_verify host` with a missing
//        "=" followed by `binding "b" {` would become one unknown stanza and
//        the whole binding would be skipped without a word.
//  * A quoted string ends on its own line; an escaped newline inside it is
//    kept as a newline.  Multi-line values use heredocs.
//  * A NUL byte is an error even inside strings and heredocs: every value ends
//    up in C APIs (paths, cipher lists) that would silently truncate it.
//  * Inside a list, "," separates items; elsewhere it is an ordinary word
//    character (an unquoted OpenSSL cipher list may contain commas).
//  * A list value is stored as its items joined with one space.  Options whose
//    lower-cased name starts with tls, ssl, starttls or crypto_lock are
//    scalars, so a list there is an error.
//  * Options are recorded at global level and inside binding_group / binding /
//    domain stanzas, TLS-related or not; the compile step sorts them out.
//  * Any other stanza is skipped whole (still parsed, so its syntax errors are
//    reported) and listed once in Document::ignored as
//        stanza "KEYWORD"                 for a stanza without arguments
//        stanza "KEYWORD" "ARG1" "ARG2"   otherwise
//    with KEYWORD lower-cased and each argument as written between its quotes
//    (a bare word is quoted too), e.g. stanza "listen" ":25".
//    `include` lines inside a skipped stanza are not followed.
//  * A regex domain name ("/.../") keeps its text exactly as written between
//    the quotes: backslash escapes are not processed, so `\.` stays `\.`.
//  * A UTF-8 byte order mark at the start of a file is skipped.
//  * The first error stops parsing; exactly one error is reported.
#include "config/momentum_reader.h"

#include "config/directive.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mtatls::config {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t max_file_size = std::size_t{64} << 20;
// Includes may repeat a file (diamonds), so a bound per file alone would let a
// small hostile tree of includes expand exponentially.
constexpr std::size_t max_total_size = std::size_t{256} << 20;
constexpr std::size_t max_files = 65536;
constexpr int max_nesting = 64;
constexpr int max_include_depth = 16;
// Names and arguments quoted in messages are cut here so a hostile line
// cannot produce a megabyte-long diagnostic.
constexpr std::size_t max_display = 200;

bool is_control(unsigned char c) {
    return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

bool is_word_char(unsigned char c, bool in_list) {
    if (c <= 0x20 || c == 0x7f) return false;
    switch (c) {
    case '{':
    case '}':
    case '(':
    case ')':
    case '=':
    case '"':
    case '#': return false;
    case ',': return !in_list;
    default: return true;
    }
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string hex_byte(unsigned char c) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "0x";
    out += digits[c >> 4];
    out += digits[c & 0x0f];
    return out;
}

// Text between double quotes for a message; control bytes are made visible.
std::string display(std::string_view text) {
    std::string out = "\"";
    const std::size_t n = text.size() < max_display ? text.size() : max_display;
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c == '\r')
            out += "\\r";
        else if (is_control(c))
            out += "\\x" + hex_byte(c).substr(2);
        else
            out += static_cast<char>(c);
    }
    if (n < text.size()) out += "...";
    out += '"';
    return out;
}

// Options that take exactly one value; see the header comment.
bool is_scalar_option(std::string_view name) {
    return istarts_with(name, "tls") || istarts_with(name, "ssl") ||
           istarts_with(name, "starttls") || istarts_with(name, "crypto_lock");
}

// Closes the FILE even when appending to the buffer throws.
struct FileCloser {
    std::FILE* file;
    explicit FileCloser(std::FILE* f) : file(f) {}
    ~FileCloser() {
        if (file != nullptr) std::fclose(file);
    }
    FileCloser(const FileCloser&) = delete;
    FileCloser& operator=(const FileCloser&) = delete;
};

// Returns 0 or an errno value; EFBIG when the file exceeds max_file_size.
int read_file(const std::string& path, std::string& out) {
    errno = 0;
    FileCloser f{std::fopen(path.c_str(), "rb")};
    if (f.file == nullptr) return errno != 0 ? errno : EIO;
    out.clear();
    std::vector<char> buffer(std::size_t{64} << 10);
    for (;;) {
        errno = 0;
        const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), f.file);
        if (n > 0) {
            // Reading stops right past the limit, so a huge (or endless) file
            // costs at most max_file_size bytes of memory.
            if (out.size() + n > max_file_size) return EFBIG;
            out.append(buffer.data(), n);
        }
        if (n < buffer.size()) {
            if (std::ferror(f.file)) return errno != 0 ? errno : EIO;
            return 0;
        }
    }
}

std::string error_text(int err) { return std::error_code(err, std::generic_category()).message(); }

enum class Tok { end, word, string, equals, lbrace, rbrace, lparen, rparen, error };

struct Token {
    Tok kind = Tok::end;
    std::string_view text; // word, raw string contents (without quotes) or the punctuation
    SourcePos pos;
    bool escaped = false; // string contains a backslash
};

// Where the scanner stands in one file.
struct Cursor {
    std::string_view text;
    std::size_t at = 0;
    std::size_t line_start = 0;
    uint32_t file = 0;
    uint32_t line = 1;
};

// An open stanza, for scope paths and "missing }" messages.
struct Frame {
    std::string_view keyword;
    std::string_view arg; // first argument as written
    bool has_arg = false;
    SourcePos pos;
};

class Parser {
  public:
    Parser(Document& document, Diagnostics& diagnostics) : doc_(document), diag_(diagnostics) {}

    bool run(std::string_view text, uint32_t file_index) {
        if (text.size() > max_file_size)
            return fail(SourcePos{file_index, 0, 0}, "file is larger than 64 MiB");
        total_size_ = text.size();
        if (file_index < doc_.files.size()) {
            std::error_code ec;
            fs::path canonical = fs::canonical(doc_.files[file_index], ec);
            if (!ec) active_.push_back(canonical.string());
        }
        start(text, file_index);
        return parse_block(&doc_.root, nullptr);
    }

  private:
    Document& doc_;
    Diagnostics& diag_;
    Cursor cur_;
    bool in_list_ = false;
    int depth_ = 0;
    int include_depth_ = 0;
    std::size_t total_size_ = 0;
    std::vector<std::string> active_; // canonical paths of the files being read
    std::vector<Frame> frames_;
    std::vector<Token> args_; // scratch for stanza arguments
    // The previous option value, to explain a stray word after it.
    std::string_view prev_option_;
    uint32_t prev_value_file_ = 0;
    uint32_t prev_value_line_ = 0; // 0 = none

    // ---- reporting

    std::string file_name(uint32_t index) const {
        return index < doc_.files.size() ? doc_.files[index] : std::string();
    }

    std::string frame_label(const Frame& f) const {
        std::string label = lowercase(f.keyword);
        if (f.has_arg) {
            label += ' ';
            label += display(f.arg);
        }
        return label;
    }

    std::string scope() const {
        std::string out;
        for (const Frame& f : frames_) {
            if (!out.empty()) out += " / ";
            out += frame_label(f);
        }
        return out;
    }

    bool fail(SourcePos pos, std::string message) {
        diag_.error(file_name(pos.file), pos, scope(), std::move(message));
        return false;
    }

    // ---- scanning

    void start(std::string_view text, uint32_t file_index) {
        cur_ = Cursor{text, 0, 0, file_index, 1};
        if (text.substr(0, 3) == "\xEF\xBB\xBF") cur_.at = cur_.line_start = 3;
    }

    SourcePos here() const {
        return SourcePos{cur_.file, cur_.line,
                         static_cast<uint32_t>(cur_.at - cur_.line_start + 1)};
    }

    void newline_at(std::size_t next) {
        cur_.at = next;
        cur_.line_start = next;
        ++cur_.line;
    }

    static SourcePos after(const Token& t) {
        return SourcePos{t.pos.file, t.pos.line,
                         t.pos.column + static_cast<uint32_t>(t.text.size())};
    }

    Token control_error(unsigned char c) {
        fail(here(), "unexpected control byte " + hex_byte(c) +
                         " (only tab, CR and LF may appear outside quoted strings)");
        return Token{Tok::error, {}, here(), false};
    }

    Token next() {
        const std::string_view text = cur_.text;
        for (;;) {
            if (cur_.at >= text.size()) return Token{Tok::end, {}, here(), false};
            const auto c = static_cast<unsigned char>(text[cur_.at]);
            if (c == '\n') {
                newline_at(cur_.at + 1);
            } else if (c == ' ' || c == '\t' || c == '\r' || (c == ',' && in_list_)) {
                ++cur_.at;
            } else if (c == '#') {
                while (cur_.at < text.size() && text[cur_.at] != '\n') {
                    const auto b = static_cast<unsigned char>(text[cur_.at]);
                    if (is_control(b)) return control_error(b);
                    ++cur_.at;
                }
            } else {
                break;
            }
        }
        const SourcePos pos = here();
        const auto c = static_cast<unsigned char>(text[cur_.at]);
        Tok kind = Tok::end;
        switch (c) {
        case '{': kind = Tok::lbrace; break;
        case '}': kind = Tok::rbrace; break;
        case '(': kind = Tok::lparen; break;
        case ')': kind = Tok::rparen; break;
        case '=': kind = Tok::equals; break;
        case '"': return string_token(pos);
        default: {
            if (is_control(c)) return control_error(c);
            const std::size_t begin = cur_.at;
            while (cur_.at < text.size() &&
                   is_word_char(static_cast<unsigned char>(text[cur_.at]), in_list_))
                ++cur_.at;
            return Token{Tok::word, text.substr(begin, cur_.at - begin), pos, false};
        }
        }
        ++cur_.at;
        return Token{kind, text.substr(cur_.at - 1, 1), pos, false};
    }

    Token string_token(SourcePos open) {
        const std::string_view text = cur_.text;
        const std::size_t begin = ++cur_.at;
        bool escaped = false;
        while (cur_.at < text.size()) {
            const char c = text[cur_.at];
            if (c == '"') {
                ++cur_.at;
                return Token{Tok::string, text.substr(begin, cur_.at - 1 - begin), open, escaped};
            }
            if (c == '\n') break;
            if (c == '\0') {
                fail(here(), "NUL byte inside a quoted string");
                return Token{Tok::error, {}, open, false};
            }
            if (c == '\\') {
                escaped = true;
                if (cur_.at + 1 >= text.size()) break;
                const char e = text[cur_.at + 1];
                if (e == '\n') {
                    newline_at(cur_.at + 2);
                    continue;
                }
                if (e == '\r' && cur_.at + 2 < text.size() && text[cur_.at + 2] == '\n') {
                    newline_at(cur_.at + 3);
                    continue;
                }
                if (e == '\0') {
                    ++cur_.at;
                    fail(here(), "NUL byte inside a quoted string");
                    return Token{Tok::error, {}, open, false};
                }
                cur_.at += 2;
                continue;
            }
            ++cur_.at;
        }
        fail(open, "unterminated string");
        return Token{Tok::error, {}, open, false};
    }

    static std::string unquote(const Token& t) {
        if (!t.escaped) return std::string(t.text);
        std::string out;
        out.reserve(t.text.size());
        const std::string_view raw = t.text;
        // The scanner guarantees a backslash is never the last raw byte.
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\' || i + 1 >= raw.size()) {
                out += raw[i];
                continue;
            }
            const char e = raw[++i];
            switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case '\r':
                if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
                out += '\n';
                break;
            default: out += e; break;
            }
        }
        return out;
    }

    static std::string token_value(const Token& t) {
        return t.kind == Tok::string ? unquote(t) : std::string(t.text);
    }

    static std::string describe(const Token& t) {
        switch (t.kind) {
        case Tok::end: return "end of file";
        case Tok::string: return "string " + display(t.text);
        default: return display(t.text);
        }
    }

    // ---- grammar

    // Statements up to the "}" closing `opened`, or to the end of the file
    // when `opened` is null.  A null `sink` means the content is skipped.
    bool parse_block(RawStanza* sink, const Frame* opened) {
        for (;;) {
            const Token t = next();
            switch (t.kind) {
            case Tok::error: return false;
            case Tok::end:
                if (opened == nullptr) return true;
                return fail(t.pos, "missing \"}\" for " + frame_label(*opened) +
                                       " opened at line " + std::to_string(opened->pos.line));
            case Tok::rbrace:
                if (opened != nullptr) return true;
                return fail(t.pos, "unexpected \"}\"");
            case Tok::word:
                if (!statement(sink, t)) return false;
                break;
            default: return fail(t.pos, "expected an option or stanza name, got " + describe(t));
            }
        }
    }

    bool statement(RawStanza* sink, const Token& name) {
        Token t = next();
        if (t.kind == Tok::error) return false;
        if (t.kind == Tok::equals) return option(sink, name, t);
        const bool is_arg = t.kind == Tok::word || t.kind == Tok::string;
        if (is_arg && t.pos.line == name.pos.line &&
            (iequals(name.text, "include") || iequals(name.text, "readonly_include")))
            return include(sink, t);

        args_.clear();
        while ((t.kind == Tok::word || t.kind == Tok::string) && t.pos.line == name.pos.line) {
            args_.push_back(t);
            t = next();
            if (t.kind == Tok::error) return false;
        }
        if (t.kind == Tok::lbrace) return stanza(sink, name);

        // Point where the "=" or "{" was expected.
        SourcePos where = after(name);
        if (!args_.empty())
            where = args_.front().pos;
        else if (t.kind != Tok::end && t.pos.line == name.pos.line)
            where = t.pos;
        std::string message = "expected \"=\" or \"{\" after " + display(name.text);
        if (prev_value_line_ == name.pos.line && prev_value_file_ == name.pos.file)
            message += " (if it belongs to the value of " + display(prev_option_) +
                       ", put that value in double quotes)";
        return fail(where, std::move(message));
    }

    bool option(RawStanza* sink, const Token& name, const Token& equals) {
        const Token v = next();
        if (v.kind == Tok::error) return false;
        if (v.kind == Tok::end || v.pos.line != equals.pos.line)
            return fail(after(equals),
                        "missing value after " + display(std::string(name.text) + " ="));
        std::string value;
        switch (v.kind) {
        case Tok::word:
            if (v.text.size() >= 2 && v.text.substr(0, 2) == "<<") {
                if (!heredoc(sink != nullptr, v, value)) return false;
            } else if (sink != nullptr) {
                value = std::string(v.text);
            }
            break;
        case Tok::string:
            if (sink != nullptr) value = unquote(v);
            break;
        case Tok::lparen:
            if (sink != nullptr && is_scalar_option(name.text))
                return fail(v.pos,
                            "option " + display(name.text) + " expects a single value, not a list");
            if (!list(sink != nullptr, name, v, value)) return false;
            break;
        default:
            return fail(v.pos, "expected a value after " + display(std::string(name.text) + " =") +
                                   ", got " + describe(v));
        }
        if (sink != nullptr)
            sink->settings.push_back(
                RawSetting{std::string(name.text), std::move(value), name.pos, v.pos});
        prev_option_ = name.text;
        prev_value_file_ = cur_.file;
        prev_value_line_ = cur_.line;
        return true;
    }

    bool list(bool keep, const Token& name, const Token& open, std::string& value) {
        in_list_ = true;
        bool first = true;
        for (;;) {
            const Token t = next();
            switch (t.kind) {
            case Tok::word:
            case Tok::string:
                if (keep) {
                    if (!first) value += ' ';
                    value += token_value(t);
                }
                first = false;
                break;
            case Tok::rparen: in_list_ = false; return true;
            case Tok::error: in_list_ = false; return false;
            case Tok::end:
                in_list_ = false;
                return fail(t.pos, "missing \")\" for the list of " + display(name.text) +
                                       " opened at line " + std::to_string(open.pos.line));
            default:
                in_list_ = false;
                return fail(t.pos,
                            "unexpected " + describe(t) + " in the list of " + display(name.text));
            }
        }
    }

    // `<<TAG` has been read as a word; the value is the following lines up to
    // one that is exactly TAG, joined with "\n" (CR before LF dropped).
    bool heredoc(bool keep, const Token& open, std::string& value) {
        const std::string_view tag = open.text.substr(2);
        const std::string_view text = cur_.text;
        if (tag.empty()) return fail(open.pos, "a heredoc needs a tag after \"<<\"");
        // Only blanks and a comment may follow the tag on its line.
        while (cur_.at < text.size() && text[cur_.at] != '\n') {
            const auto c = static_cast<unsigned char>(text[cur_.at]);
            if (c == ' ' || c == '\t' || c == '\r') {
                ++cur_.at;
            } else if (c == '#') {
                while (cur_.at < text.size() && text[cur_.at] != '\n') {
                    const auto b = static_cast<unsigned char>(text[cur_.at]);
                    if (is_control(b)) {
                        control_error(b);
                        return false;
                    }
                    ++cur_.at;
                }
            } else if (is_control(c)) {
                control_error(c);
                return false;
            } else {
                return fail(here(), "expected the end of the line after " + display(open.text));
            }
        }
        if (cur_.at >= text.size())
            return fail(open.pos, "unterminated heredoc: no line " + display(tag) +
                                      " before the end of the file");
        newline_at(cur_.at + 1);
        bool first = true;
        for (;;) {
            if (cur_.at >= text.size())
                return fail(open.pos, "unterminated heredoc: no line " + display(tag) +
                                          " before the end of the file");
            const std::size_t begin = cur_.at;
            const void* found = std::memchr(text.data() + begin, '\n', text.size() - begin);
            const std::size_t end =
                found != nullptr
                    ? static_cast<std::size_t>(static_cast<const char*>(found) - text.data())
                    : text.size();
            std::string_view line = text.substr(begin, end - begin);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            const std::size_t nul = line.find('\0');
            if (nul != std::string_view::npos) {
                cur_.at = begin + nul;
                return fail(here(), "NUL byte inside a heredoc");
            }
            if (line == tag) {
                cur_.at = end; // the newline is left to the scanner
                return true;
            }
            if (keep) {
                if (!first) value += '\n';
                value.append(line);
            }
            first = false;
            if (found == nullptr)
                cur_.at = end;
            else
                newline_at(end + 1);
        }
    }

    bool stanza(RawStanza* sink, const Token& name) {
        if (depth_ >= max_nesting)
            return fail(name.pos,
                        "stanzas nested more than " + std::to_string(max_nesting) + " deep");
        Frame frame;
        frame.keyword = name.text;
        frame.pos = name.pos;
        if (!args_.empty()) {
            frame.arg = args_.front().text;
            frame.has_arg = true;
        }

        RawStanza* child_sink = nullptr;
        const std::optional<StanzaKind> named = find_stanza_kind(name.text);
        if (sink != nullptr && named) {
            const StanzaKind kind = *named;
            if (args_.size() != 1)
                return fail(name.pos,
                            std::string(keyword(kind)) + " stanza needs exactly one name");
            const Token& arg = args_.front();
            RawStanza child;
            child.kind = kind;
            child.pos = name.pos;
            // Regex domains keep their backslashes: see the header comment.
            const bool regex = kind == StanzaKind::domain && arg.text.size() >= 2 &&
                               arg.text.front() == '/' && arg.text.back() == '/';
            child.name = regex ? std::string(arg.text) : token_value(arg);
            sink->children.push_back(std::move(child));
            // Only this child's own vectors grow while its block is parsed,
            // so the reference stays valid.
            child_sink = &sink->children.back();
        } else if (sink != nullptr) {
            std::string what = "stanza " + display(lowercase(name.text));
            for (const Token& arg : args_) {
                what += ' ';
                what += display(arg.text);
            }
            doc_.ignored.push_back(IgnoredItem{std::move(what), name.pos});
        }

        frames_.push_back(frame);
        ++depth_;
        const bool ok = parse_block(child_sink, &frame);
        --depth_;
        frames_.pop_back();
        return ok;
    }

    bool include(RawStanza* sink, const Token& path_token) {
        if (sink == nullptr) return true; // skipped stanzas are not followed
        const std::string path = token_value(path_token);
        const SourcePos at = path_token.pos;
        if (path.empty()) return fail(at, "empty include file name");
        if (include_depth_ >= max_include_depth)
            return fail(at,
                        "includes nested more than " + std::to_string(max_include_depth) + " deep");
        if (doc_.files.size() >= max_files)
            return fail(at, "more than " + std::to_string(max_files) + " include files");

        fs::path full(path);
        if (full.is_relative()) {
            const fs::path base = fs::path(file_name(cur_.file)).parent_path();
            if (!base.empty()) full = base / full;
        }
        const std::string full_name = full.string();

        std::error_code ec;
        const std::string canonical = fs::canonical(full, ec).string();
        if (ec) return fail(at, "cannot read include file " + display(path) + ": " + ec.message());
        for (const std::string& open : active_)
            if (open == canonical)
                return fail(at, "include loop: " + display(full_name) + " is already being read");

        std::string text;
        const int err = read_file(full_name, text);
        if (err == EFBIG)
            return fail(at, "include file " + display(path) + " is larger than 64 MiB");
        if (err != 0)
            return fail(at, "cannot read include file " + display(path) + ": " + error_text(err));
        total_size_ += text.size();
        if (total_size_ > max_total_size)
            return fail(at, "configuration files (with includes) are larger than 256 MiB together");

        doc_.files.push_back(full_name);
        const auto index = static_cast<uint32_t>(doc_.files.size() - 1);
        const Cursor saved = cur_;
        active_.push_back(canonical);
        ++include_depth_;
        start(text, index);
        const bool ok = parse_block(sink, nullptr);
        --include_depth_;
        active_.pop_back();
        cur_ = saved;
        prev_value_line_ = 0; // prev_option_ pointed into the included text
        return ok;
    }
};

// After an exception the parser's state may point into freed include text,
// so the report names only the file.
void report_exception(Diagnostics& diagnostics, const Document& document, uint32_t file_index,
                      const char* message) noexcept {
    try {
        const SourcePos pos{file_index, 0, 0};
        diagnostics.error(document.file_name(pos), pos, std::string(), message);
    } catch (...) {
        // Out of memory even for the message: the false return must do.
    }
}

} // namespace

bool parse_momentum_text(std::string_view text, uint32_t file_index, Document& document,
                         Diagnostics& diagnostics) {
    try {
        document.syntax = Syntax::momentum;
        document.root.kind = StanzaKind::global;
        const std::size_t errors_before = diagnostics.error_count();
        Parser parser(document, diagnostics);
        return parser.run(text, file_index) && diagnostics.error_count() == errors_before;
    } catch (const std::bad_alloc&) {
        report_exception(diagnostics, document, file_index,
                         "out of memory while reading the configuration");
    } catch (...) {
        report_exception(diagnostics, document, file_index,
                         "internal error while reading the configuration");
    }
    return false;
}

bool read_momentum_file(const std::string& path, Document& document, Diagnostics& diagnostics) {
    try {
        document.syntax = Syntax::momentum;
        document.files = {path};
        document.root.kind = StanzaKind::global;
        std::string text;
        const int err = read_file(path, text);
        if (err == EFBIG) {
            diagnostics.error(path, SourcePos{}, std::string(), "file is larger than 64 MiB");
            return false;
        }
        if (err != 0) {
            diagnostics.error(path, SourcePos{}, std::string(),
                              "cannot read file: " + error_text(err));
            return false;
        }
        return parse_momentum_text(text, 0, document, diagnostics);
    } catch (const std::bad_alloc&) {
        report_exception(diagnostics, document, 0, "out of memory while reading the configuration");
    } catch (...) {
        report_exception(diagnostics, document, 0,
                         "internal error while reading the configuration");
    }
    return false;
}

} // namespace mtatls::config
