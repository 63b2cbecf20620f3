// compile.cpp - validation of every directive and stanza, the lookup index,
// and the checks that need the resolved policy (certificate/key pairs,
// legacy protocols only without verification).
#include "config/compile.h"

#include "attempt/macros.h"
#include "text/log_safe.h"
#include "text/log_template.h"

#include "config/openssl_checks.h"
#include "config/protocols.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <set>
#include <tuple>
#include <unordered_set>

namespace mtatls::config {

class Compiler {
  public:
    Compiler(const Document& document, Diagnostics& diagnostics, const CompileOptions& options)
        : doc_(document), diags_(diagnostics), options_(options),
          config_(std::make_shared<Config>()) {}

    std::shared_ptr<const Config> run();

  private:
    struct Context {
        Container* container = nullptr; // where domain stanzas go
        GroupEntry* group = nullptr;
    };

    void add_stanza(const RawStanza& raw, Stanza* parent, Context context);
    void add_domain(const RawStanza& raw, Stanza& stanza, Container& container);
    void add_settings(const RawStanza& raw, Stanza& stanza);
    bool convert_value(const RawSetting& raw, const DirectiveInfo& directive, Setting& out,
                       const std::string& scope);
    std::string check_file_once(Directive directive, const std::string& path);
    void report_ignored();
    void cross_check();
    void cross_check_context(const BindingEntry* binding, const GroupEntry* group);
    void check_effective(const Effective& effective, const std::string& context);

    const std::string& file(const SourcePos& pos) const { return doc_.file_name(pos); }

    const Document& doc_;
    Diagnostics& diags_;
    const CompileOptions& options_;
    std::shared_ptr<Config> config_;
    std::unordered_map<std::string, std::string> checked_; // "kind\0value" -> error
    std::unordered_map<std::string, bool> certificate_has_key_;
    std::unordered_map<std::string, SourcePos> binding_positions_;
    std::unordered_map<std::string, SourcePos> group_positions_;
    std::set<std::pair<const Setting*, const Setting*>> reported_pairs_;
    std::vector<IgnoredItem> ignored_options_;
    bool legacy_protocols_used_ = false;
    // A certificate or key that failed its own check is reported once; the
    // pair checks would only repeat it in other words.
    bool broken_identity_file_ = false;
    bool obsolete_warned_ = false;
};

namespace {

constexpr std::size_t max_regex_length = 1024;
constexpr int max_regex_nesting = 16;

std::string regex_limit_problem(std::string_view pattern) {
    if (pattern.size() > max_regex_length)
        return "is longer than " + std::to_string(max_regex_length) + " characters";
    int depth = 0;
    std::size_t digits = 0;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        // libstdc++ reads a repetition count or back-reference into a long
        // without an overflow check (undefined behaviour past 18 digits).
        digits = pattern[i] >= '0' && pattern[i] <= '9' ? digits + 1 : 0;
        if (digits > 9) return "has a number longer than 9 digits";
        if (pattern[i] == '\\') {
            ++i; // an escaped character is never a group
        } else if (pattern[i] == '(' && ++depth > max_regex_nesting) {
            return "nests groups more than " + std::to_string(max_regex_nesting) + " deep";
        } else if (pattern[i] == ')' && depth > 0) {
            --depth;
        }
    }
    return {};
}

// Why `text` is not acceptable configuration text, or "".  Names and values
// must be printable UTF-8: YAML (and so `convert`) cannot carry other bytes
// faithfully, and a bidi control could make a file read differently from
// what it means.  Values may hold the TAB and LF of a heredoc.
std::string text_problem(std::string_view text, bool is_value) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte >= 0x20 && byte < 0x7f) continue;
        if (is_value && (byte == '\t' || byte == '\n')) continue;
        if (byte >= 0x80) {
            if (const std::size_t length = text::safe_utf8_length(text, i); length > 0) {
                i += length - 1;
                continue;
            }
        }
        char hex[5];
        std::snprintf(hex, sizeof hex, "%02x", byte);
        return std::string(byte >= 0x80 ? "is not valid UTF-8 or holds a control or bidi code "
                                        : "holds the control byte ") +
               "(0x" + hex + " at offset " + std::to_string(i) +
               "); configuration text must be printable UTF-8";
    }
    return {};
}

