#!/usr/bin/python3
"""mtatls_config_test.py - drives the real `mtatls-config` binary (which
loads the real module through the shim loader): exit codes, output formats,
conversion round trips, and the JSON Schema against the examples.

Table-driven; prints a doctest-style summary line so the CI summary can
count cases.  Environment (set by meson): MTATLS_CONFIG, MTATLS_TEST_PKI.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLES = os.path.join(ROOT, "config-schema", "examples")
TOOL = os.environ["MTATLS_CONFIG"]
PKI = os.environ["MTATLS_TEST_PKI"]
WORK = tempfile.mkdtemp(prefix="mtatls-config-test-")

passed = 0
failed = 0


def check(condition, name, detail=""):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}\n{detail}", file=sys.stderr)


def run(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60)


def materialise(name, text=None):
    """Writes an example (or `text`) with @PKI@ expanded; returns its path."""
    if text is None:
        with open(os.path.join(EXAMPLES, name), encoding="utf-8") as f:
            text = f.read()
    path = os.path.join(WORK, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("@PKI@", PKI))
    return path


def eval_values(path, *key):
    """Runs eval and returns {directive: value}."""
    result = run("eval", path, *key)
    values = {}
    for line in result.stdout.splitlines():
        assignment = line.split("  # ")[0]
        name, _, value = assignment.partition(" = ")
        values[name.strip()] = value.strip()
    return result.returncode, values


conf = materialise("outbound-tls.conf")
yml = materialise("outbound-tls.yaml")
full = materialise("full.yaml")
ignored = materialise("ignored.conf", 'max_outbound_connections = 10\nesmtp_listener {\n  listen ":25" { }\n}\ntls = ifavailable\n')
bad = materialise("bad.conf", 'tls = "maybe"\nbinding "b" {\n  tls_verfy = host\n}\n')
regex = materialise("regex.conf", 'domain "/^mx[0-9]+\\.example$/" { tls = required }\n')
group = materialise("group.yaml", "binding_group:\n  g:\n    tls: required\n    binding:\n      b: {}\n")
# check --postfix: one directive Postfix cannot express per stanza (line 4:
# tls_verify = ca; line 7: a client certificate in a binding), and a regex.
postfix = materialise("postfix.yaml", (
    "tls: ifavailable\n"
    "domain:\n"
    '  bank.example: {tls: required, tls_verify: host, tls_ca: "@PKI@/ca.pem"}\n'
    '  legacy.example: {tls: required, tls_verify: ca, tls_ca: "@PKI@/ca.pem"}\n'
    '  "/\\\\.gov\\\\.example$/": {tls: required}\n'
    "binding:\n"
    '  customer-1: {tls_certificate: "@PKI@/client-combined.pem"}\n'))
postfix_plain = materialise("postfix-plain.yaml", "tls: required\n")

# --- exit codes and messages, one row per invocation -----------------------
CASES = [
    # (name, args, exit, stdout contains, stderr contains)
    ("check yaml example", ["check", yml], 0, "configuration valid", None),
    ("check momentum example", ["check", conf], 0, "configuration valid", None),
    ("check full example", ["check", full], 0, "configuration valid", None),
    ("check lists ignored options", ["check", ignored], 0, 'ignored option "max_outbound_connections"', None),
    ("check lists ignored stanzas", ["check", ignored], 0, 'ignored stanza "esmtp_listener"', None),
    ("check reports bad value with position", ["check", bad], 78, None, "bad.conf:1:7: error: [global] tls: invalid value"),
    ("check hints at misspelt directive", ["check", bad], 78, None, 'bad.conf:3:3: error: [binding "b"] unknown directive "tls_verfy" (did you mean "tls_verify"?)'),
    ("check counts errors", ["check", bad], 78, None, "2 errors; configuration not valid"),
    ("check missing file", ["check", os.path.join(WORK, "absent.conf")], 78, None, "absent.conf"),
    ("eval vendor partner domain", ["eval", conf, "--binding", "customer-1", "--domain", "trusted.partner.example.com"], 0,
     'tls = required', None),
    ("eval names the origin", ["eval", conf, "--binding", "customer-1", "--domain", "trusted.partner.example.com"], 0,
     f'# from binding "customer-1" / domain "trusted.partner.example.com" ({conf}:10)', None),
    ("eval marks defaults", ["eval", conf, "--domain", "x.example"], 0, "# default", None),
    ("eval --option prints only the value", ["eval", conf, "--domain", "x.example", "--option", "TLS"], 0, "ifavailable\n", None),
    ("eval --option unknown", ["eval", conf, "--domain", "x", "--option", "tls_nope"], 64, None, 'unknown directive "tls_nope"'),
    ("eval needs --domain", ["eval", conf], 64, None, "eval needs --domain"),
    ("eval regex domain", ["eval", regex, "--domain", "MX12.example.", "--option", "tls"], 0, "required\n", None),
    ("eval group mismatch warns", ["eval", group, "--binding-group", "h", "--binding", "b", "--domain", "x", "--option", "tls"], 0,
     "required", 'declared in binding_group "g"'),
    ("eval on invalid config", ["eval", bad, "--domain", "x"], 78, None, "configuration not valid"),
    ("no arguments", [], 64, None, "usage:"),
    ("unknown command", ["frobnicate", conf], 64, None, 'unknown command "frobnicate"'),
    ("unknown option", ["check", conf, "--bogus"], 64, None, "unknown option --bogus"),
    ("--domain only with eval", ["check", conf, "--domain", "x"], 64, None, "go with eval"),
    ("version", ["--version"], 0, "mtatls-config 0.", None),
    ("help", ["--help"], 0, "usage:", None),
    ("missing module", ["--module", "/nonexistent/mtatls.so", "check", conf], 69, None, "cannot load module"),
    ("convert momentum", ["convert", conf], 0, '"customer-1":', None),
    ("convert invalid", ["convert", bad], 78, None, "tls: invalid value"),
    ("schema", ["schema"], 0, '"$schema"', None),
    # check --postfix: the Postfix policy per (socketmap name, next-hop) on
    # stdout, what Postfix cannot express on stderr with file:line.
    ("check --postfix valid", ["check", "--postfix", postfix], 0, f"{postfix}: configuration valid\n", None),
    ("check --postfix policy lines", ["check", "--postfix", postfix], 0,
     f"postfix: name=default next-hop=bank.example: OK verify match=hostname:nexthop tafile={PKI}/ca.pem protocols=>=TLSv1.2 ", None),
    ("check --postfix other next-hops", ["check", "--postfix", postfix], 0,
     "postfix: name=default next-hop=*: OK may protocols=>=TLSv1.2 ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS servername=hostname\n", None),
    ("check --postfix per binding", ["check", "--postfix", postfix], 0, "postfix: name=customer-1 next-hop=legacy.example: OK verify", None),
    ("check --postfix ca warning", ["check", "--postfix", postfix], 0, None,
     f'{postfix}:4:35: warning: [domain "legacy.example"] postfix: tls_verify = ca: Postfix cannot check a certificate chain without also checking a name'),
    ("check --postfix client certificate warning", ["check", "--postfix", postfix], 0, None,
     f'{postfix}:7:16: warning: [binding "customer-1"] postfix: tls_certificate: a Postfix policy cannot choose a client certificate'),
    ("check --postfix regex note", ["check", "--postfix", postfix], 0, None,
     'note: [domain "/\\.gov\\.example$/"] postfix: a regex domain stanza applies to next-hops that cannot be listed'),
    ("check --postfix summary", ["check", "--postfix", postfix], 0, f"{postfix}: Postfix mapping: 6 policies, 2 warnings, 1 note\n", None),
    ("check --postfix --next-hop", ["check", "--postfix", postfix, "--next-hop", "[mx.a.gov.example]:587", "--name", "other"], 0,
     "postfix: name=other next-hop=[mx.a.gov.example]:587: OK encrypt protocols=>=TLSv1.2", None),
    ("check --postfix nothing to say", ["check", "--postfix", postfix_plain], 0,
     f"{postfix_plain}: Postfix mapping: 1 policies, 0 warnings, 0 notes\n", None),
    ("check --postfix invalid", ["check", "--postfix", bad], 78, None, "configuration not valid"),
    ("--postfix only with check", ["eval", conf, "--domain", "x", "--postfix"], 64, None, "--postfix goes with check"),
    ("--next-hop needs --postfix", ["check", conf, "--next-hop", "x"], 64, None, "--name and --next-hop go with check --postfix"),
]
for name, args, code, out, err in CASES:
    r = run(*args)
    detail = f"args={args}\nexit={r.returncode}\nstdout={r.stdout}\nstderr={r.stderr}"
    check(r.returncode == code, f"{name}: exit {r.returncode}, want {code}", detail)
    if out is not None:
        check(out in r.stdout, f"{name}: stdout lacks {out!r}", detail)
    if err is not None:
        check(err in r.stderr, f"{name}: stderr lacks {err!r}", detail)

# --- vendor example: the three cases of the reference ----------------------
VENDOR = [
    (["--binding", "customer-1", "--domain", "trusted.partner.example.com"],
     {"tls": "required", "tls_ca": f"{PKI}/ca.pem", "tls_certificate": f"{PKI}/client.pem", "tls_key": f"{PKI}/client.key"}),
    (["--binding", "customer-1", "--domain", "other.example"],
     {"tls": "ifavailable", "tls_certificate": f"{PKI}/client.pem", "tls_ca": "(system trust store)"}),
    (["--binding", "customer-2", "--domain", "trusted.partner.example.com"],
     {"tls": "ifavailable", "tls_certificate": "none"}),
]
for key, want in VENDOR:
    for path in (conf, yml):
        code, values = eval_values(path, *key)
        for directive, value in want.items():
            check(values.get(directive) == value,
                  f"vendor {os.path.basename(path)} {key}: {directive} got {values.get(directive)!r}, want {value!r}")

# --- convert round trip: same effective policy everywhere -------------------
for source in (conf, full):
    r = run("convert", source)
    converted = os.path.join(WORK, os.path.basename(source) + ".converted.yaml")
    with open(converted, "w", encoding="utf-8") as f:
        f.write(r.stdout)
    check(run("check", converted).returncode == 0, f"converted {source} is valid", r.stdout)
    for key in (["--domain", "x.example"], ["--binding", "customer-1", "--domain", "trusted.partner.example.com"],
                ["--binding", "tx-east", "--domain", "partner.example"], ["--binding", "marketing", "--domain", "old-mx.example"],
                ["--domain", "a.gov.example"], ["--binding-group", "transactional", "--domain", "legacy.example"]):
        _, a = eval_values(source, *key)
        _, b = eval_values(converted, *key)
        check(a == b and len(a) == 23, f"convert round trip {os.path.basename(source)} {key}", f"{a}\n{b}")

# --- JSON Schema: valid JSON, examples validate, mistakes do not -----------
schema = json.loads(run("schema").stdout)
with open(os.path.join(ROOT, "config-schema", "mtatls-config.schema.json"), encoding="utf-8") as f:
    check(schema == json.load(f), "schema printed by the module equals config-schema/")
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for name in sorted(os.listdir(EXAMPLES)):
    if name.endswith((".yaml", ".yml")):
        document = yaml.safe_load(open(materialise(name), encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(document)]
        check(not errors, f"example {name} validates against the schema", "\n".join(errors))
INVALID = [
    ("unknown top-level key", {"tls_verfy": "host"}),
    ("bad enum", {"tls": "maybe"}),
    ("global-only directive in a binding", {"binding": {"b": {"tls_engine": "openssl"}}}),
    ("binding inside a domain", {"domain": {"d": {"binding": {}}}}),
    ("list as a value", {"tls_ciphers": ["HIGH"]}),
]
for name, document in INVALID:
    check(not validator.is_valid(document), f"schema rejects: {name}")
# Every directive the module knows is in the schema, with the same values.
_, effective = eval_values(conf, "--domain", "x.example")
for directive in effective:
    check(directive in schema["properties"], f"schema has directive {directive}")
for directive, values in (("tls", ["no", "ifavailable", "required"]), ("tls_verify", ["no", "ca", "host", "optional"])):
    check(schema["$defs"][directive]["enum"] == values, f"schema enum of {directive}")

shutil.rmtree(WORK, ignore_errors=True)
print(f"[doctest] test cases: {passed + failed} | {passed} passed | {failed} failed | 0 skipped")
sys.exit(1 if failed else 0)
