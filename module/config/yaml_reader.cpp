// yaml_reader.cpp - YAML to Document, with positions from yaml-cpp marks.
#include "config/yaml_reader.h"

#include "config/directive.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <fstream>
#include <sstream>

namespace mtatls::config {
namespace {

constexpr std::size_t max_file_size = 64u << 20;
// Aliases let a small file describe a huge tree; stop long before that hurts.
constexpr std::size_t max_nodes = 4'000'000;

class YamlReader {
  public:
    YamlReader(Document& document, Diagnostics& diagnostics)
        : doc_(document), diags_(diagnostics) {}

    bool read(std::string_view text) {
        try {
            const YAML::Node root = YAML::Load(std::string(text));
            if (root.IsNull()) return true; // an empty file is a valid, empty configuration
            if (!root.IsMap()) {
                error(root.Mark(), "",
                      "the configuration must be a mapping of directives and stanzas");
                return false;
            }
            read_stanza_body(root, doc_.root);
        } catch (const YAML::Exception& e) {
            error(e.mark, "", "YAML syntax error: " + e.msg);
        } catch (const std::exception& e) {
            error(YAML::Mark::null_mark(), "", std::string("cannot read YAML: ") + e.what());
        }
        return !failed_;
    }

  private:
    static SourcePos pos(const YAML::Mark& mark) {
        if (mark.is_null()) return {};
        return {0, static_cast<uint32_t>(mark.line + 1), static_cast<uint32_t>(mark.column + 1)};
    }

    void error(const YAML::Mark& mark, const std::string& scope, const std::string& message) {
        failed_ = true;
        diags_.error(doc_.files.empty() ? std::string() : doc_.files.front(), pos(mark), scope,
                     message);
    }

    static std::string scope_of(const RawStanza& stanza, const std::string& parent) {
        if (stanza.kind == StanzaKind::global) return "";
        std::string part = std::string(keyword(stanza.kind)) + " \"" + stanza.name + "\"";
        return parent.empty() ? part : parent + " / " + part;
    }

    void read_stanza_body(const YAML::Node& map, RawStanza& stanza,
                          const std::string& parent = "") {
        const std::string scope = scope_of(stanza, parent);
        // yaml-cpp iterators hand out temporaries: copy the (cheap, shared)
        // Node handles instead of binding references to them.
        for (const auto& entry : map) {
            const YAML::Node key_node = entry.first;
            const YAML::Node value = entry.second;
            if (++nodes_ > max_nodes) {
                error(key_node.Mark(), scope, "configuration too large (aliases expand too far)");
                return;
            }
            if (!key_node.IsScalar()) {
                error(key_node.Mark(), scope, "keys must be plain names");
                continue;
            }
            const std::string& key = key_node.Scalar();
            if (const auto kind = find_stanza_kind(key)) {
                read_stanza_list(*kind, value, stanza, scope);
                continue;
            }
            if (!find_directive(key)) {
                std::string message = "unknown key \"" + key + "\"";
                std::string hint = suggest_directive(key);
                if (hint.empty()) hint = suggest_stanza_keyword(key);
                if (!hint.empty()) message += " (did you mean \"" + hint + "\"?)";
                error(key_node.Mark(), scope, message);
                continue;
            }
            if (value.IsNull() || !value.IsScalar()) {
                error(value.IsNull() ? key_node.Mark() : value.Mark(), scope,
                      key + ": expects a single value (a string)");
                continue;
            }
            stanza.settings.push_back(
                RawSetting{key, value.Scalar(), pos(key_node.Mark()), pos(value.Mark())});
        }
    }

    void read_stanza_list(StanzaKind kind, const YAML::Node& value, RawStanza& parent,
                          const std::string& scope) {
        if (value.IsNull()) return;
        if (!value.IsMap()) {
            error(value.Mark(), scope,
                  std::string(keyword(kind)) + ": expects a mapping of names to stanzas");
            return;
        }
        for (const auto& entry : value) {
            const YAML::Node name = entry.first;
            const YAML::Node body = entry.second;
            if (++nodes_ > max_nodes) {
                error(name.Mark(), scope, "configuration too large (aliases expand too far)");
                return;
            }
            if (!name.IsScalar()) {
                error(name.Mark(), scope, std::string(keyword(kind)) + " names must be strings");
                continue;
            }
            RawStanza child;
            child.kind = kind;
            child.name = name.Scalar();
            child.pos = pos(name.Mark());
            if (body.IsMap()) {
                read_stanza_body(body, child, scope);
            } else if (!body.IsNull()) {
                error(body.Mark(), scope_of(child, scope),
                      std::string(keyword(kind)) + " \"" + child.name +
                          "\": expects a mapping of directives");
                continue;
            }
            parent.children.push_back(std::move(child));
        }
    }

    Document& doc_;
    Diagnostics& diags_;
    std::size_t nodes_ = 0;
    bool failed_ = false;
};

} // namespace

bool parse_yaml_text(std::string_view text, Document& document, Diagnostics& diagnostics) {
    document.syntax = Syntax::yaml;
    document.root.kind = StanzaKind::global;
    document.root.pos = {0, 1, 1};
    return YamlReader(document, diagnostics).read(text);
}

bool read_yaml_file(const std::string& path, Document& document, Diagnostics& diagnostics) {
    document.files = {path};
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        diagnostics.error(path, {}, "", "cannot open the configuration file");
        return false;
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    if (text.size() > max_file_size) {
        diagnostics.error(path, {}, "", "configuration file larger than 64 MiB");
        return false;
    }
    return parse_yaml_text(text, document, diagnostics);
}

} // namespace mtatls::config