// The macro or host field nearest to a misspelt %{name}.
std::string suggest_log_name(std::string_view name) {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> all = attempt::all_macro_names();
        const auto& fields = attempt::host_field_names();
        all.insert(all.end(), fields.begin(), fields.end());
        return all;
    }();
    static const std::vector<const char*> pointers = [] {
        std::vector<const char*> out;
        for (const std::string& n : names)
            out.push_back(n.c_str());
        return out;
    }();
    return closest_match(name, pointers);
}

// Why `text` is not a `resolver` value, or "": one or more ADDR[@PORT]
// (IPv4 or IPv6, no names: the resolver cannot look up its own address),
// separated by spaces or commas, port 1-65535.  The host parses the same
// form (shim/host/resolver_settings.cpp) and hands each entry to
// libunbound's ub_ctx_set_fwd as it is.
std::string dns_servers_problem(std::string_view text) {
    std::size_t count = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ' || text[i] == ',' || text[i] == '\t') {
            ++i;
            continue;
        }
        const std::size_t end = std::min(text.find_first_of(" ,\t", i), text.size());
        const std::string entry(text.substr(i, end - i));
        i = end;
        ++count;
        const std::size_t at = entry.find('@');
        const std::string address = entry.substr(0, at);
        in_addr v4{};
        in6_addr v6{};
        if (inet_pton(AF_INET, address.c_str(), &v4) != 1 &&
            inet_pton(AF_INET6, address.c_str(), &v6) != 1)
            return "\"" + entry +
                   "\" is not ADDR or ADDR@PORT with an IPv4 or IPv6 address (no names, no "
                   "brackets: 192.0.2.53, 192.0.2.53@5353, 2001:db8::53@53)";
        if (at == std::string::npos) continue;
        const std::string port = entry.substr(at + 1);
        unsigned value = 0;
        const auto [stop, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc() || stop != port.data() + port.size() || value == 0 ||
            value > 65535)
            return "invalid port in \"" + entry + "\" (want 1 to 65535)";
    }
    if (count == 0)
        return "no DNS server given (write one or more ADDR[@PORT], or leave resolver out to use "
               "/etc/resolv.conf)";
    return {};
}

std::string quoted_choices(const DirectiveInfo& d) {
    std::string text;
    for (std::size_t i = 0; i < d.choices.size(); ++i) {
        if (i > 0) text += i + 1 == d.choices.size() ? " or " : ", ";
        text += d.choices[i];
    }
    return text;
}

bool allowed_inside(StanzaKind parent, StanzaKind child) {
    switch (child) {
    case StanzaKind::global: return false;
    case StanzaKind::binding_group: return parent == StanzaKind::global;
    case StanzaKind::binding:
        return parent == StanzaKind::global || parent == StanzaKind::binding_group;
    case StanzaKind::domain: return parent != StanzaKind::domain;
    }
    return false;
}

uint8_t scope_bit(StanzaKind kind) {
    switch (kind) {
    case StanzaKind::global: return scope_global;
    case StanzaKind::binding_group: return scope_binding_group;
    case StanzaKind::binding: return scope_binding;
    case StanzaKind::domain: return scope_domain;
    }
    return 0;
}

std::string scope_list(uint8_t bits) {
    std::string text;
    for (auto kind :
         {StanzaKind::global, StanzaKind::binding_group, StanzaKind::binding, StanzaKind::domain}) {
        if ((bits & scope_bit(kind)) == 0) continue;
        if (!text.empty()) text += ", ";
        text += keyword(kind);
    }
    return text;
}

