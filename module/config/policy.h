// policy.h - the validated, immutable configuration and the scope
// resolution that turns (binding_group, binding, domain) into one value per
// directive, each knowing where it came from.
//
// Resolution order, most specific first (docs/configuration.md):
//   1. binding_group -> binding -> domain
//   2. binding -> domain            (a binding outside any group)
//   3. binding_group -> domain
//   4. binding
//   5. binding_group
//   6. global domain
//   7. global
//   8. built-in default
// Within one container an exact domain stanza beats a regex one, and regex
// stanzas are tried in declaration order.  The choice is made per directive:
// a matching stanza that does not set a directive passes it down the list.
#pragma once

#include "config/directive.h"
#include "config/document.h"

#include <array>
#include <deque>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mtatls::config {

struct Stanza;

// One directive's value as validated.
struct Setting {
    Directive id{};
    int8_t choice = -1; // index into info(id).choices for choice/boolean kinds
    std::string value;  // canonical text; absolute path for files
    SourcePos pos;
    const Stanza* owner = nullptr; // nullptr for built-in defaults
};

struct Stanza {
    StanzaKind kind = StanzaKind::global;
    std::string name; // as written (domains: lower case, no trailing dot)
    SourcePos pos;
    const Stanza* parent = nullptr;
    uint32_t set_mask = 0; // bit per Directive set here
    std::vector<Setting> settings;

    [[nodiscard]] const Setting* find(Directive directive) const;
    // e.g. `binding_group "g" / binding "b" / domain "example.com"`, or `global`.
    [[nodiscard]] std::string scope_path() const;
};

enum class Rank : uint8_t {
    group_binding_domain = 1,
    binding_domain = 2,
    group_domain = 3,
    binding = 4,
    group = 5,
    global_domain = 6,
    global = 7,
    builtin = 8,
};

class DomainTable {
  public:
    // `domain` must already be normalized (see normalize_domain).
    [[nodiscard]] const Stanza* match(const std::string& domain) const;
    // Like match(), but skips the search (nullptr) when no stanza here sets
    // any directive in `wanted`: the answer could not change anything.
    [[nodiscard]] const Stanza* match_if_useful(const std::string& domain, uint32_t wanted) const {
        return (set_mask_ & wanted) != 0 ? match(domain) : nullptr;
    }
    void add_exact(std::string name, const Stanza* stanza) {
        set_mask_ |= stanza->set_mask;
        exact_.emplace(std::move(name), stanza);
    }
    void add_regex(std::regex pattern, const Stanza* stanza, std::string_view source) {
        set_mask_ |= stanza->set_mask;
        regexes_.push_back({std::move(pattern), stanza, literal_form(source)});
    }
    [[nodiscard]] bool contains_exact(const std::string& name) const {
        return exact_.contains(name);
    }
    [[nodiscard]] const std::unordered_map<std::string, const Stanza*>& exact() const {
        return exact_;
    }
    struct Regex {
        std::regex pattern;
        const Stanza* stanza;
        // Most domain regexes are a literal suffix (`\.example\.com$`) or a
        // literal name (`^mx\.example\.com$`); those are matched as strings,
        // 100 times faster than std::regex and with the same result.
        struct Literal {
            bool usable = false;
            bool whole = false; // anchored at both ends
            std::string text;
        } literal;
    };
    [[nodiscard]] const std::vector<Regex>& regexes() const { return regexes_; }

  private:
    static Regex::Literal literal_form(std::string_view source);
    uint32_t set_mask_ = 0; // union of the stanzas' set_mask
    std::unordered_map<std::string, const Stanza*> exact_;
    std::vector<Regex> regexes_;
};

// Hashes std::string and std::string_view alike, so lookups by a caller's
// string_view need no temporary string.
struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
        return std::hash<std::string_view>{}(name);
    }
};
template <typename T> using NameMap = std::unordered_map<std::string, T, NameHash, std::equal_to<>>;

struct Container {
    const Stanza* stanza = nullptr;
    DomainTable domains;
};

struct GroupEntry {
    Container container;
};

struct BindingEntry {
    Container container;
    const GroupEntry* group = nullptr; // the group it is declared in, if any
};

// Lower case, one trailing dot removed: domains compare that way.
std::string normalize_domain(std::string_view domain);

struct PolicyKey {
    std::string_view binding_group; // empty: none
    std::string_view binding;       // empty: the binding named "default"
    std::string_view domain;
};

// The effective value of every directive for one PolicyKey.  Holds
// pointers into its Config: keep the Config alive (shared_ptr) while used.
class Effective {
  public:
    [[nodiscard]] const Setting& operator[](Directive d) const {
        return *settings_[static_cast<std::size_t>(d)];
    }
    [[nodiscard]] Rank rank(Directive d) const { return ranks_[static_cast<std::size_t>(d)]; }
    [[nodiscard]] TlsMode tls() const {
        return static_cast<TlsMode>((*this)[Directive::tls].choice);
    }
    [[nodiscard]] VerifyMode verify() const {
        return static_cast<VerifyMode>((*this)[Directive::tls_verify].choice);
    }
    [[nodiscard]] bool flag(Directive d) const { return (*this)[d].choice == 1; }
    // Set when the caller named a group other than the one the binding is
    // declared in (or one for a binding declared outside any group); the
    // declaration wins.
    [[nodiscard]] const std::string& note() const { return note_; }

  private:
    friend class Config;
    std::array<const Setting*, directive_count> settings_{};
    std::array<Rank, directive_count> ranks_{};
    std::string note_;
};

// The built-in default Setting of a directive.
const Setting& default_setting(Directive directive);

class Config {
  public:
    [[nodiscard]] Effective resolve(const PolicyKey& key) const;
    // Resolution with the domain stanzas already chosen (nullptr: none
    // matched); used to check every combination at load time.
    [[nodiscard]] Effective resolve_chosen(const BindingEntry* binding, const GroupEntry* group,
                                           const Stanza* binding_domain, const Stanza* group_domain,
                                           const Stanza* global_domain) const;

    [[nodiscard]] const std::vector<std::string>& files() const { return files_; }
    [[nodiscard]] const std::string& file_name(const SourcePos& pos) const {
        static const std::string none;
        return pos.file < files_.size() ? files_[pos.file] : none;
    }
    [[nodiscard]] const Stanza& global() const { return *global_.stanza; }
    [[nodiscard]] const std::deque<Stanza>& stanzas() const { return stanzas_; }
    [[nodiscard]] const NameMap<BindingEntry>& bindings() const { return bindings_; }
    [[nodiscard]] const NameMap<GroupEntry>& groups() const { return groups_; }
    [[nodiscard]] const Container& global_container() const { return global_; }

  private:
    friend class Compiler;
    std::vector<std::string> files_;
    std::deque<Stanza> stanzas_; // deque: pointers to elements stay valid
    Container global_;
    NameMap<GroupEntry> groups_;
    NameMap<BindingEntry> bindings_;
};

} // namespace mtatls::config
