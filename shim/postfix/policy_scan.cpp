// policy_scan.cpp - checking a whole configuration for Postfix (see
// policy_scan.h).
#include "policy_scan.h"

#include "effective_policy.h"
#include "finding_text.h"
#include "policy_key.h"
#include "policy_map.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <set>

namespace mtatls::postfix {
namespace {

// A next-hop no exact stanza names: what every other destination gets.
constexpr const char* other_domain = "mtatls-postfix-check.invalid";

struct Container {
    std::vector<std::string> domains; // exact names, as exported
};

struct Structure {
    Container global;
    std::map<std::string, Container> groups;
    // binding -> (its domains, the group it is declared in or "")
    std::map<std::string, std::pair<Container, std::string>> bindings;
    std::vector<std::string> regexes; // "/.../" names, with their container
};

bool is_regex(const std::string& name) {
    return name.size() >= 2 && name.front() == '/' && name.back() == '/';
}

void read_domains(const YAML::Node& body, Container& into, const std::string& where,
                  std::vector<std::string>& regexes) {
    const YAML::Node domains = body["domain"];
    if (!domains || !domains.IsMap()) return;
    for (const auto& entry : domains) {
        const std::string name = entry.first.as<std::string>();
        if (is_regex(name))
            regexes.push_back(where + "domain \"" + name + "\"");
        else
            into.domains.push_back(name);
    }
}

void read_bindings(const YAML::Node& body, const std::string& group, const std::string& where,
                   Structure& structure) {
    const YAML::Node bindings = body["binding"];
    if (!bindings || !bindings.IsMap()) return;
    for (const auto& entry : bindings) {
        const std::string name = entry.first.as<std::string>();
        auto& [container, declared_group] = structure.bindings[name];
        declared_group = group;
        read_domains(entry.second, container, where + "binding \"" + name + "\" / ",
                     structure.regexes);
    }
}

Structure read_structure(const std::string& yaml) {
    Structure structure;
    const YAML::Node root = YAML::Load(yaml);
    if (!root || !root.IsMap()) return structure;
    read_domains(root, structure.global, "", structure.regexes);
    if (const YAML::Node groups = root["binding_group"]; groups && groups.IsMap()) {
        for (const auto& entry : groups) {
            const std::string name = entry.first.as<std::string>();
            const std::string where = "binding_group \"" + name + "\" / ";
            read_domains(entry.second, structure.groups[name], where, structure.regexes);
            read_bindings(entry.second, name, where, structure);
        }
    }
    read_bindings(root, "", "", structure);
    return structure;
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
    if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

} // namespace

ScanResult scan_configuration(const host::Module& module, const std::string& file,
                              const ScanOptions& options, std::FILE* out, std::FILE* err) {
    ScanResult result;
    std::string yaml;
    std::string export_error;
    const int status = module.config_export(file, yaml, [&](const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_ERROR && export_error.empty() && d.message != nullptr)
            export_error = d.message;
    });
    if (status != MTATLS_STATUS_OK) {
        result.error = std::string("cannot list the stanzas (CONFIG_EXPORT: ") +
                       host::status_text(status) + (export_error.empty() ? "" : ", ") +
                       export_error + ")";
        return result;
    }
    Structure structure;
    try {
        structure = read_structure(yaml);
    } catch (const YAML::Exception& e) {
        result.error = std::string("cannot read the module's export of the file: ") + e.what();
        return result;
    }

    // Socketmap names: no binding first, then each declared binding.
    std::vector<std::string> names = {"default"};
    for (const auto& [name, _] : structure.bindings)
        add_unique(names, name);
    for (const std::string& name : options.names)
        add_unique(names, name);

    std::set<std::string> reported;
    for (const std::string& name : names) {
        std::vector<std::string> keys = {"*"};
        for (const std::string& d : structure.global.domains)
            add_unique(keys, d);
        if (const auto found = structure.bindings.find(name); found != structure.bindings.end()) {
            for (const std::string& d : found->second.first.domains)
                add_unique(keys, d);
            if (const auto group = structure.groups.find(found->second.second);
                group != structure.groups.end())
                for (const std::string& d : group->second.domains)
                    add_unique(keys, d);
        }
        for (const std::string& key : options.next_hops)
            add_unique(keys, key);

        for (const std::string& key : keys) {
            std::string domain = other_domain;
            if (key != "*") {
                const ParsedKey parsed = parse_policy_key(key);
                if (parsed.kind != KeyKind::next_hop) {
                    std::fprintf(err, "%s: warning: next-hop \"%s\" cannot be checked: %s\n",
                                 file.c_str(), key.c_str(),
                                 parsed.kind == KeyKind::parent_probe
                                     ? "Postfix's parent-domain probes are answered NOTFOUND"
                                     : parsed.error.c_str());
                    ++result.warnings;
                    continue;
                }
                domain = parsed.next_hop.name;
            }
            EffectivePolicy effective;
            std::string error;
            if (read_effective_policy(module, name, domain, effective, error) != MTATLS_STATUS_OK) {
                result.error = error;
                return result;
            }
            const PostfixPolicy policy = map_policy(effective);
            ++result.policies;
            if (policy.defer) ++result.deferred;
            if (options.print_policies)
                std::fprintf(out, "postfix: name=%s next-hop=%s: %s\n", name.c_str(), key.c_str(),
                             policy.defer ? ("TEMP " + policy.defer_reason).c_str()
                                          : ("OK " + policy.text()).c_str());
            for (const Finding& finding : policy.findings) {
                if (!reported.insert(finding_identity(finding)).second) continue;
                (finding.severity == Severity::warning ? result.warnings : result.notes) += 1;
                std::fprintf(err, "%s (socketmap name \"%s\", next-hop %s)\n",
                             finding_text(finding, file).c_str(), name.c_str(),
                             key == "*" ? "without a domain stanza" : ("\"" + key + "\"").c_str());
            }
        }
    }
    for (const std::string& regex : structure.regexes) {
        ++result.notes;
        std::fprintf(err,
                     "%s: note: [%s] postfix: a regex domain stanza applies to next-hops that "
                     "cannot be listed; check some with --next-hop NAME\n",
                     file.c_str(), regex.c_str());
    }
    result.ok = true;
    return result;
}

bool check_configuration(const host::Module& module, const std::string& file,
                         const ScanOptions& options, const char* program, std::FILE* out,
                         std::FILE* err) {
    const ScanResult result = scan_configuration(module, file, options, out, err);
    if (!result.ok) {
        std::fprintf(err, "%s: %s: %s\n", program, file.c_str(), result.error.c_str());
        return false;
    }
    std::fprintf(out, "%s: Postfix mapping: %zu policies, %zu warning%s, %zu note%s%s\n",
                 file.c_str(), result.policies, result.warnings, result.warnings == 1 ? "" : "s",
                 result.notes, result.notes == 1 ? "" : "s",
                 result.deferred > 0 ? (", " + std::to_string(result.deferred) +
                                        " answered TEMP (Postfix defers that mail)")
                                           .c_str()
                                     : "");
    return true;
}

} // namespace mtatls::postfix