bool is_regex_name(std::string_view name) {
    return name.size() >= 2 && name.front() == '/' && name.back() == '/';
}

std::string where(const Config& config, const Setting& s) {
    if (s.owner == nullptr) return "built-in default";
    return s.owner->scope_path() + " (" + config.file_name(s.pos) + ":" +
           std::to_string(s.pos.line) + ")";
}

} // namespace

std::shared_ptr<const Config> Compiler::run() {
    config_->files_ = doc_.files;
    Stanza& root = config_->stanzas_.emplace_back();
    root.kind = StanzaKind::global;
    root.pos = doc_.root.pos;
    config_->global_.stanza = &root;
    add_settings(doc_.root, root);
    Context context{&config_->global_, nullptr};
    for (const RawStanza& child : doc_.root.children)
        add_stanza(child, &root, context);
    report_ignored();
    cross_check();
    if (diags_.has_errors()) return nullptr;
    return config_;
}

void Compiler::add_stanza(const RawStanza& raw, Stanza* parent, Context context) {
    const std::string parent_scope = parent->scope_path();
    if (!allowed_inside(parent->kind, raw.kind)) {
        diags_.error(file(raw.pos), raw.pos, parent_scope,
                     std::string("a ") + keyword(raw.kind) + " stanza cannot stand inside a " +
                         keyword(parent->kind) +
                         " stanza (domain may be inside binding or binding_group, binding inside "
                         "binding_group)");
        return;
    }
    if (raw.name.empty()) {
        diags_.error(file(raw.pos), raw.pos, parent_scope,
                     std::string(keyword(raw.kind)) + " stanza needs a name");
        return;
    }
    if (const std::string why = text_problem(raw.name, false); !why.empty()) {
        diags_.error(file(raw.pos), raw.pos, parent_scope,
                     std::string(keyword(raw.kind)) + " name " + why);
        return;
    }
    Stanza& stanza = config_->stanzas_.emplace_back();
    stanza.kind = raw.kind;
    stanza.name = raw.kind == StanzaKind::domain && !is_regex_name(raw.name)
                      ? normalize_domain(raw.name)
                      : raw.name;
    stanza.pos = raw.pos;
    stanza.parent = parent;
    add_settings(raw, stanza);

    switch (raw.kind) {
    case StanzaKind::global: break;
    case StanzaKind::domain: add_domain(raw, stanza, *context.container); return;
    case StanzaKind::binding_group: {
        auto [it, fresh] = config_->groups_.try_emplace(raw.name);
        if (!fresh) {
            const SourcePos first = group_positions_[raw.name];
            diags_.error(file(raw.pos), raw.pos, parent_scope,
                         "binding_group \"" + raw.name + "\" is already declared at " +
                             file(first) + ":" + std::to_string(first.line));
            return;
        }
        group_positions_[raw.name] = raw.pos;
        it->second.container.stanza = &stanza;
        context = Context{&it->second.container, &it->second};
        break;
    }
    case StanzaKind::binding: {
        auto [it, fresh] = config_->bindings_.try_emplace(raw.name);
        if (!fresh) {
            const SourcePos first = binding_positions_[raw.name];
            diags_.error(file(raw.pos), raw.pos, parent_scope,
                         "binding \"" + raw.name + "\" is already declared at " + file(first) +
                             ":" + std::to_string(first.line) + " (binding names are unique)");
            return;
        }
        binding_positions_[raw.name] = raw.pos;
        it->second.container.stanza = &stanza;
        it->second.group = context.group;
        context = Context{&it->second.container, context.group};
        break;
    }
    }
    for (const RawStanza& child : raw.children)
        add_stanza(child, &stanza, context);
}

