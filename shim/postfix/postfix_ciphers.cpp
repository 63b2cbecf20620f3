// postfix_ciphers.cpp - tls_ciphers to ciphers= and exclude= (see header).
#include "postfix_ciphers.h"

#include <algorithm>
#include <cctype>

namespace mtatls::postfix {
namespace {

// What OpenSSL 3's DEFAULT leaves out of HIGH:MEDIUM besides the null
// ciphers (COMPLEMENTOFDEFAULT).
constexpr std::string_view default_exclusions[] = {"aNULL", "CAMELLIA", "ARIA", "AESCCM", "DSS"};

std::vector<std::string_view> split(std::string_view list) {
    // mtatls splits at ':', blanks and commas, as OpenSSL does.
    std::vector<std::string_view> items;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= list.size(); ++i) {
        if (i == list.size() || list[i] == ':' || list[i] == ' ' || list[i] == ',' ||
            list[i] == '\t') {
            if (i > start) items.push_back(list.substr(start, i - start));
            start = i + 1;
        }
    }
    return items;
}

// An exclusion Postfix can carry: a cipher name or an OpenSSL alias, and
// combinations with '+'.  Nothing that the policy table would split
// (blank, comma) or that means something else to OpenSSL ('@', '!').
bool valid_exclusion(std::string_view item) {
    return !item.empty() && std::all_of(item.begin(), item.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
               c == '+' || c == '.' || c == '=';
    });
}

void add_exclusion(std::vector<std::string>& exclude, std::string_view item) {
    if (std::find(exclude.begin(), exclude.end(), item) == exclude.end())
        exclude.emplace_back(item);
}

CipherMapping inexpressible(std::string why, bool dhe_enabled) {
    CipherMapping mapping;
    mapping.exact = false;
    mapping.why = std::move(why);
    if (!dhe_enabled) add_exclusion(mapping.exclude, "kDHE");
    return mapping;
}

} // namespace

std::string_view postfix_grade_cipherlist(std::string_view grade) {
    if (grade == "high") return "aNULL:-aNULL:HIGH:@STRENGTH";
    if (grade == "medium") return "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH";
    return {};
}

CipherMapping map_ciphers(std::string_view tls_ciphers, bool dhe_enabled) {
    std::vector<std::string_view> items = split(tls_ciphers);
    std::erase(items, std::string_view("@STRENGTH"));
    // The base: the leading elements that add ciphers.
    std::size_t base_end = 0;
    while (base_end < items.size() && items[base_end].front() != '!' &&
           items[base_end].front() != '-' && items[base_end].front() != '+')
        ++base_end;
    std::vector<std::string_view> base(items.begin(), items.begin() + static_cast<long>(base_end));
    std::sort(base.begin(), base.end());

    CipherMapping mapping;
    if (base == std::vector<std::string_view>{"DEFAULT"}) {
        mapping.grade = "medium";
        for (const std::string_view item : default_exclusions)
            add_exclusion(mapping.exclude, item);
    } else if (base == std::vector<std::string_view>{"HIGH"}) {
        mapping.grade = "high";
    } else if (base == std::vector<std::string_view>{"HIGH", "MEDIUM"}) {
        mapping.grade = "medium";
    } else {
        return inexpressible(base.empty() ? "it does not start with a set of ciphers"
                                          : "Postfix has no cipher grade for its base \"" +
                                                std::string(items.front()) + "\"",
                             dhe_enabled);
    }
    for (std::size_t i = base_end; i < items.size(); ++i) {
        const std::string_view item = items[i];
        if (item.starts_with("@SECLEVEL"))
            return inexpressible("Postfix cannot set OpenSSL's security level (" +
                                     std::string(item) + ") per destination",
                                 dhe_enabled);
        if (item.front() != '!' && item.front() != '-')
            return inexpressible("\"" + std::string(item) +
                                     "\" adds or reorders ciphers after the base, which "
                                     "exclude= cannot say",
                                 dhe_enabled);
        // "-X" removes X for now, "!X" for good; with nothing added after
        // them both simply drop X, which is what exclude= does.
        const std::string_view name = item.substr(1);
        if (!valid_exclusion(name))
            return inexpressible("\"" + std::string(item) +
                                     "\" is not a cipher name exclude= can carry",
                                 dhe_enabled);
        add_exclusion(mapping.exclude, name);
    }
    if (!dhe_enabled) add_exclusion(mapping.exclude, "kDHE");
    return mapping;
}

} // namespace mtatls::postfix
