// mtatls_config.cpp - `mtatls-config`: check, explain, convert and describe
// an mtatls configuration, through the module itself so that what it says
// is exactly what the module will do.
//
// `check --postfix` goes on, once the file is valid, with what Postfix
// would make of it through mtatls-policyd: that check is the daemon's own
// (`mtatls-policyd --check`), run here so that the mapping exists once.
#include "command_support.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

// mtatls-policyd: $MTATLS_POLICYD, else next to this program in the build
// tree (build/shim/postfix/), else the installed one (sbin beside bin).
std::string policyd_path() {
    if (const char* env = std::getenv("MTATLS_POLICYD"); env != nullptr && *env != '\0') return env;
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error) {
        for (const auto& candidate :
             {self.parent_path() / "postfix" / "mtatls-policyd",
              self.parent_path().parent_path() / "sbin" / "mtatls-policyd"}) {
            if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        }
    }
    for (const char* fallback : {"/usr/sbin/mtatls-policyd", "/usr/local/sbin/mtatls-policyd"})
        if (::access(fallback, X_OK) == 0) return fallback;
    return {};
}

// Hands over to `mtatls-policyd --check` for the Postfix part; returns
// only if that cannot be started.
int run_postfix_check(const host::Module& module, const Options& options) {
    const std::string policyd = policyd_path();
    if (policyd.empty()) {
        std::fprintf(stderr,
                     "%s: check --postfix needs mtatls-policyd, which was not found (install it "
                     "or set MTATLS_POLICYD)\n",
                     program);
        return exit_unavailable;
    }
    std::vector<std::string> args = {policyd,      "--check",  "--quiet-load", "--config",
                                     options.file, "--module", module.path()};
    for (const std::string& name : options.names)
        args.insert(args.end(), {"--name", name});
    for (const std::string& key : options.next_hops)
        args.insert(args.end(), {"--next-hop", key});
    std::vector<char*> argv;
    for (std::string& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::fflush(stdout);
    std::fflush(stderr);
    ::execv(policyd.c_str(), argv.data());
    std::fprintf(stderr, "%s: cannot run %s: %s\n", program, policyd.c_str(), std::strerror(errno));
    return exit_unavailable;
}

int run_check(const host::Module& module, const Options& options) {
    const int code = load_or_report(module, options.file, true);
    if (code != exit_ok) return code;
    std::printf("%s: configuration valid\n", options.file.c_str());
    if (options.postfix) return run_postfix_check(module, options);
    return code;
}

int run_eval(const host::Module& module, const Options& options) {
    if (const int code = load_or_report(module, options.file, false); code != exit_ok) return code;
    struct Line {
        std::string name, value, origin;
    };
    std::vector<Line> lines;
    const mtatls_policy_key key{sizeof(mtatls_policy_key), options.binding_group.c_str(),
                                options.binding.c_str(), options.domain.c_str()};
    DiagnosticPrinter printer;
    const int status = module.config_explain(
        key,
        [&lines](const mtatls_explain_entry& e) {
            std::string origin = std::strcmp(e.scope, "default") == 0
                                     ? std::string("default")
                                     : std::string("from ") + e.scope + " (" +
                                           (e.file != nullptr ? e.file : "?") + ":" +
                                           std::to_string(e.line) + ")";
            lines.push_back({e.name, e.value, origin});
        },
        std::ref(printer));
    if (status != MTATLS_STATUS_OK) {
        std::fprintf(stderr, "%s: eval: %s\n", program, host::status_text(status));
        return exit_software;
    }
    if (!options.option.empty()) {
        for (const Line& line : lines) {
            if (strcasecmp(line.name.c_str(), options.option.c_str()) == 0) {
                std::printf("%s\n", line.value.c_str());
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
    for (const Line& line : lines) {
        const std::size_t length = line.name.size() + 3 + line.value.size();
        if (length <= max_width) width = std::max(width, length);
    }
    for (const Line& line : lines) {
        const std::string assignment = line.name + " = " + line.value;
        std::printf("%-*s  # %s\n", static_cast<int>(width), assignment.c_str(),
                    line.origin.c_str());
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