void Compiler::add_domain(const RawStanza& raw, Stanza& stanza, Container& container) {
    if (!raw.children.empty())
        diags_.error(file(raw.children.front().pos), raw.children.front().pos, stanza.scope_path(),
                     "a domain stanza cannot contain other stanzas");
    if (is_regex_name(raw.name)) {
        const std::string pattern = raw.name.substr(1, raw.name.size() - 2);
        // Domains are matched in lower case; without upper-case letters in
        // the pattern, icase changes nothing but costs 2-3x per search.
        // std::regex compiles and matches by recursion: a deeply nested or
        // huge pattern would overflow the MTA's stack.  Real domain
        // patterns are short and shallow.
        if (const std::string why = regex_limit_problem(pattern); !why.empty()) {
            diags_.error(file(raw.pos), raw.pos, stanza.scope_path(),
                         "regular expression " + raw.name.substr(0, 40) +
                             (raw.name.size() > 40 ? "..." : "") + " " + why);
            return;
        }
        auto flags = std::regex::ECMAScript;
        if (std::any_of(pattern.begin(), pattern.end(),
                        [](char c) { return c >= 'A' && c <= 'Z'; }))
            flags |= std::regex::icase;
        try {
            container.domains.add_regex(std::regex(pattern, flags), &stanza, pattern);
        } catch (const std::regex_error& e) {
            diags_.error(file(raw.pos), raw.pos, stanza.scope_path(),
                         "invalid regular expression " + raw.name + ": " + e.what());
        }
        return;
    }
    for (char c : stanza.name) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
            diags_.error(file(raw.pos), raw.pos, stanza.scope_path(),
                         "domain name contains a space or control character");
            return;
        }
    }
    if (stanza.name.empty()) {
        diags_.error(file(raw.pos), raw.pos, stanza.scope_path(), "empty domain name");
        return;
    }
    // One trailing dot (the root) is dropped above; any other empty label
    // would be written back by `convert` as a different domain.
    if (stanza.name.front() == '.' || stanza.name.back() == '.' ||
        stanza.name.find("..") != std::string::npos) {
        diags_.error(file(raw.pos), raw.pos, stanza.scope_path(),
                     "domain name has an empty label (a leading dot, \"..\" or two trailing "
                     "dots); write the domain itself, or a /regex/ for its subdomains");
        return;
    }
    if (container.domains.contains_exact(stanza.name)) {
        const Stanza* first = container.domains.match(stanza.name);
        diags_.error(file(raw.pos), raw.pos, stanza.scope_path(),
                     "domain \"" + stanza.name + "\" is already declared in this scope at " +
                         file(first->pos) + ":" + std::to_string(first->pos.line));
        return;
    }
    container.domains.add_exact(stanza.name, &stanza);
}

void Compiler::add_settings(const RawStanza& raw, Stanza& stanza) {
    const std::string scope = stanza.scope_path();
    for (const RawSetting& setting : raw.settings) {
        const auto id = find_directive(setting.name);
        if (!id) {
            if (doc_.syntax == Syntax::momentum && !looks_like_tls_directive(setting.name)) {
                ignored_options_.push_back({"option \"" + setting.name + "\"", setting.pos});
                continue;
            }
            std::string message = "unknown directive \"" + setting.name + "\"";
            if (const std::string hint = suggest_directive(setting.name); !hint.empty())
                message += " (did you mean \"" + hint + "\"?)";
            diags_.error(file(setting.pos), setting.pos, scope, message);
            continue;
        }
        const DirectiveInfo& directive = info(*id);
        if ((directive.scopes & scope_bit(stanza.kind)) == 0) {
            diags_.error(file(setting.pos), setting.pos, scope,
                         std::string(directive.name) + " cannot be set in a " +
                             keyword(stanza.kind) +
                             " stanza (allowed: " + scope_list(directive.scopes) + ")");
            continue;
        }
        if (const Setting* earlier = stanza.find(*id)) {
            diags_.error(file(setting.pos), setting.pos, scope,
                         std::string(directive.name) +
                             " is set twice in this stanza (first at line " +
                             std::to_string(earlier->pos.line) + ")");
            continue;
        }
        Setting value;
        value.id = *id;
        value.pos = setting.pos;
        value.owner = &stanza;
        if (!convert_value(setting, directive, value, scope)) {
            if (*id == Directive::tls_certificate || *id == Directive::tls_key)
                broken_identity_file_ = true;
            continue;
        }
        if (directive.inbound_only)
            diags_.warning(file(setting.pos), setting.pos, scope,
                           std::string(directive.name) +
                               " only concerns inbound TLS; it has no effect on outbound delivery");
        if (directive.obsolete && !obsolete_warned_) {
            obsolete_warned_ = true;
            diags_.warning(file(setting.pos), setting.pos, scope,
                           std::string(directive.name) +
                               " is obsolete and ignored: OpenSSL 3 does its own locking");
        }
        stanza.set_mask |= 1u << static_cast<unsigned>(*id);
        stanza.settings.push_back(std::move(value));
    }
}

