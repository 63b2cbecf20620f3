// mtatls_config.cpp - `mtatls-config`: check, explain, convert and describe
// an mtatls configuration, through the module itself so that what it says
// is exactly what the module will do.
//
// `check --postfix` goes on, once the file is valid, with what Postfix
// would make of it through mtatls-policyd: the daemon's own check
// (`mtatls-policyd --check`, shim/postfix), linked in, so that the
// mapping exists once.
#include "command_support.h"
#include "explain.h"
#include "policy_scan.h"

#include <strings.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace mtatls;
using namespace mtatls::command;

const char* const program = "mtatls-config";

int usage(FILE* out, int code) {
    std::fprintf(
        out, "usage: mtatls-config [--module PATH] check FILE\n"
             "       mtatls-config [--module PATH] check --postfix FILE [--name NAME ...]\n"
             "                     [--next-hop KEY ...]\n"
             "       mtatls-config [--module PATH] eval FILE [--binding-group G] [--binding B]\n"
             "                     --domain D [--option NAME]\n"
             "       mtatls-config [--module PATH] convert FILE\n"
             "       mtatls-config [--module PATH] schema\n"
             "       mtatls-config --version | --help\n"
             "FILE ending in .yaml or .yml is YAML; any other is Momentum syntax.\n");
    return code;
}

struct Options {
    std::string module;
    std::string verb;
    std::string file;
    std::string binding_group;
    std::string binding;
    std::string domain;
    std::string option;
    bool have_domain = false;
    bool postfix = false;               // check --postfix
    std::vector<std::string> names;     // --name, with --postfix
    std::vector<std::string> next_hops; // --next-hop, with --postfix
};

// Prints diagnostics as they come; counts errors.
struct DiagnosticPrinter {
    int errors = 0;
    bool notes_to_stdout = false;
    void operator()(const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_ERROR) ++errors;
        const std::string line = format_diagnostic(d);
        std::fprintf(d.severity == MTATLS_SEVERITY_NOTE && notes_to_stdout ? stdout : stderr,
                     "%s\n", line.c_str());
    }
};

int load_or_report(const host::Module& module, const std::string& file, bool notes) {
    DiagnosticPrinter printer;
    printer.notes_to_stdout = notes;
    host::DiagnosticHandler handler = [&printer](const mtatls_diagnostic& d) {
        if (d.severity == MTATLS_SEVERITY_NOTE && !printer.notes_to_stdout) return;
        printer(d);
    };
    const int status = module.config_load(file, handler);
    if (status == MTATLS_STATUS_CONFIG) {
        std::fprintf(stderr, "%s: %s: %d error%s; configuration not valid\n", program, file.c_str(),
                     printer.errors, printer.errors == 1 ? "" : "s");
        return exit_config;
    }
    if (status != MTATLS_STATUS_OK) {
        std::fprintf(stderr, "%s: %s: %s\n", program, file.c_str(), host::status_text(status));
        return exit_software;
    }
    return exit_ok;
}

// What Postfix would make of the file through mtatls-policyd: the
// daemon's own check (shim/postfix/policy_scan.h), on the configuration
// just loaded.
int run_postfix_check(const host::Module& module, const Options& options) {
    postfix::ScanOptions scan;
    scan.names = options.names;
    scan.next_hops = options.next_hops;
    // "FILE: configuration valid" first, also where standard output is a
    // file or a pipe (buffered) and the findings go to standard error.
    std::fflush(stdout);
    return postfix::check_configuration(module, options.file, scan, program, stdout, stderr)
               ? exit_ok
               : exit_software;
}

int run_check(const host::Module& module, const Options& options) {
    const int code = load_or_report(module, options.file, true);
    if (code != exit_ok) return code;
    std::printf("%s: configuration valid\n", options.file.c_str());
    if (options.postfix) return run_postfix_check(module, options);
    return code;
}

// "default", or "from SCOPE (FILE:LINE)": where an effective value comes from.
std::string origin(const host::ExplainedSetting& setting) {
    if (setting.is_default()) return "default";
    return "from " + setting.scope + " (" + (setting.file.empty() ? "?" : setting.file) + ":" +
           std::to_string(setting.line) + ")";
}

