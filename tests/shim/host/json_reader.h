// json_reader.h - a small, strict JSON reader (RFC 8259) for the log-form
// tests: parses one JSON text into a tree so that a test can check what a
// JSON consumer would get, not just the bytes the writer produced.
//
// Strict where the writer could go wrong: no raw control byte (< 0x20) in
// a string, only the escapes JSON defines, \u with four hex digits
// (surrogate pairs combined), numbers in JSON's grammar, nothing after the
// value but whitespace, no duplicate object keys.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mtatls::test {

struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string number_text; // as written
    std::string string;      // decoded, UTF-8
    std::vector<Json> array;
    std::vector<std::pair<std::string, Json>> object; // in order

    // Defined below, where Json is complete: std::pair needs that, and
    // clang with libstdc++ would otherwise instantiate them too early.
    Json();
    Json(const Json&);
    Json(Json&&) noexcept;
    Json& operator=(const Json&);
    Json& operator=(Json&&) noexcept;
    ~Json();

    [[nodiscard]] const Json* get(std::string_view key) const {
        for (const auto& [k, v] : object)
            if (k == key) return &v;
        return nullptr;
    }
};
inline Json::Json() = default;
inline Json::Json(const Json&) = default;
inline Json::Json(Json&&) noexcept = default;
inline Json& Json::operator=(const Json&) = default;
inline Json& Json::operator=(Json&&) noexcept = default;
inline Json::~Json() = default;

class JsonReader {
  public:
    // The value of `text`, or nullopt with `error` set.
    static std::optional<Json> parse(std::string_view text, std::string& error) {
        JsonReader reader(text);
        Json value;
        if (!reader.value(value, 0) || (reader.skip_space(), reader.pos_ != text.size())) {
            error = (reader.error_.empty() ? std::string("trailing data") : reader.error_) +
                    " at offset " + std::to_string(reader.pos_);
            return std::nullopt;
        }
        return value;
    }

  private:
    explicit JsonReader(std::string_view text) : text_(text) {}

    bool fail(const char* why) {
        if (error_.empty()) error_ = why;
        return false;
    }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }
    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return fail("bad literal");
        pos_ += word.size();
        return true;
    }
    bool value(Json& out, int depth) {
        if (depth > 64) return fail("too deep");
        skip_space();
        if (pos_ >= text_.size()) return fail("unexpected end");
        const char c = text_[pos_];
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            out.kind = Json::Kind::string;
            return string(out.string);
        }
        if (c == 't' || c == 'f') {
            out.kind = Json::Kind::boolean;
            out.boolean = c == 't';
            return literal(c == 't' ? "true" : "false");
        }
        if (c == 'n') {
            out.kind = Json::Kind::null;
            return literal("null");
        }
        return number(out);
    }
    bool digits() {
        const std::size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9')
            ++pos_;
        return pos_ > start;
    }
    bool number(Json& out) {
        const std::size_t start = pos_;
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '0')
            ++pos_;
        else if (!digits())
            return fail("bad number");
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (!digits()) return fail("bad fraction");
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (!digits()) return fail("bad exponent");
        }
        out.kind = Json::Kind::number;
        out.number_text = std::string(text_.substr(start, pos_ - start));
        out.number = std::strtod(out.number_text.c_str(), nullptr);
        return true;
    }
    bool hex4(unsigned& code) {
        if (pos_ + 4 > text_.size()) return fail("short \\u escape");
        code = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9')
                code |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f')
                code |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
                code |= static_cast<unsigned>(h - 'A' + 10);
            else
                return fail("bad hex digit");
        }
        return true;
    }
    static void put_utf8(std::string& out, unsigned code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
        } else if (code < 0x10000) {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
        }
    }
    bool string(std::string& out) {
        ++pos_; // the opening quote
        for (;;) {
            if (pos_ >= text_.size()) return fail("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return fail("raw control byte in string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) return fail("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned code = 0;
                if (!hex4(code)) return false;
                if (code >= 0xd800 && code <= 0xdbff) {
                    unsigned low = 0;
                    if (text_.substr(pos_, 2) != "\\u") return fail("lone high surrogate");
                    pos_ += 2;
                    if (!hex4(low) || low < 0xdc00 || low > 0xdfff)
                        return fail("bad low surrogate");
                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                } else if (code >= 0xdc00 && code <= 0xdfff) {
                    return fail("lone low surrogate");
                }
                put_utf8(out, code);
                break;
            }
            default: return fail("unknown escape");
            }
        }
    }
    bool array(Json& out, int depth) {
        out.kind = Json::Kind::array;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            Json item;
            if (!value(item, depth + 1)) return false;
            out.array.push_back(std::move(item));
            skip_space();
            if (pos_ >= text_.size()) return fail("unterminated array");
            const char c = text_[pos_++];
            if (c == ']') return true;
            if (c != ',') return fail("expected ',' or ']'");
        }
    }
    bool object(Json& out, int depth) {
        out.kind = Json::Kind::object;
        ++pos_;
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_space();
            if (pos_ >= text_.size() || text_[pos_] != '"') return fail("expected a key");
            std::string key;
            if (!string(key)) return false;
            if (out.get(key) != nullptr) return fail("duplicate key");
            skip_space();
            if (pos_ >= text_.size() || text_[pos_++] != ':') return fail("expected ':'");
            Json item;
            if (!value(item, depth + 1)) return false;
            out.object.emplace_back(std::move(key), std::move(item));
            skip_space();
            if (pos_ >= text_.size()) return fail("unterminated object");
            const char c = text_[pos_++];
            if (c == '}') return true;
            if (c != ',') return fail("expected ',' or '}'");
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::string error_;
};

} // namespace mtatls::test