bool Compiler::convert_value(const RawSetting& raw, const DirectiveInfo& directive, Setting& out,
                             const std::string& scope) {
    const std::string& text = raw.value;
    auto fail = [&](const std::string& message) {
        diags_.error(file(raw.value_pos), raw.value_pos, scope,
                     std::string(directive.name) + ": " + message);
        return false;
    };
    if (const std::string why = text_problem(text, true); !why.empty())
        return fail("the value " + why);
    switch (directive.kind) {
    case ValueKind::choice: {
        for (std::size_t i = 0; i < directive.choices.size(); ++i) {
            if (iequals(text, directive.choices[i])) {
                out.choice = static_cast<int8_t>(i);
                out.value = directive.choices[i];
            }
        }
        if (out.choice < 0) {
            std::string message =
                "invalid value \"" + text + "\" (expected " + quoted_choices(directive) + ")";
            if (const std::string hint = closest_match(text, directive.choices); !hint.empty())
                message += "; did you mean \"" + hint + "\"?";
            return fail(message);
        }
        if (directive.id == Directive::tls_engine && out.choice != 0)
            return fail("this build of mtatls has only the openssl engine");
        return true;
    }
    case ValueKind::boolean: {
        const std::string lower = lowercase(text);
        if (lower == "true" || lower == "yes" || lower == "on" || lower == "1")
            out.choice = 1;
        else if (lower == "false" || lower == "no" || lower == "off" || lower == "0")
            out.choice = 0;
        else
            return fail("invalid value \"" + text + "\" (expected true or false)");
        out.value = directive.choices[static_cast<std::size_t>(out.choice)];
        return true;
    }
    case ValueKind::file: {
        if (text.empty()) return fail("empty path");
        if (directive.none_allowed && iequals(text, "none")) {
            out.value = "none";
            return true;
        }
        std::filesystem::path path(text);
        if (path.is_relative()) path = std::filesystem::path(file(raw.pos)).parent_path() / path;
        out.value = std::filesystem::absolute(path).lexically_normal().string();
        if (!options_.check_files) return true;
        const std::string error = check_file_once(directive.id, out.value);
        return error.empty() ? true : fail(error);
    }
    case ValueKind::cipher_list: {
        if (text.empty()) return fail("empty cipher list");
        out.value = text;
        const std::string key = "c" + text;
        auto [it, fresh] = checked_.try_emplace(key);
        if (fresh) it->second = check_cipher_list(text);
        return it->second.empty() ? true : fail(it->second);
    }
    case ValueKind::tls13_suites: {
        out.value = text;
        const std::string key = "s" + text;
        auto [it, fresh] = checked_.try_emplace(key);
        if (fresh) it->second = check_tls13_suites(text);
        return it->second.empty() ? true : fail(it->second);
    }
    case ValueKind::log_template: {
        const text::ParsedTemplate parsed = text::parse_template(text);
        if (!parsed.error.empty())
            return fail(parsed.error + " at offset " + std::to_string(parsed.error_offset));
        for (const text::TemplatePiece& piece : parsed.pieces) {
            if (!piece.is_reference || attempt::is_known_macro(piece.text) ||
                attempt::is_host_field(piece.text))
                continue;
            std::string message = "unknown name %{" + piece.text + "}";
            if (const std::string hint = suggest_log_name(piece.text); !hint.empty())
                message += "; did you mean %{" + hint + "}?";
            return fail(message);
        }
        out.value = text;
        return true;
    }
    case ValueKind::dns_servers: {
        if (const std::string why = dns_servers_problem(text); !why.empty()) return fail(why);
        out.value = text;
        return true;
    }
    case ValueKind::protocols: {
        const ProtocolSet set = parse_protocols(text);
        if (!set.error.empty()) return fail(set.error + " in \"" + text + "\"");
        if (const std::string gap = protocol_gap_problem(set.bits); !gap.empty())
            return fail("\"" + text + "\" " + gap);
        for (const std::string& warning : set.warnings)
            diags_.warning(file(raw.value_pos), raw.value_pos, scope,
                           std::string(directive.name) + ": " + warning);
        if (set.legacy()) legacy_protocols_used_ = true;
        out.value = text;
        return true;
    }
    }
    return fail("internal error: unknown value kind");
}

