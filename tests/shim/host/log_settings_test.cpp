// log_settings_test.cpp - the tls_log_* directives as the host reads them:
// value by value, through CONFIG_EXPLAIN of the real module, and the
// macro names the host asks for (MACRO_LIST).
#include "log_settings.h"

#include "real_module.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace mtatls;
using namespace mtatls::host;

TEST_CASE("apply_log_setting table") {
    struct Case {
        const char* name;
        const char* value;
        bool ok;
        LogForm form;
        bool summary;
    };
    const Case cases[] = {
        {"tls_log_format", "keyvalue", true, LogForm::keyvalue, true},
        {"tls_log_format", "json", true, LogForm::json, true},
        {"tls_log_format", "JSON", true, LogForm::json, true},
        {"tls_log_format", "custom", true, LogForm::custom, true},
        {"tls_log_format", "logfmt", false, LogForm::keyvalue, true},
        {"tls_log_format", "", false, LogForm::keyvalue, true},
        {"tls_log_postfix_summary", "true", true, LogForm::keyvalue, true},
        {"tls_log_postfix_summary", "false", true, LogForm::keyvalue, false},
        {"tls_log_postfix_summary", "no", true, LogForm::keyvalue, false},
        {"tls_log_postfix_summary", "Off", true, LogForm::keyvalue, false},
        {"tls_log_postfix_summary", "0", true, LogForm::keyvalue, false},
        {"tls_log_postfix_summary", "yes", true, LogForm::keyvalue, true},
        {"tls_log_postfix_summary", "maybe", false, LogForm::keyvalue, true},
        {"tls", "required", true, LogForm::keyvalue, true}, // not ours: ignored
        {"tls_log_unknown", "x", true, LogForm::keyvalue, true},
    };
    for (const Case& c : cases) {
        LogSettings settings;
        const std::string problem = apply_log_setting(settings, c.name, c.value);
        CHECK_MESSAGE(problem.empty() == c.ok, c.name, "=", c.value, ": problem \"", problem, "\"");
        if (!c.ok) CHECK(problem.starts_with(c.name));
        CHECK_MESSAGE(settings.form == c.form, c.name, "=", c.value);
        CHECK_MESSAGE(settings.postfix_summary == c.summary, c.name, "=", c.value);
    }
}

TEST_CASE("templates: set, empty means the default, invalid keeps the previous one") {
    LogSettings settings;
    CHECK(apply_log_setting(settings, "tls_log_delivery_format", "D %{delivery:status}").empty());
    CHECK(apply_log_setting(settings, "tls_log_transientfailure_format", "T %{{verify}}").empty());
    CHECK(apply_log_setting(settings, "tls_log_permanentfailure_format", "P 100%%").empty());
    CHECK(settings.delivery_format == "D %{delivery:status}");
    CHECK(settings.transientfailure_format == "T %{{verify}}");
    CHECK(settings.permanentfailure_format == "P 100%%");
    for (const char* bad : {"50% off", "%{open", "%{}", "line\nbreak", "%"}) {
        const std::string problem = apply_log_setting(settings, "tls_log_delivery_format", bad);
        CHECK_MESSAGE(problem.starts_with("tls_log_delivery_format: "), bad, ": ", problem);
        CHECK(settings.delivery_format == "D %{delivery:status}");
    }
    CHECK(apply_log_setting(settings, "tls_log_delivery_format", "").empty());
    CHECK(settings.delivery_format == default_log_template);
}

TEST_CASE("template_for: delivery, transient failure (deferred, fallback), permanent failure") {
    LogSettings s;
    s.delivery_format = "D";
    s.transientfailure_format = "T";
    s.permanentfailure_format = "P";
    CHECK(template_for(s, Outcome::sent, false) == "D");
    CHECK(template_for(s, Outcome::deferred, false) == "T");
    CHECK(template_for(s, Outcome::deferred, true) == "T");
    CHECK(template_for(s, Outcome::bounced, false) == "P");
}

TEST_CASE("template_macro_names: every macro of the three templates once, no delivery:*") {
    LogSettings s;
    s.delivery_format = "%{delivery:time} %{mtatls:tls} %{{verify}}";
    s.transientfailure_format = "%{mtatls:failure} %{mtatls:tls} %{delivery:reason}";
    s.permanentfailure_format = "%{tls_out_ver}";
    CHECK(template_macro_names(s) ==
          std::vector<std::string>{"mtatls:tls", "{verify}", "mtatls:failure", "tls_out_ver"});
}