int run_eval(const host::Module& module, const Options& options) {
    if (const int code = load_or_report(module, options.file, false); code != exit_ok) return code;
    DiagnosticPrinter printer;
    const host::Explanation explained = host::explain(
        module, {options.binding_group, options.binding, options.domain}, {}, std::ref(printer));
    if (explained.status != MTATLS_STATUS_OK) {
        std::fprintf(stderr, "%s: eval: %s\n", program, host::status_text(explained.status));
        return exit_software;
    }
    const std::vector<host::ExplainedSetting>& settings = explained.settings;
    if (!options.option.empty()) {
        for (const host::ExplainedSetting& setting : settings) {
            if (strcasecmp(setting.name.c_str(), options.option.c_str()) == 0) {
                std::printf("%s\n", setting.value.c_str());
                return exit_ok;
            }
        }
        std::fprintf(stderr, "%s: unknown directive \"%s\"\n", program, options.option.c_str());
        return exit_usage;
    }
    std::size_t width = 0;
    // Align the comments, but let one long value (the TLS 1.3 suite list)
    // overflow rather than push every comment far right.
    constexpr std::size_t max_width = 40;
    for (const host::ExplainedSetting& setting : settings) {
        const std::size_t length = setting.name.size() + 3 + setting.value.size();
        if (length <= max_width) width = std::max(width, length);
    }
    for (const host::ExplainedSetting& setting : settings) {
        const std::string assignment = setting.name + " = " + setting.value;
        std::printf("%-*s  # %s\n", static_cast<int>(width), assignment.c_str(),
                    origin(setting).c_str());
    }
    return exit_ok;
}

int run_convert(const host::Module& module, const Options& options) {
    DiagnosticPrinter printer;
    host::DiagnosticHandler handler = [&printer](const mtatls_diagnostic& d) {
        if (d.severity != MTATLS_SEVERITY_NOTE) printer(d);
    };
    std::string yaml;
    const int status = module.config_export(options.file, yaml, handler);
    if (status == MTATLS_STATUS_CONFIG) return exit_config;
    if (status != MTATLS_STATUS_OK) {
        std::fprintf(stderr, "%s: convert: %s\n", program, host::status_text(status));
        return exit_software;
    }
    std::fwrite(yaml.data(), 1, yaml.size(), stdout);
    return exit_ok;
}

int run_schema(const host::Module& module) {
    std::string json;
    const int status = module.config_schema(json);
    if (status != MTATLS_STATUS_OK) {
        std::fprintf(stderr, "%s: schema: %s\n", program, host::status_text(status));
        return exit_software;
    }
    std::fwrite(json.data(), 1, json.size(), stdout);
    return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
    Options options;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&](std::string& into) {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s: %s needs a value\n", program, arg.c_str());
                return false;
            }
            into = argv[++i];
            return true;
        };
        if (arg == "--help" || arg == "-h") return usage(stdout, exit_ok);
        if (arg == "--version") {
            std::printf("mtatls-config %s\n", MTATLS_VERSION);
            return exit_ok;
        }
        bool ok = true;
        if (arg == "--module")
            ok = value(options.module);
        else if (arg == "--binding-group")
            ok = value(options.binding_group);
        else if (arg == "--binding")
            ok = value(options.binding);
        else if (arg == "--domain")
            ok = options.have_domain = value(options.domain);
        else if (arg == "--option")
            ok = value(options.option);
        else if (arg == "--postfix")
            options.postfix = true;
        else if (arg == "--name")
            ok = value(options.names.emplace_back());
        else if (arg == "--next-hop")
            ok = value(options.next_hops.emplace_back());
        else if (arg.starts_with("--")) {
            std::fprintf(stderr, "%s: unknown option %s\n", program, arg.c_str());
            return usage(stderr, exit_usage);
        } else
            positional.push_back(arg);
        if (!ok) return exit_usage;
    }
    if (positional.empty()) return usage(stderr, exit_usage);
    options.verb = positional[0];
    const bool needs_file = options.verb != "schema";
    if (positional.size() != (needs_file ? 2u : 1u)) return usage(stderr, exit_usage);
    if (needs_file) options.file = positional[1];
    if (options.verb == "eval" && !options.have_domain) {
        std::fprintf(stderr, "%s: eval needs --domain\n", program);
        return exit_usage;
    }
    if (options.verb != "eval" && (options.have_domain || !options.binding.empty() ||
                                   !options.binding_group.empty() || !options.option.empty())) {
        std::fprintf(stderr, "%s: --domain, --binding, --binding-group and --option go with eval\n",
                     program);
        return exit_usage;
    }
    if ((!options.names.empty() || !options.next_hops.empty()) && !options.postfix) {
        std::fprintf(stderr, "%s: --name and --next-hop go with check --postfix\n", program);
        return exit_usage;
    }
    if (options.postfix && options.verb != "check") {
        std::fprintf(stderr, "%s: --postfix goes with check\n", program);
        return exit_usage;
    }
    if (options.verb != "check" && options.verb != "eval" && options.verb != "convert" &&
        options.verb != "schema") {
        std::fprintf(stderr, "%s: unknown command \"%s\"\n", program, options.verb.c_str());
        return usage(stderr, exit_usage);
    }

    const auto module = load_module(program, module_path(options.module));
    if (!module) return exit_unavailable;
    if (options.verb == "check") return run_check(*module, options);
    if (options.verb == "eval") return run_eval(*module, options);
    if (options.verb == "convert") return run_convert(*module, options);
    return run_schema(*module);
}