std::string Compiler::check_file_once(Directive directive, const std::string& path) {
    const std::string key = std::to_string(static_cast<int>(directive)) + '\0' + path;
    auto [it, fresh] = checked_.try_emplace(key);
    if (!fresh) return it->second;
    switch (directive) {
    case Directive::tls_ca: it->second = check_ca_file(path); break;
    case Directive::tls_key: it->second = check_key_file(path); break;
    case Directive::tls_dhparams_file: it->second = check_dhparams_file(path); break;
    case Directive::tls_certificate: {
        const CertificateFacts facts = check_certificate_file(path);
        it->second = facts.error;
        certificate_has_key_[path] = facts.contains_key;
        break;
    }
    default: break;
    }
    return it->second;
}

void Compiler::report_ignored() {
    // A skipped stanza whose keyword is a typo of ours ("bindng") would
    // silently drop its policy: that is an error, not a note.
    for (const IgnoredItem& item : doc_.ignored) {
        constexpr std::string_view prefix = "stanza \"";
        if (!item.what.starts_with(prefix)) continue;
        const std::size_t end = item.what.find('"', prefix.size());
        const std::string word = item.what.substr(prefix.size(), end - prefix.size());
        if (const std::string hint = suggest_stanza_keyword(word); !hint.empty())
            diags_.error(file(item.pos), item.pos, "",
                         "unknown stanza \"" + word + "\" (did you mean \"" + hint + "\"?)");
    }
    std::vector<IgnoredItem> all = doc_.ignored;
    all.insert(all.end(), ignored_options_.begin(), ignored_options_.end());
    std::stable_sort(all.begin(), all.end(), [](const IgnoredItem& a, const IgnoredItem& b) {
        return std::tie(a.pos.file, a.pos.line, a.pos.column) <
               std::tie(b.pos.file, b.pos.line, b.pos.column);
    });
    for (const IgnoredItem& item : all)
        diags_.note(file(item.pos), item.pos, "", "ignored " + item.what + ": not outbound TLS");
}

// Checks that depend on how scopes combine.  A certificate from a binding
// and a key from a domain stanza, or TLS 1.0 enabled in one stanza and
// verification in another, are only visible once resolved, so every
// combination that can occur is resolved here, once, at load time.
void Compiler::cross_check() {
    if (!options_.check_files && !legacy_protocols_used_) return;
    cross_check_context(nullptr, nullptr);
    for (const auto& [name, group] : config_->groups_)
        cross_check_context(nullptr, &group);
    for (const auto& [name, binding] : config_->bindings_)
        cross_check_context(&binding, binding.group);
}