// ---- with the real module -------------------------------------------------------

namespace {

LogSettings load_and_read(const std::string& name, const std::string& text,
                          std::vector<std::string>& problems) {
    test::load_config(name, text);
    return read_log_settings(*test::real_module(), problems);
}

} // namespace

TEST_CASE("read_log_settings: the module's defaults are the host's") {
    std::vector<std::string> problems;
    const LogSettings got = load_and_read("defaults.conf", "tls = ifavailable\n", problems);
    CHECK(problems.empty());
    CHECK(got == LogSettings{});
}

TEST_CASE("read_log_settings: every directive, Momentum syntax") {
    std::vector<std::string> problems;
    const LogSettings got = load_and_read(
        "custom.conf",
        "tls_log_format = custom\n"
        "tls_log_delivery_format = \"D %{delivery:recipients} %{{verify}} 100%%\"\n"
        "tls_log_transientfailure_format = \"T %{mtatls:failure} %{delivery:reason}\"\n"
        "tls_log_permanentfailure_format = \"P %{delivery:dsn}\"\n"
        "tls_log_postfix_summary = false\n",
        problems);
    CHECK(problems.empty());
    CHECK(got.form == LogForm::custom);
    CHECK(got.delivery_format == "D %{delivery:recipients} %{{verify}} 100%%");
    CHECK(got.transientfailure_format == "T %{mtatls:failure} %{delivery:reason}");
    CHECK(got.permanentfailure_format == "P %{delivery:dsn}");
    CHECK_FALSE(got.postfix_summary);
}

TEST_CASE("read_log_settings: YAML") {
    std::vector<std::string> problems;
    const LogSettings got = load_and_read(
        "json.yaml", "tls_log_format: json\ntls_log_postfix_summary: true\n", problems);
    CHECK(problems.empty());
    CHECK(got.form == LogForm::json);
    CHECK(got.postfix_summary);
}

TEST_CASE("MACRO_LIST: stage 0 lists every stage's macros, the contract's names among them") {
    const Module* module = test::real_module();
    REQUIRE(module != nullptr);
    std::vector<std::string> all;
    REQUIRE(module->macro_list(0, all) == MTATLS_STATUS_OK);
    std::vector<std::string> staged;
    for (const int stage :
         {MTATLS_HOOK_CONN_SETUP, MTATLS_HOOK_EHLO, MTATLS_HOOK_STARTTLS_FINISH}) {
        std::vector<std::string> names;
        CHECK(module->macro_list(stage, names) == MTATLS_STATUS_OK);
        CHECK(!names.empty());
        staged.insert(staged.end(), names.begin(), names.end());
    }
    auto sorted_all = all;
    std::sort(sorted_all.begin(), sorted_all.end());
    std::sort(staged.begin(), staged.end());
    CHECK(sorted_all == staged);
    CHECK(std::adjacent_find(sorted_all.begin(), sorted_all.end()) == sorted_all.end());
    const auto has = [&all](const std::string& name) {
        return std::find(all.begin(), all.end(), name) != all.end();
    };
    for (const char* name : tls_fact_names)
        CHECK_MESSAGE(has(name), name);
    for (const char* name : {"outbound_tls:local_ip",
                             "{tls_version}",
                             "{cipher}",
                             "{cipher_bits}",
                             "{alg_bits}",
                             "{cert_subject}",
                             "{cert_issuer}",
                             "{cn_subject}",
                             "{cn_issuer}",
                             "{cert_fp}",
                             "{verify}",
                             "{server_name}",
                             "{server_addr}",
                             "tls_out_ver",
                             "tls_out_cipher",
                             "tls_out_bits",
                             "tls_out_certificate_verified",
                             "tls_out_peerdn",
                             "tls_out_sni",
                             "mtatls:tls_requested",
                             "mtatls:tls",
                             "mtatls:stage",
                             "mtatls:failure",
                             "mtatls:sni",
                             "mtatls:resumed",
                             "mtatls:kx_group",
                             "mtatls:peer_sig_alg",
                             "mtatls:cert_fp",
                             "mtatls:cert_not_after",
                             "mtatls:plaintext_retry",
                             "mtatls:policy:tls",
                             "mtatls:policy_scope:tls"})
        CHECK_MESSAGE(has(name), name);
    std::vector<std::string> none;
    CHECK(module->macro_list(MTATLS_HOOK_TLS_READ, none) == MTATLS_STATUS_BAD_ARGUMENT);
}