void Compiler::cross_check_context(const BindingEntry* binding, const GroupEntry* group) {
    uint32_t relevant_mask = 0;
    if (options_.check_files)
        relevant_mask |= (1u << static_cast<unsigned>(Directive::tls_certificate)) |
                         (1u << static_cast<unsigned>(Directive::tls_key));
    if (legacy_protocols_used_)
        relevant_mask |= (1u << static_cast<unsigned>(Directive::tls_protocols)) |
                         (1u << static_cast<unsigned>(Directive::tls_verify));

    const DomainTable* tables[3] = {binding ? &binding->container.domains : nullptr,
                                    group ? &group->container.domains : nullptr,
                                    &config_->global_.domains};
    auto pick = [&](std::size_t index, const Stanza* chosen, std::size_t table) -> const Stanza* {
        if (index == table) return chosen;
        if (tables[table] == nullptr || chosen->name.front() == '/') return nullptr;
        return tables[table]->match(chosen->name);
    };
    std::string context = binding
                              ? "binding \"" + binding->container.stanza->name + "\""
                              : (group ? "binding_group \"" + group->container.stanza->name + "\""
                                       : "messages without a binding");
    check_effective(config_->resolve_chosen(binding, group, nullptr, nullptr, nullptr),
                    context + ", domains without a stanza");
    for (std::size_t index = 0; index < 3; ++index) {
        if (tables[index] == nullptr) continue;
        auto visit = [&](const Stanza* stanza) {
            if ((stanza->set_mask & relevant_mask) == 0) return;
            check_effective(config_->resolve_chosen(binding, group, pick(index, stanza, 0),
                                                    pick(index, stanza, 1), pick(index, stanza, 2)),
                            context + ", domain \"" + stanza->name + "\"");
        };
        for (const auto& [name, stanza] : tables[index]->exact())
            visit(stanza);
        for (const auto& regex : tables[index]->regexes())
            visit(regex.stanza);
    }
}

void Compiler::check_effective(const Effective& effective, const std::string& context) {
    const Config& config = *config_;
    const Setting& certificate = effective[Directive::tls_certificate];
    const Setting& key = effective[Directive::tls_key];
    if (options_.check_files && !broken_identity_file_ && certificate.value != "none" &&
        reported_pairs_.emplace(&certificate, &key).second) {
        // broken_identity_file_ above: a file that failed its own check has
        // been reported already and is not paired again.
        const bool key_inline = key.value == "none";
        const std::string error =
            check_key_matches(certificate.value, key_inline ? std::string() : key.value);
        if (!error.empty()) {
            const Setting& at = key_inline ? certificate : key;
            diags_.error(config.file_name(at.pos), at.pos, at.owner ? at.owner->scope_path() : "",
                         error + " (for " + context + "; certificate from " +
                             where(config, certificate) + ", key from " + where(config, key) + ")");
        }
    }
    const Setting& protocols = effective[Directive::tls_protocols];
    const Setting& verify = effective[Directive::tls_verify];
    // The outcome depends only on this (protocols, verify) pair: decide it
    // once per pair, not once per combination that shares it.
    if (legacy_protocols_used_ && reported_pairs_.emplace(&protocols, &verify).second &&
        effective.verify() != VerifyMode::no && parse_protocols(protocols.value).legacy()) {
        diags_.error(
            config.file_name(protocols.pos), protocols.pos,
            protocols.owner ? protocols.owner->scope_path() : "",
            "tls_protocols enables TLSv1.0/TLSv1.1, which is allowed only where tls_verify "
            "= no; for " +
                context + ": tls_verify = " + verify.value + " (from " + where(config, verify) +
                ")");
    }
}

std::shared_ptr<const Config> compile(const Document& document, Diagnostics& diagnostics,
                                      const CompileOptions& options) {
    try {
        return Compiler(document, diagnostics, options).run();
    } catch (const std::exception& e) {
        diagnostics.error(document.files.empty() ? std::string() : document.files.front(), {}, "",
                          std::string("internal error while checking the configuration: ") +
                              e.what());
        return nullptr;
    }
}

} // namespace mtatls::config
