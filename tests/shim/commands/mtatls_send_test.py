#!/usr/bin/python3
"""mtatls_send_test.py - drives the real `mtatls-send` (which loads the real
module) against a scripted hostile SMTP server, one delivery per case, and
checks three things for each: the exit code, the per-attempt log line on
stderr, and what the server saw (commands before and after TLS, whether a
ClientHello and nothing else followed STARTTLS, messages delivered).

Groups follow the project's list of hostile-server cases:
  A stripping and negotiation   B response injection   C capabilities
  D TLS layer                   E certificates (the matrix from
  F reply parsing                 make_cert_matrix.sh under ca/host/optional)
  G timeouts                    H classification and fallback
  P the certificate matrix itself, cross-checked with `openssl verify`

Every case also checks the invariants that must hold whatever happens: the
log line's keys in the contract's order and no raw control bytes in it; under
tls=required no MAIL/RCPT/DATA in the clear and no message delivered in the
clear; after a 220 to STARTTLS the client sends a ClientHello or nothing.

Environment (set by meson): MTATLS_SEND, MTATLS_TEST_MODULE, MTATLS_TEST_PKI.
Without MTATLS_SEND the program exits 77 (skipped).
Options: -k SUBSTRING runs the matching cases only; -v prints the client's
stderr of every case and the server trace of failures in full; -j N workers;
--self-test checks the harness itself (hostile server with Python's smtplib as
the client, the matrix with `openssl verify`) and needs no mtatls-send.
Prints `ok NAME` / `FAIL NAME: why` per case and `N passed, N failed`.
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SUPPORT = os.path.join(ROOT, "tests", "support")
sys.path.insert(0, SUPPORT)
sys.dont_write_bytecode = True   # no __pycache__ in the source tree

import ssl  # noqa: E402

import hostile_server as hs  # noqa: E402
from hostile_server import (TLSParams, check_clienthello, close, drip, expect, good_server,  # noqa: E402
                            recv_raw, reset, send, send_plain, serve, sleep, tls_partial)

SEND = os.environ.get("MTATLS_SEND", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")

MX = "mx.example.test"
SENDER = "sender@example.org"
RCPT = "rcpt@example.net"         # recipient domain example.net: only cert rcpt-domain names it
DOMAIN = "example.net"
BANNER = b"220 mx.example.test ESMTP hostile\r\n"
# MTATLS_TEST_SLOWDOWN=F (scripts/valgrind sets it): every process runs up
# to F times slower, so the time allowed beyond a client deadline and the
# time a whole run may take grow with F (the client's own deadlines do
# not).  Under memcheck (F=5) a handshake and teardown took up to 15 s
# more than the deadline, hence 4 s per step of F.
SLOWDOWN = float(os.environ.get("MTATLS_TEST_SLOWDOWN", "1") or 1)
SLACK = 2.0 + 4.0 * (SLOWDOWN - 1)  # seconds allowed beyond a client deadline
# --timeout and --attempt-timeout of the cases that do not test them.
DEFAULT_TIMEOUT = round(5 * SLOWDOWN)
DEFAULT_ATTEMPT_TIMEOUT = round(20 * SLOWDOWN)

# Bytes on stdin: LF line ends, dot-leading lines, an 8-bit byte, a lone dot.
MESSAGE = (b"From: <sender@example.org>\nTo: <rcpt@example.net>\nSubject: mtatls test\n"
           b"Message-ID: <1@example.org>\n\nline one\n.leading dot\n..two dots\n.\n"
           b"caf\xc3\xa9 8-bit\r\nCRLF line\nlast line\n")

ATTEMPT_KEYS = ["status", "relay", "domain", "tls_policy", "verify_policy", "tls", "cipher", "bits",
                "verified", "subject", "issuer", "code", "dsn", "reason", "delay"]
RCPT_KEYS = ["rcpt", "status", "code", "dsn", "reason"]


def normalise(message):
    """What must arrive: CRLF line ends, a final CRLF (dot-stuffing is undone
    by the server before comparing)."""
    out = re.sub(rb"\r?\n", b"\r\n", message)
    return out if out.endswith(b"\r\n") else out + b"\r\n"


# ---- the certificate matrix: expected results per case and mode ---------------
# (passes under tls_verify=ca, passes under tls_verify=host).  Under
# `optional` every case is delivered, verified=yes exactly when `host` passes.
MATRIX_EXPECT = {
    "good": (True, True),
    "expired": (False, False),
    "not-yet-valid": (False, False),
    "self-signed": (False, False),
    "unknown-root": (False, False),
    "missing-intermediate": (False, False),   # the client must not fetch or guess it
    "wrong-host": (True, False),
    "cn-only": (True, True),                  # CN counts when there is no DNS SAN
    "san-mismatch": (True, False),            # a DNS SAN makes the CN irrelevant
    "wildcard": (True, True),
    "wildcard-tld": (True, False),
    "wildcard-sub": (True, False),
    "wildcard-partial": (True, False),        # spec: no partial wildcards
    "mixed-case": (True, True),
    "trailing-dot": (True, True),             # spec: trailing dot ignored
    "ip-san": (True, True),
    "ip-as-dns": (True, False),               # IP literals match only iPAddress SANs
    "wrong-eku": (False, False),
    "noca-intermediate": (False, False),
    "weak-rsa": (False, False),               # RSA 1024 at security level 2
    "sha1": (False, False),
    "name-constrained": (False, False),
    "rcpt-domain": (True, True),              # the recipient domain is an accepted name
}
# Where OpenSSL's own X509_check_host defaults differ from the spec, so the
# `openssl verify -verify_hostname` cross-check expects the opposite:
# OpenSSL allows partial wildcards unless X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
# is set, and does not strip a trailing dot from a certificate's DNS name.
OPENSSL_HOST_DIFFERS = {"wildcard-partial", "trailing-dot"}
# Extra rows over the same certificates: (row name, certificate, mx name, (ca, host)).
MATRIX_EXTRA = [
    ("good-mx-trailing-dot", "good", MX + ".", (True, True)),   # the MX name's dot is ignored too
    ("good-mx-upper-case", "good", "MX.EXAMPLE.TEST", (True, True)),
    ("good-wrong-mx", "good", "other.example.test", (True, False)),
]


# ---- log line parsing ----------------------------------------------------------
TOKEN = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def unquote(value):
    if not value.startswith('"'):
        return value
    body = value[1:-1]
    return re.sub(r'\\(x[0-9a-fA-F]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "x" and len(m.group(1)) == 3
                  else m.group(1), body)


def parse_log(line):
    """'mtatls-send: k=v k="v v"' -> [(key, value)] in order, or None."""
    prefix = "mtatls-send: "
    if not line.startswith(prefix):
        return None
    rest = line[len(prefix):]
    pairs, pos = [], 0
    while pos < len(rest):
        m = TOKEN.match(rest, pos)
        if not m:
            return None
        pairs.append((m.group(1), unquote(m.group(2))))
        pos = m.end()
        if pos < len(rest):
            if rest[pos] != " ":
                return None
            pos += 1
    return pairs


# ---- expectations --------------------------------------------------------------


class Re:
    def __init__(self, pattern):
        self.rx = re.compile(pattern)

    def __call__(self, value):
        return self.rx.fullmatch(value) is not None

    def __repr__(self):
        return f"/{self.rx.pattern}/"


class Has:
    def __init__(self, text):
        self.text = text

    def __call__(self, value):
        return self.text.lower() in value.lower()

    def __repr__(self):
        return f"contains {self.text!r}"


def matches(value, want):
    if callable(want):
        return want(value)
    if isinstance(want, tuple):
        return value in want
    return value == want


CODE4, CODE5, CODE2 = Re(r"4\d\d"), Re(r"5\d\d"), Re(r"2\d\d")
DSN4, DSN5, DSN2 = Re(r"4\.\d{1,3}\.\d{1,3}"), Re(r"5\.\d{1,3}\.\d{1,3}"), Re(r"2\.\d{1,3}\.\d{1,3}")
TLS_FAIL = {"status": "deferred", "code": "451", "dsn": "4.7.5"}
NOT_ADVERTISED = {"status": "deferred", "code": "451", "dsn": "4.7.6"}
DEFERRED = {"status": "deferred", "code": CODE4, "dsn": DSN4}
SENT_TLS = {"status": "sent", "tls": Re(r"TLSv1\.[23]"), "code": CODE2}
SENT_PLAIN = {"status": "sent", "tls": "none", "cipher": "-", "code": CODE2}
FALLBACK = {"status": "fallback", "code": CODE4}


class Result:
    """What one run produced."""

    def __init__(self, case, srv, proc, elapsed, workdir):
        self.case = case
        self.srv = srv
        self.conns = srv.connections if srv else []
        self.exit = proc.returncode if proc else None
        self.stderr = proc.stderr if proc else b""
        self.elapsed = elapsed
        self.workdir = workdir
        text = self.stderr.decode("utf-8", "replace")
        self.raw_lines = [ln for ln in text.split("\n") if ln]
        self.attempts, self.rcpt_lines, self.bad_lines = [], [], []
        for ln in self.raw_lines:
            pairs = parse_log(ln)
            if pairs and pairs[0][0] == "status":
                self.attempts.append(pairs)
            elif pairs and pairs[0][0] == "rcpt":
                self.rcpt_lines.append(pairs)
            elif ln.startswith("mtatls-send: status=") or ln.startswith("mtatls-send: rcpt="):
                self.bad_lines.append(ln)

    def conn(self, i):
        return self.conns[i] if i < len(self.conns) else None


# Server-side checks: each takes a Result and returns None or a complaint.


def no_message(r):
    if r.srv.messages:
        return f"server received a message: {r.srv.messages}"


def delivered(tls=True, conn=None, message=MESSAGE):
    def check(r):
        got = [m for m in r.srv.messages if m.accepted]
        if len(got) != 1:
            return f"want exactly one accepted message, got {got}"
        m = got[0]
        if m.tls != tls:
            return f"message arrived {'over TLS' if m.tls else 'in the clear'}, want {'TLS' if tls else 'clear'}"
        if conn is not None and m not in r.conns[conn].messages:
            return f"message not on connection {conn}"
        want = normalise(message)
        if m.content != want:
            return f"message differs: got {m.content[:200]!r}, want {want[:200]!r}"
    return check


def conns(n):
    def check(r):
        if len(r.conns) != n:
            return f"want {n} connection(s), got {len(r.conns)}"
    return check


def cmds(i, want, over_tls=None):
    """Connection i's client verbs (before/over TLS) start with `want`."""
    def check(r):
        c = r.conn(i)
        got = c.client_commands(over_tls) if c else []
        if got[:len(want)] != want:
            return f"connection {i} commands{'' if over_tls is None else ' (tls)' if over_tls else ' (clear)'}: got {got}, want {want}..."
    return check


def lacks(i, verbs, over_tls=None):
    def check(r):
        c = r.conn(i)
        got = c.client_commands(over_tls) if c else []
        bad = [v for v in got if v in verbs]
        if bad:
            return f"connection {i} sent {bad} (commands {got})"
    return check


def only_quit_after_starttls(i):
    """After STARTTLS on connection i the client said nothing but QUIT."""
    def check(r):
        c = r.conn(i)
        if not c:
            return f"no connection {i}"
        verbs = c.client_commands()
        if "STARTTLS" not in verbs:
            return f"no STARTTLS on connection {i}: {verbs}"
        after = verbs[verbs.index("STARTTLS") + 1:]
        if any(v != "QUIT" for v in after):
            return f"after STARTTLS connection {i} sent {after}"
    return check


def no_clienthello(i=0):
    def check(r):
        c = r.conn(i)
        if c and c.client_hello:
            return f"connection {i}: client started TLS after a non-220 reply"
    return check


def clienthello(pred, what):
    def check(r):
        c = r.conn(0)
        if not c or not c.hello:
            return "no ClientHello recorded"
        if not pred(c.hello):
            return f"ClientHello: want {what}, got {c.hello!r}"
    return check


def elapsed(lo=None, hi=None):
    def check(r):
        if lo is not None and r.elapsed < lo:
            return f"finished after {r.elapsed:.2f}s, want >= {lo}s"
        if hi is not None and r.elapsed > hi:
            return f"took {r.elapsed:.2f}s, want <= {hi}s"
    return check


def no_pipelining_over_tls(r):
    bad = [v for c in r.conns for tls, v in c.pipelined if tls]
    if bad:
        return f"client pipelined {bad} over TLS where PIPELINING was not advertised"


def stderr_has(text):
    def check(r):
        if text.encode() not in r.stderr:
            return f"stderr lacks {text!r}"
    return check


def rcpt_lines(want):
    """want: {address: {key: expected}}; per-recipient lines must match."""
    def check(r):
        got = {dict(p)["rcpt"].strip("<>"): dict(p) for p in r.rcpt_lines}
        for addr, fields in want.items():
            if addr not in got:
                return f"no rcpt line for {addr} (lines: {r.raw_lines})"
            for k, v in fields.items():
                if not matches(got[addr].get(k, ""), v):
                    return f"rcpt {addr} {k}: got {got[addr].get(k)!r}, want {v!r}"
    return check


def key_update_sent(r):
    c = r.conn(0)
    if not c or c.key_updates != 1:
        return "the server's KeyUpdate was not sent"


def renegotiation_refused(r):
    c = r.conn(0)
    state = c.renegotiation if c else None
    if not (state or "").startswith("failed"):
        return f"renegotiation: got {state!r}, want the client to refuse it"


def client_cert_seen(r):
    c = r.conn(0)
    cert = c.peer_cert if c else None
    subject = dict(x[0] for x in cert.get("subject", ())) if cert else {}
    if subject.get("commonName") != "client.example.test":
        return f"server saw client certificate {cert!r}, want CN=client.example.test"


# ---- cases ---------------------------------------------------------------------


class Case:
    def __init__(self, group, name, scripts, exit, log=None, checks=(), tls="required", verify="host",
                 fallback=None, ca=None, extra_config="", config=None, mx=MX, rcpts=(RCPT,),
                 message=MESSAGE, timeout=DEFAULT_TIMEOUT, attempt_timeout=DEFAULT_ATTEMPT_TIMEOUT,
                 args=None, server=None,
                 next_hop=None, omit_mx=False):
        self.group = group
        self.name = f"{group} {name}"
        self.scripts = scripts
        self.exit = exit
        self.log = log
        self.checks = list(checks)
        self.tls = tls
        self.verify = verify
        self.fallback = fallback
        self.ca = ca if ca is not None else os.path.join(PKI, "ca.pem")
        self.extra_config = extra_config
        self.config = config
        self.mx = mx
        self.rcpts = list(rcpts)
        self.message = message
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.args = args
        self.server = server or {}
        self.next_hop = next_hop
        self.omit_mx = omit_mx

    def config_text(self):
        if self.config is not None:
            return self.config
        text = f'tls: "{self.tls}"\ntls_verify: "{self.verify}"\ntls_ca: "{self.ca}"\n'
        if self.fallback is not None:
            text += f"tls_ifavailable_fallback: {'true' if self.fallback else 'false'}\n"
        return text + self.extra_config

    def command(self, cfg, port):
        if self.args is not None:
            return [SEND] + [a.replace("@CONFIG@", cfg).replace("@PORT@", str(port)) for a in self.args]
        cmd = [SEND, "--config", cfg, "--module", MODULE,
               "--next-hop", self.next_hop or f"127.0.0.1:{port}", "--helo", "client.example.test",
               "--timeout", str(self.timeout), "--attempt-timeout", str(self.attempt_timeout)]
        if not self.omit_mx:
            cmd += ["--mx-name", self.mx]
        return cmd + ["-f", SENDER] + self.rcpts

    def expected_log(self):
        """The attempt lines wanted: given, or derived from the exit code."""
        if self.log is not None:
            return self.log
        return {0: [{"status": "sent", "code": CODE2, "dsn": DSN2}],
                75: [DEFERRED],
                69: [{"status": "bounced", "code": CODE5, "dsn": DSN5}]}.get(self.exit)


def invariants(case, r):
    """Checks that hold for every case; returns complaints."""
    out = []
    if r.bad_lines:
        out.append(f"unparsable log line(s): {r.bad_lines}")
    for ln in r.raw_lines:
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", ln):
            out.append(f"raw control byte in stderr line {ln!r}")
    for pairs in r.attempts:
        keys = [k for k, _ in pairs]
        if keys != ATTEMPT_KEYS:
            out.append(f"attempt line keys {keys}, want {ATTEMPT_KEYS}")
            continue
        f = dict(pairs)
        lead = {"sent": "2", "deferred": "4", "fallback": "4", "bounced": "5"}.get(f["status"])
        if lead is None:
            out.append(f"unknown status {f['status']!r}")
        elif not (f["code"].startswith(lead) and f["dsn"].startswith(lead)):
            out.append(f"status {f['status']} with code {f['code']} dsn {f['dsn']}")
        if case.config is None and case.args is None:
            if f["tls_policy"] != case.tls:
                out.append(f"tls_policy={f['tls_policy']}, want {case.tls}")
            if f["verify_policy"] != case.verify:
                out.append(f"verify_policy={f['verify_policy']}, want {case.verify}")
            if f["domain"] != DOMAIN:
                out.append(f"domain={f['domain']}, want {DOMAIN}")
            if r.srv and f"[127.0.0.1]:{r.srv.port}" not in f["relay"]:
                out.append(f"relay={f['relay']}, want ...[127.0.0.1]:{r.srv.port}")
        if not re.fullmatch(r"\d+(\.\d+)?", f["delay"]):
            out.append(f"delay={f['delay']!r} is not a number")
        if f["tls"] == "none" and (f["cipher"] != "-" or f["verified"] not in ("-", "no")):
            out.append(f"tls=none with cipher={f['cipher']} verified={f['verified']}")
    for pairs in r.rcpt_lines:
        keys = [k for k, _ in pairs]
        if keys != RCPT_KEYS:
            out.append(f"rcpt line keys {keys}, want {RCPT_KEYS}")
    for c in r.conns:
        if c.starttls_peek and not c.client_hello:
            out.append(f"connection {c.index}: after 220 to STARTTLS the client sent "
                       f"{c.starttls_peek!r}, not a ClientHello")
        if case.tls == "required":
            clear = [v for v in c.client_commands(over_tls=False) if v in ("MAIL", "RCPT", "DATA")]
            if clear:
                out.append(f"connection {c.index}: {clear} in the clear under tls=required")
            if any(not m.tls for m in c.messages):
                out.append(f"connection {c.index}: message in the clear under tls=required")
        verbs = c.client_commands(over_tls=True)
        if "STARTTLS" in verbs:
            out.append(f"connection {c.index}: STARTTLS sent again inside TLS")
        if c.errors:
            out.append(f"server script: {c.errors}")
    return out


def evaluate(case, r):
    why = []
    if r.exit != case.exit:
        why.append(f"exit: got {r.exit}, want {case.exit}")
    want = case.expected_log()
    if want is not None:
        if len(r.attempts) != len(want):
            why.append(f"attempt lines: got {len(r.attempts)}, want {len(want)}")
        for i, (got, fields) in enumerate(zip(r.attempts, want)):
            g = dict(got)
            for k, v in fields.items():
                if not matches(g.get(k, ""), v):
                    why.append(f"line {i + 1} {k}: got {g.get(k)!r}, want {v!r}")
    why += invariants(case, r)
    for check in case.checks:
        try:
            complaint = check(r)
        except Exception as e:  # a check crashing is a failure, not a crash
            complaint = f"check {getattr(check, '__name__', check)} raised {e!r}"
        if complaint:
            why.append(complaint)
    return why


def run_case(case, work):
    d = tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9]+", "_", case.name)[:40] + "-", dir=work)
    cfg = os.path.join(d, "mtatls.yaml")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(case.config_text())
    srv = hs.HostileServer(case.scripts, **case.server).start() if case.scripts is not None else None
    proc, t0 = None, time.monotonic()
    try:
        proc = subprocess.run(case.command(cfg, srv.port if srv else 9), input=case.message,
                              capture_output=True, timeout=max(30, case.attempt_timeout + 15) * SLOWDOWN)
    except subprocess.TimeoutExpired as e:
        proc = subprocess.CompletedProcess(e.cmd, "timeout", b"", e.stderr or b"")
    elapsed = time.monotonic() - t0
    if srv:
        srv.stop(grace=2.0)
    return Result(case, srv, proc, elapsed, d)


# ---- the case table --------------------------------------------------------------


def build_cases(matrix_dir):
    P = lambda name: os.path.join(PKI, name)  # noqa: E731
    TLS = TLSParams(cert=P("server.pem"), key=P("server.key"))
    CAPS = hs.DEFAULT_CAPS

    def ehlo(caps, name=b"mx.example.test"):
        lines = [name] + list(caps)
        return b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + ln + b"\r\n"
                        for i, ln in enumerate(lines))

    EHLO_TLS = ehlo(CAPS + [b"STARTTLS"])

    def upto_starttls(banner=BANNER, ehlo_reply=EHLO_TLS):
        """Raw script prefix: banner, EHLO, its reply, read STARTTLS."""
        return [send(banner), expect(b"EHLO"), send(ehlo_reply), expect(b"STARTTLS")]

    def good(**kw):
        kw.setdefault("tls", TLS)
        return good_server(**kw)

    plain_good = lambda **kw: good_server(advertise_starttls=False, **kw)  # noqa: E731
    go = hs.STARTTLS_GO
    C = []
    add = C.append

    # -- A: stripping and negotiation ---------------------------------------
    add(Case("A", "good TLS delivery", good(), 0,
             log=[dict(SENT_TLS, verified="yes", cipher=Re(r"[A-Z0-9_-]+"), bits=Re(r"\d+/\d+"),
                       subject=Has("mx.example.test"), issuer=Has("mtatls test CA"), dsn=DSN2)],
             checks=[delivered(tls=True), conns(1), cmds(0, ["EHLO", "STARTTLS"], over_tls=False),
                     cmds(0, ["EHLO", "MAIL", "RCPT", "DATA"], over_tls=True)]))
    add(Case("A", "STARTTLS not advertised, required", plain_good(), 75, log=[NOT_ADVERTISED],
             checks=[no_message, lacks(0, ["STARTTLS"]), conns(1)]))
    add(Case("A", "STARTTLS not advertised, ifavailable", plain_good(), 0, tls="ifavailable",
             log=[SENT_PLAIN], checks=[delivered(tls=False), conns(1), lacks(0, ["STARTTLS"])]))
    add(Case("A", "tls=no never sends STARTTLS", good(), 0, tls="no", verify="no", log=[SENT_PLAIN],
             checks=[delivered(tls=False), lacks(0, ["STARTTLS"])]))
    for code in (b"454 4.7.0 TLS not available due to local problem",
                 b"502 5.5.1 command not implemented", b"554 5.7.3 no TLS for you",
                 b"200 2.0.0 sure, why not", b"354 go ahead"):
        add(Case("A", f"STARTTLS answered {code[:3].decode()}, required", good(starttls_reply=code + b"\r\n"), 75,
                 log=[TLS_FAIL], checks=[no_message, no_clienthello(), conns(1)]))
    add(Case("A", "STARTTLS answered 421, required",
             good(replies={"STARTTLS": [send(b"421 4.3.2 shutting down\r\n"), close()]}), 75,
             checks=[no_message, conns(1)]))
    add(Case("A", "STARTTLS refused 454, ifavailable, fallback", good(starttls_reply=b"454 4.7.0 not now\r\n"), 0,
             tls="ifavailable", fallback=True, log=[FALLBACK, SENT_PLAIN],
             checks=[conns(2), delivered(tls=False, conn=1), only_quit_after_starttls(0),
                     lacks(1, ["STARTTLS"])]))
    add(Case("A", "STARTTLS refused 454, ifavailable, no fallback", good(starttls_reply=b"454 4.7.0 not now\r\n"),
             75, tls="ifavailable", fallback=False, checks=[conns(1), no_message]))
    add(Case("A", "EHLO refused 502, ifavailable uses HELO",
             good(replies={"EHLO": b"502 5.5.2 EHLO not supported\r\n"}), 0, tls="ifavailable",
             log=[SENT_PLAIN], checks=[cmds(0, ["EHLO", "HELO", "MAIL"]), delivered(tls=False)]))
    add(Case("A", "EHLO refused 500, required", good(replies={"EHLO": b"500 5.5.1 unrecognized\r\n"}), 75,
             checks=[no_message, lacks(0, ["STARTTLS"])]))
    add(Case("A", "empty capability list, required", good(ehlo_reply=b"250 mx.example.test\r\n"), 75,
             log=[NOT_ADVERTISED], checks=[no_message, lacks(0, ["STARTTLS"])]))
    big = [b"X-CAP-%03d some parameters" % i for i in range(240)]
    add(Case("A", "enormous capability list (241 lines) with STARTTLS last", good(caps=big), 0,
             log=[SENT_TLS], checks=[delivered(tls=True)]))

    # -- B: response injection ------------------------------------------------
    fake_ehlo = b"250-mx.example.test\r\n250 PIPELINING\r\n"
    fake_txn = fake_ehlo + (b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n250 2.0.0 queued\r\n"
                            b"221 2.0.0 bye\r\n")
    for name, extra in [("fake EHLO reply in the 220 segment", fake_ehlo),
                        ("whole fake transaction in the 220 segment", fake_txn),
                        ("one stray CRLF in the 220 segment", b"\r\n"),
                        ("partial line in the 220 segment", b"250-fa")]:
        add(Case("B", name, good(extra_after_220=extra), 75, log=[TLS_FAIL],
                 checks=[no_message, conns(1)]))
    for name, gap in [("injection in a later segment", 0.0), ("injection 50 ms later", 0.05)]:
        add(Case("B", name, upto_starttls() + [send(go), sleep(gap), send(fake_ehlo), hs.starttls(TLS),
                                               serve(tls=TLS)], 75,
                 log=[dict(DEFERRED, dsn=Re(r"4\.7\.\d+"))], checks=[no_message, conns(1)]))
    add(Case("B", "injection after 454 refusal, ifavailable",
             good(starttls_reply=b"454 4.7.0 not now\r\n", extra_after_220=fake_txn), 0,
             tls="ifavailable", fallback=True, log=[FALLBACK, SENT_PLAIN],
             checks=[only_quit_after_starttls(0), conns(2), delivered(tls=False, conn=1)]))
    add(Case("B", "injection after 454 refusal, required",
             good(starttls_reply=b"454 4.7.0 not now\r\n", extra_after_220=fake_txn), 75,
             checks=[only_quit_after_starttls(0), no_message, conns(1)]))
    add(Case("B", "fake EHLO in the 220 segment, ifavailable, no fallback", good(extra_after_220=fake_ehlo), 75,
             tls="ifavailable", fallback=False, checks=[no_message, conns(1)]))
    multi = b"220-mx.example.test ready\r\n220-really\r\n220 2.0.0 go\r\n"
    add(Case("B", "multi-line STARTTLS reply dripped byte by byte",
             upto_starttls() + [drip(multi, 0.002), hs.starttls(TLS), serve(tls=TLS)], 0,
             log=[SENT_TLS], checks=[delivered(tls=True)]))
    for k in range(1, len(multi)):
        add(Case("B", f"STARTTLS reply split at byte {k:02d}",
                 upto_starttls() + [send(multi[:k]), sleep(0.02), send(multi[k:]), hs.starttls(TLS),
                                    serve(tls=TLS)], 0,
                 log=[SENT_TLS], checks=[delivered(tls=True)]))

    # -- C: capability handling ---------------------------------------------------
    for name, reply in [("XSTARTTLS is not STARTTLS", ehlo(CAPS + [b"XSTARTTLS"])),
                        ("STARTTLSX is not STARTTLS", ehlo(CAPS + [b"STARTTLSX"])),
                        ("STARTTLS in the greeting text", ehlo(CAPS, b"mx.example.test offers STARTTLS")),
                        ("STARTTLS as another keyword's parameter", ehlo(CAPS + [b"AUTH PLAIN STARTTLS"])),
                        ("X-STARTTLS is not STARTTLS", ehlo(CAPS + [b"X-STARTTLS"]))]:
        add(Case("C", name + ", required", good(ehlo_reply=reply), 75, log=[NOT_ADVERTISED],
                 checks=[no_message, lacks(0, ["STARTTLS"])]))
    for kw in (b"starttls", b"StartTLS"):
        add(Case("C", f"keyword {kw.decode()} matches case-insensitively", good(ehlo_reply=ehlo(CAPS + [kw])), 0,
                 log=[SENT_TLS], checks=[delivered(tls=True)]))
    add(Case("C", "STARTTLS with trailing space is still STARTTLS",
             good(ehlo_reply=b"250-mx.example.test\r\n250 STARTTLS \r\n"), 0, log=[SENT_TLS],
             checks=[delivered(tls=True)]))
    add(Case("C", "post-TLS list still offers STARTTLS: not sent twice",
             good(caps_tls=CAPS + [b"STARTTLS"]), 0, log=[SENT_TLS],
             checks=[delivered(tls=True), cmds(0, ["EHLO", "MAIL"], over_tls=True)]))
    add(Case("C", "pre-TLS PIPELINING is forgotten after TLS",
             good(caps=[b"PIPELINING", b"8BITMIME"], caps_tls=[b"8BITMIME"]), 0, log=[SENT_TLS],
             checks=[delivered(tls=True), no_pipelining_over_tls]))
    add(Case("C", "pre-TLS SIZE limit is forgotten after TLS",
             good(caps=[b"SIZE 100"], caps_tls=[b"SIZE 10240000"]), 0, log=[SENT_TLS],
             checks=[delivered(tls=True)]))
    add(Case("C", "post-TLS EHLO answered 421",
             good(replies={"EHLO_TLS": [send(b"421 4.3.2 go away\r\n"), close()]}), 75,
             checks=[no_message]))
    add(Case("C", "EHLO is sent again after TLS", good(), 0, log=[SENT_TLS],
             checks=[cmds(0, ["EHLO"], over_tls=True), delivered(tls=True)]))

    # -- D: TLS layer --------------------------------------------------------------
    tls10 = TLSParams(cert=P("server.pem"), key=P("server.key"), min_version=ssl.TLSVersion.TLSv1,
                      max_version=ssl.TLSVersion.TLSv1, seclevel=0)
    add(Case("D", "TLS 1.0-only server, required", good(tls=tls10), 75, log=[TLS_FAIL],
             checks=[no_message, conns(1)]))
    add(Case("D", "TLS 1.0-only server, ifavailable falls back", good(tls=tls10), 0, tls="ifavailable",
             verify="no", fallback=True, log=[FALLBACK, SENT_PLAIN],
             checks=[conns(2), delivered(tls=False, conn=1), lacks(1, ["STARTTLS"])]))
    tls12 = TLSParams(cert=P("server.pem"), key=P("server.key"), max_version=ssl.TLSVersion.TLSv1_2)
    add(Case("D", "TLS 1.2-only server", good(tls=tls12), 0,
             log=[dict(SENT_TLS, tls="TLSv1.2")], checks=[delivered(tls=True)]))
    add(Case("D", "ClientHello: SNI, TLS 1.2+ only, no 0-RTT", good(), 0, log=[SENT_TLS],
             checks=[clienthello(lambda h: h.sni == MX, f"SNI {MX}"),
                     clienthello(lambda h: set(h.versions) <= {0x0303, 0x0304}, "only TLS 1.2/1.3 offered"),
                     clienthello(lambda h: not h.early_data, "no early_data")]))
    add(Case("D", "IP literal next hop: no SNI, IP SAN verified", good(), 0, omit_mx=True,
             log=[dict(SENT_TLS, verified="yes")],
             checks=[clienthello(lambda h: h.sni is None, "no SNI for an IP literal"), delivered(tls=True)]))
    add(Case("D", "garbage instead of ServerHello",
             upto_starttls() + [send(go), check_clienthello(), recv_raw(idle=0.2),
                                send(b"\x00\xffthis is not TLS at all\r\n" * 4), close()], 75,
             log=[TLS_FAIL], checks=[no_message]))
    add(Case("D", "SMTP reply instead of ServerHello",
             upto_starttls() + [send(go), check_clienthello(), recv_raw(idle=0.2),
                                send(b"250 2.0.0 Ok\r\n"), sleep(3)], 75,
             log=[TLS_FAIL], checks=[no_message, elapsed(hi=DEFAULT_TIMEOUT + SLACK)]))
    add(Case("D", "fatal alert instead of ServerHello",
             upto_starttls() + [send(go), check_clienthello(), recv_raw(idle=0.2),
                                send(b"\x15\x03\x03\x00\x02\x02\x28"), close()], 75,
             log=[TLS_FAIL], checks=[no_message]))
    for n in (0, 5, 60):
        add(Case("D", f"connection cut after {n} bytes of the server's handshake",
                 upto_starttls() + [send(go), tls_partial(n, then="close", tls=TLS)], 75,
                 log=[TLS_FAIL], checks=[no_message]))
    add(Case("D", "RST after the ClientHello",
             upto_starttls() + [send(go), tls_partial(0, then="reset", tls=TLS)], 75,
             log=[TLS_FAIL], checks=[no_message]))
    add(Case("D", "anonymous suites only (tls_verify no)",
             good(tls=TLSParams(ciphers="aNULL", seclevel=0, max_version=ssl.TLSVersion.TLSv1_2)), 75,
             verify="no", log=[TLS_FAIL], checks=[no_message]))
    add(Case("D", "truncation without close_notify before the MAIL reply",
             good(replies={"MAIL": [close()]}), 75, checks=[no_message]))
    add(Case("D", "truncation mid-reply over TLS",
             good(replies={"RCPT": [send(b"250-2.1.5 Ok so fa"), close()]}), 75, checks=[no_message]))
    add(Case("D", "plaintext injected after the handshake",
             good(replies={"MAIL": [send_plain(b"250 2.1.0 Ok\r\n"), sleep(3)]}), 75,
             checks=[no_message, elapsed(hi=DEFAULT_TIMEOUT + SLACK)]))
    add(Case("D", "tls_verify no accepts a self-signed certificate",
             good(tls=TLSParams(chain=os.path.join(matrix_dir, "self-signed.chain.pem"),
                                key=os.path.join(matrix_dir, "self-signed.key"))), 0,
             verify="no", log=[SENT_TLS], checks=[delivered(tls=True)]))
    add(Case("D", "client certificate is presented",
             good(tls=TLSParams(cert=P("server.pem"), key=P("server.key"), client_ca=P("ca.pem"))), 0,
             extra_config=f'tls_certificate: "{P("client.pem")}"\ntls_key: "{P("client.key")}"\n',
             log=[SENT_TLS], checks=[delivered(tls=True), client_cert_seen]))
    add(Case("D", "TLS 1.3 KeyUpdate from the server is transparent",
             good(replies={"MAIL": [hs.key_update(), send(b"250 2.1.0 Ok\r\n")]}), 0, log=[SENT_TLS],
             checks=[delivered(tls=True), key_update_sent]))
    add(Case("D", "server-initiated renegotiation is refused (TLS 1.2)",
             good(tls=tls12, replies={"MAIL": [hs.renegotiate(), send(b"250 2.1.0 Ok\r\n")]}), 75,
             checks=[no_message, renegotiation_refused]))
    add(Case("D", "clean close_notify after QUIT", good(replies={"QUIT": [send(b"221 2.0.0 bye\r\n"),
                                                                          hs.close_notify()]}), 0,
             log=[SENT_TLS], checks=[delivered(tls=True)]))

    # -- E: the certificate matrix -----------------------------------------------------
    with open(os.path.join(matrix_dir, "cases.txt"), encoding="utf-8") as f:
        manifest = [ln.split(" ", 2) for ln in f.read().splitlines() if ln.strip()]
    rows = [(name, name, mx, MATRIX_EXPECT.get(name)) for name, mx, _ in manifest]
    rows += MATRIX_EXTRA
    missing = sorted(set(MATRIX_EXPECT) ^ {m[0] for m in manifest})
    if missing:
        raise SystemExit(f"matrix table and cases.txt disagree about: {missing}")
    mca = os.path.join(matrix_dir, "ca.pem")
    for row, cert, mx, (ca_ok, host_ok) in rows:
        tls = TLSParams(chain=os.path.join(matrix_dir, cert + ".chain.pem"),
                        key=os.path.join(matrix_dir, cert + ".key"), seclevel=0)
        for mode, ok in (("ca", ca_ok), ("host", host_ok), ("optional", True)):
            if ok:
                want = dict(SENT_TLS)
                if mode == "host":
                    want["verified"] = "yes"
                if mode == "optional":
                    want["verified"] = "yes" if host_ok else "no"
                add(Case("E", f"{row} under {mode}", good(tls=tls), 0, verify=mode, ca=mca, mx=mx,
                         log=[want], checks=[delivered(tls=True)]))
            else:
                add(Case("E", f"{row} under {mode}", good(tls=tls), 75, verify=mode, ca=mca, mx=mx,
                         log=[dict(DEFERRED, dsn="4.7.5")], checks=[no_message, conns(1)]))

    # -- F: reply parsing ------------------------------------------------------------------
    def at_banner(raw, extra=()):
        return [send(raw)] + list(extra) + [sleep(8)]

    prompt = elapsed(hi=2 + SLACK)  # malformed means "now", not "at the timeout" (--timeout 8)
    for name, raw in [("bare LF banner", b"220 mx.example.test ESMTP\n"),
                      ("NUL in banner", b"220 mx.example.test \x00 ESMTP\r\n"),
                      ("control byte in banner", b"220 mx.example.test \x1b[31m ESMTP\r\n"),
                      ("banner line of 3000 bytes", b"220 " + b"x" * 3000 + b"\r\n"),
                      ("banner without a code", b"hello there\r\n"),
                      ("banner of a short line", b"22\r\n"),
                      ("banner codes differ across lines", b"220-mx.example.test\r\n250 ESMTP\r\n"),
                      ("banner code with a letter", b"2x0 mx.example.test\r\n")]:
        add(Case("F", name, at_banner(raw), 75, timeout=8, checks=[no_message, prompt]))
    add(Case("F", "EHLO reply codes differ across lines",
             good(ehlo_reply=b"250-mx.example.test\r\n251-PIPELINING\r\n250 STARTTLS\r\n"), 75,
             timeout=8, checks=[no_message, lacks(0, ["STARTTLS"]), prompt]))
    add(Case("F", "EHLO reply of 300 lines",
             good(ehlo_reply=b"250-mx.example.test\r\n" + b"250-X-CAP\r\n" * 298 + b"250 STARTTLS\r\n"), 75,
             timeout=8, checks=[no_message, lacks(0, ["STARTTLS"]), prompt]))
    add(Case("F", "endless continuation lines",
             [send(BANNER), expect(b"EHLO"), drip(b"250-mx.example.test\r\n" * 20000, 0.0, chunk=8192),
              sleep(8)], 75, timeout=8, checks=[no_message, prompt]))
    add(Case("F", "endless line without LF",
             [send(BANNER), expect(b"EHLO"), drip(b"250-" + b"y" * 200000, 0.0, chunk=8192), sleep(8)], 75,
             timeout=8, checks=[no_message, prompt]))
    add(Case("F", "unsolicited extra reply after MAIL",
             good(replies={"MAIL": b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"},
                  rcpt_replies={RCPT: b"550 5.1.1 no such user\r\n"}), 75,
             checks=[no_message]))
    add(Case("F", "control byte in an RCPT reply (logged escaped)",
             good(rcpt_replies={RCPT: b"550 5.1.1 bad \x01 user\r\n"}), 75, checks=[no_message]))
    weird = '550 5.1.1 <rcpt@example.net> "quoted" back\\slash %s%n%x = unknown'
    add(Case("F", "reply text with quotes, backslash, %n is escaped and literal",
             good(rcpt_replies={RCPT: weird.encode() + b"\r\n"}), 69,
             log=[{"status": "bounced", "code": "550", "dsn": "5.1.1",
                   "reason": Has('"quoted" back\\slash %s%n%x = unknown')}],
             checks=[stderr_has('\\"quoted\\"'), stderr_has("back\\\\slash")]))
    for point, override in [("banner", None), ("EHLO", "EHLO"), ("MAIL", "MAIL"), ("RCPT", "RCPT"),
                            ("DATA", "DATA"), ("end of data", "EOD")]:
        steps = [send(b"421 4.3.2 service shutting down\r\n"), close()]
        script = steps if override is None else good(replies={override: steps})
        add(Case("F", f"421 at {point}", script, 75, log=[dict(DEFERRED, code="421")],
                 checks=[no_message] if override != "EOD" else []))
    add(Case("F", "connection lost mid-banner", [send(b"220-mx.example.test\r\n220-still"), close()], 75,
             checks=[no_message]))
    add(Case("F", "connection lost after the final dot", good(replies={"EOD": [close()]}), 75))
    add(Case("F", "RST after the final dot", good(replies={"EOD": [reset()]}), 75))

    # -- G: timeouts -------------------------------------------------------------------------
    add(Case("G", "silent server", [sleep(30)], 75, timeout=2, attempt_timeout=10,
             checks=[elapsed(lo=1.5, hi=2 + SLACK)]))
    add(Case("G", "slow drip across replies beyond --attempt-timeout",
             [drip(b"220 mx.example.test ESMTP slowly\r\n", 0.04), expect(b"EHLO"),
              drip(EHLO_TLS, 0.01), expect(b"STARTTLS"), drip(b"220 2.0.0 go ahead, slowly now\r\n", 0.05),
              hs.starttls(TLS), serve(tls=TLS)],
             75, timeout=2, attempt_timeout=3, checks=[no_message, elapsed(hi=3 + SLACK)]))
    add(Case("G", "endless slow drip of one reply", [drip(b"220-" + b"z" * 1000, 0.1)], 75,
             timeout=2, attempt_timeout=4, checks=[elapsed(hi=4 + SLACK)]))
    add(Case("G", "stall after 220 to STARTTLS", upto_starttls() + [send(go), sleep(30)], 75,
             timeout=2, attempt_timeout=10, log=[{"status": "deferred", "code": "451", "dsn": "4.7.5"}],
             checks=[elapsed(hi=2 + SLACK)]))
    add(Case("G", "stall mid-handshake", upto_starttls() + [send(go), tls_partial(60, then="stall", tls=TLS)], 75,
             timeout=2, attempt_timeout=10, log=[TLS_FAIL], checks=[elapsed(hi=2 + SLACK)]))
    add(Case("G", "no reply to STARTTLS", upto_starttls() + [sleep(30)], 75, timeout=2, attempt_timeout=10,
             checks=[elapsed(hi=2 + SLACK)]))
    add(Case("G", "no reply to EHLO", [send(BANNER), expect(b"EHLO"), sleep(30)], 75, timeout=2,
             attempt_timeout=10, checks=[elapsed(hi=2 + SLACK)]))
    add(Case("G", "no reply to the final dot (explicit --timeout)", good(replies={"EOD": [sleep(30)]}), 75,
             timeout=2, attempt_timeout=10, checks=[elapsed(hi=2 + SLACK)]))
    big = MESSAGE + (b"x" * 998 + b"\n") * 16000
    add(Case("G", "zero window during DATA", good(replies={"DATA": [send(b"354 go\r\n"), sleep(30)]}), 75,
             timeout=2, attempt_timeout=8, message=big, server={"rcvbuf": 4096},
             checks=[no_message, elapsed(hi=8 + SLACK)]))

    # -- H: classification ---------------------------------------------------------------------
    a, b, c = "a@example.net", "b@example.net", "c@example.net"
    add(Case("H", "RCPT 550 bounces", good(rcpt_replies={RCPT: b"550 5.1.1 no such user\r\n"}), 69,
             log=[{"status": "bounced", "code": "550", "dsn": "5.1.1"}], checks=[no_message]))
    add(Case("H", "RCPT 450 defers", good(rcpt_replies={RCPT: b"450 4.2.0 try later\r\n"}), 75,
             log=[{"status": "deferred", "code": "450", "dsn": "4.2.0"}], checks=[no_message]))
    add(Case("H", "RCPT 250 + 550: 69, per-recipient lines",
             good(rcpt_replies={b: b"550 5.1.1 no such user\r\n"}), 69, rcpts=(a, b), log=[{}],
             checks=[rcpt_lines({a: {"status": "sent"}, b: {"status": "bounced", "code": "550"}}),
                     delivered(tls=True)]))
    add(Case("H", "RCPT 250 + 450 + 550: 75",
             good(rcpt_replies={b: b"450 4.2.0 later\r\n", c: b"550 5.1.1 no\r\n"}), 75, rcpts=(a, b, c),
             log=[{}], checks=[rcpt_lines({a: {"status": "sent"}, b: {"status": "deferred"},
                                           c: {"status": "bounced"}})]))
    add(Case("H", "MAIL 553 bounces", good(replies={"MAIL": b"553 5.1.8 bad sender\r\n"}), 69,
             log=[{"status": "bounced", "code": "553"}], checks=[no_message]))
    add(Case("H", "DATA 554 bounces", good(replies={"DATA": b"554 5.5.1 no valid recipients\r\n"}), 69,
             checks=[no_message]))
    add(Case("H", "end of data 552 bounces", good(eod_reply=b"552 5.3.4 too big\r\n"), 69,
             log=[{"status": "bounced", "code": "552"}]))
    add(Case("H", "end of data 451 defers", good(eod_reply=b"451 4.3.0 try again\r\n"), 75,
             log=[{"status": "deferred", "code": "451", "dsn": "4.3.0"}]))
    garbage = upto_starttls() + [send(go), check_clienthello(), recv_raw(idle=0.2), send(b"garbage!\r\n" * 8),
                                 close()]
    add(Case("H", "handshake failure, ifavailable + fallback: plaintext on a new connection",
             [garbage, good()], 0, tls="ifavailable", verify="no", fallback=True, log=[FALLBACK, SENT_PLAIN],
             checks=[conns(2), delivered(tls=False, conn=1), lacks(1, ["STARTTLS"]),
                     lacks(0, ["MAIL", "RCPT", "DATA"])]))
    add(Case("H", "handshake failure, ifavailable, no fallback: deferred", [garbage, good()], 75,
             tls="ifavailable", verify="no", fallback=False, log=[TLS_FAIL], checks=[conns(1), no_message]))
    add(Case("H", "handshake failure, required (+fallback true): deferred, no retry", [garbage, good()], 75,
             fallback=True, log=[TLS_FAIL], checks=[conns(1), no_message]))
    expired = TLSParams(chain=os.path.join(matrix_dir, "expired.chain.pem"),
                        key=os.path.join(matrix_dir, "expired.key"))
    add(Case("H", "verification failure (host) under ifavailable never falls back", good(tls=expired), 75,
             tls="ifavailable", verify="host", fallback=True, ca=mca,
             log=[dict(DEFERRED, dsn="4.7.5")], checks=[conns(1), no_message]))
    unknown = TLSParams(chain=os.path.join(matrix_dir, "unknown-root.chain.pem"),
                        key=os.path.join(matrix_dir, "unknown-root.key"))
    add(Case("H", "verification failure (ca) under ifavailable never falls back", good(tls=unknown), 75,
             tls="ifavailable", verify="ca", fallback=True, ca=mca,
             log=[dict(DEFERRED, dsn="4.7.5")], checks=[conns(1), no_message]))
    add(Case("H", "STARTTLS 554 under required is deferred, not bounced",
             good(starttls_reply=b"554 5.7.0 TLS forbidden\r\n"), 75, log=[TLS_FAIL]))
    add(Case("H", "message with dots, bare LF and no final newline is byte-identical", good(), 0,
             message=b"Subject: x\n\n.\n..\n.x\r\nend", log=[SENT_TLS],
             checks=[delivered(tls=True, message=b"Subject: x\n\n.\n..\n.x\r\nend")]))
    add(Case("H", "usage error: no --next-hop", None, 64,
             args=["--config", "@CONFIG@", "--module", MODULE, "-f", SENDER, RCPT]))
    add(Case("H", "usage error: --mx-name with an MX lookup", None, 64,
             args=["--config", "@CONFIG@", "--module", MODULE, "--next-hop", "example.net:@PORT@",
                   "--mx-name", MX, "-f", SENDER, RCPT]))
    add(Case("H", "usage error: --resolver is not an address", None, 64,
             args=["--config", "@CONFIG@", "--module", MODULE, "--next-hop", "example.net:@PORT@",
                   "--resolver", "dns.example.net", "-f", SENDER, RCPT]))
    add(Case("H", "configuration error", None, 78, config='tls: "maybe"\n',
             args=["--config", "@CONFIG@", "--module", MODULE, "--next-hop", "127.0.0.1:@PORT@",
                   "-f", SENDER, RCPT]))
    return C


# ---- P: the matrix itself against `openssl verify` ------------------------------------------


def openssl_matrix_cases(matrix_dir):
    """One check per certificate: OpenSSL agrees with MATRIX_EXPECT (bar
    the documented differences), so a broken matrix cannot pass as a
    client bug or hide one."""
    out = []
    with open(os.path.join(matrix_dir, "cases.txt"), encoding="utf-8") as f:
        manifest = [ln.split(" ", 2) for ln in f.read().splitlines() if ln.strip()]
    for name, mx, _desc in manifest:
        def run(name=name, mx=mx):
            ca_ok, host_ok = MATRIX_EXPECT[name]
            if name in OPENSSL_HOST_DIFFERS:
                host_ok = not host_ok
            base = ["openssl", "verify", "-CAfile", os.path.join(matrix_dir, "ca.pem"),
                    "-untrusted", os.path.join(matrix_dir, name + ".chain.pem"),
                    "-purpose", "sslserver", "-auth_level", "2"]
            leaf = os.path.join(matrix_dir, name + ".pem")
            names = [DOMAIN] if name == "rcpt-domain" else [mx]
            why = []
            for mode, ok, extra in [("ca", ca_ok, []),
                                    ("host", host_ok, ["-verify_ip" if mx[0].isdigit() else "-verify_hostname",
                                                       names[0]])]:
                p = subprocess.run(base + extra + [leaf], capture_output=True, text=True, timeout=30)
                got = p.returncode == 0
                if got != ok:
                    why.append(f"openssl verify ({mode}): got {'OK' if got else 'error'}, want "
                               f"{'OK' if ok else 'error'}: {(p.stdout + p.stderr).strip()[-200:]}")
            return why
        out.append((f"P openssl agrees on {name}", run))
    return out


# ---- self-test: the harness with Python's smtplib as the client -----------------------------


def self_test_cases(matrix_dir):
    import smtplib
    P = lambda name: os.path.join(PKI, name)  # noqa: E731
    TLS = TLSParams(cert=P("server.pem"), key=P("server.key"))
    out = []

    def client(port, tls_ctx=None, name=MX, rcpts=(RCPT,), msg=b"Subject: t\r\n\r\n.dot\r\nbody\r\n"):
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=5)
        try:
            s.ehlo()
            if tls_ctx is not None:
                s.starttls(context=tls_ctx)
                s.ehlo()
            s.sendmail(SENDER, list(rcpts), msg)
            s.quit()
        finally:
            s.close()

    def verify_ctx(ca=P("ca.pem")):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = True
        return ctx

    def plain_ctx():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def t_good():
        with hs.HostileServer(good_server(tls=TLS)) as srv:
            ctx = verify_ctx()
            s = smtplib.SMTP("127.0.0.1", srv.port, local_hostname="client.test", timeout=5)
            s._host = MX   # smtplib takes SNI and the name to verify from here
            s.ehlo()
            s.starttls(context=ctx)
            s.ehlo()
            s.sendmail(SENDER, [RCPT], b"Subject: t\r\n\r\n.dot\r\nbody\r\n")
            s.quit()
        c = srv.connections[0]
        why = []
        if c.client_commands() != ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]:
            why.append(f"commands {c.client_commands()}")
        if not c.client_hello or c.hello.sni != MX or c.tls_version != "TLSv1.3":
            why.append(f"hello {c.client_hello} {c.hello} {c.tls_version}")
        m = srv.messages
        if len(m) != 1 or m[0].content != b"Subject: t\r\n\r\n.dot\r\nbody\r\n" or not m[0].tls or not m[0].accepted:
            why.append(f"messages {m}")
        return why
    out.append(("S good server, smtplib with verification", t_good))

    def t_matrix_serves():
        """Every matrix certificate can be served (weak RSA and SHA-1 need
        seclevel 0 on the server side) and reaches a non-verifying client."""
        why = []
        with open(os.path.join(matrix_dir, "cases.txt"), encoding="utf-8") as f:
            names = [ln.split(" ", 1)[0] for ln in f if ln.strip()]
        for name in names:
            tls = TLSParams(chain=os.path.join(matrix_dir, name + ".chain.pem"),
                            key=os.path.join(matrix_dir, name + ".key"), seclevel=0)
            with hs.HostileServer(good_server(tls=tls)) as srv:
                try:
                    client(srv.port, plain_ctx())
                except Exception as e:
                    why.append(f"{name}: {e!r}")
            if len(srv.messages) != 1:
                why.append(f"{name}: {srv.trace()}")
        return why
    out.append(("S every matrix certificate is served", t_matrix_serves))

    def t_injection_recorded():
        # smtplib drops bytes buffered before TLS silently; the server must
        # record that it sent them and that a ClientHello followed.
        with hs.HostileServer(good_server(tls=TLS, extra_after_220=b"250 fake\r\n")) as srv:
            client(srv.port, plain_ctx())
        c = srv.connections[0]
        if not (c.client_hello and b"250 fake" in c.sent and len(srv.messages) == 1):
            return [srv.trace()]
    out.append(("S injected bytes go out in the 220 segment", t_injection_recorded))

    def t_not_clienthello():
        # A client that talks SMTP after 220 is recorded as "not a ClientHello".
        with hs.HostileServer(good_server(tls=TLS)) as srv:
            s = smtplib.SMTP("127.0.0.1", srv.port, local_hostname="client.test", timeout=5)
            s.ehlo()
            s.docmd("STARTTLS")
            s.sock.sendall(b"EHLO cleartext\r\n")
            time.sleep(0.2)
            s.close()
        c = srv.connections[0]
        if c.client_hello is not False or not c.starttls_peek.startswith(b"EHLO"):
            return [f"client_hello={c.client_hello} peek={c.starttls_peek!r}"]
    out.append(("S cleartext after STARTTLS is detected", t_not_clienthello))

    def t_split():
        multi = b"220-mx.example.test ready\r\n220-really\r\n220 2.0.0 go\r\n"
        script = [send(BANNER), expect(b"EHLO"), send(b"250-mx\r\n250 STARTTLS\r\n"), expect(b"STARTTLS"),
                  drip(multi, 0.002), hs.starttls(TLS), serve(tls=TLS)]
        with hs.HostileServer(script) as srv:
            client(srv.port, plain_ctx())
        if len(srv.messages) != 1:
            return [srv.trace()]
    out.append(("S dripped multi-line STARTTLS reply works", t_split))

    def t_two_connections():
        with hs.HostileServer([good_server(tls=TLS, starttls_reply=b"454 4.7.0 no\r\n"),
                               good_server(advertise_starttls=False)]) as srv:
            try:
                client(srv.port, plain_ctx())
            except smtplib.SMTPResponseException:
                pass
            client(srv.port)
        if len(srv.connections) != 2 or len(srv.connections[1].messages) != 1 or srv.messages[0].tls:
            return [srv.trace()]
    out.append(("S second connection runs the second script", t_two_connections))

    def t_tls10():
        tls10 = TLSParams(cert=P("server.pem"), key=P("server.key"), min_version=ssl.TLSVersion.TLSv1,
                          max_version=ssl.TLSVersion.TLSv1, seclevel=0)
        why = []
        with hs.HostileServer([good_server(tls=tls10)]) as srv:
            try:
                client(srv.port, plain_ctx())
                why.append("a default client completed TLS 1.0")
            except (ssl.SSLError, smtplib.SMTPException, OSError):
                pass
        ctx = plain_ctx()
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)   # TLS 1.0 on purpose
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        with hs.HostileServer([good_server(tls=tls10)]) as srv:
            client(srv.port, ctx)
        if srv.connections[0].tls_version != "TLSv1":
            why.append(f"TLS 1.0 client got {srv.connections[0].tls_version}")
        return why
    out.append(("S TLS 1.0-only server speaks only TLS 1.0", t_tls10))

    def t_failures_are_failures():
        why = []
        scripts = {
            "garbage": [send(BANNER), expect(b"EHLO"), send(b"250-mx\r\n250 STARTTLS\r\n"), expect(b"STARTTLS"),
                        send(hs.STARTTLS_GO), check_clienthello(), recv_raw(idle=0.2), send(b"garbage\r\n"),
                        close()],
            "cut": [send(BANNER), expect(b"EHLO"), send(b"250-mx\r\n250 STARTTLS\r\n"), expect(b"STARTTLS"),
                    send(hs.STARTTLS_GO), tls_partial(60, tls=TLS)],
            "rst": [send(BANNER), expect(b"EHLO"), send(b"250-mx\r\n250 STARTTLS\r\n"), expect(b"STARTTLS"),
                    send(hs.STARTTLS_GO), tls_partial(0, then="reset", tls=TLS)],
            "plain after tls": good_server(tls=TLS, replies={"MAIL": [send_plain(b"250 ok\r\n"), sleep(3)]}),
            "truncation": good_server(tls=TLS, replies={"MAIL": [close()]}),
        }
        for name, script in scripts.items():
            with hs.HostileServer(script) as srv:
                t0 = time.monotonic()
                try:
                    client(srv.port, plain_ctx())
                    why.append(f"{name}: smtplib succeeded")
                except (ssl.SSLError, smtplib.SMTPException, OSError):
                    pass
                if time.monotonic() - t0 > 6:
                    why.append(f"{name}: took {time.monotonic() - t0:.1f}s")
            if srv.messages:
                why.append(f"{name}: message delivered")
        return why
    out.append(("S broken TLS servers make smtplib fail", t_failures_are_failures))

    def t_key_update_and_renegotiation():
        # The ctypes route to SSL_key_update/SSL_renegotiate works, and a
        # client that allows renegotiation is told apart from one that does not.
        why = []
        with hs.HostileServer(good_server(tls=TLS, replies={"MAIL": [hs.key_update(), send(b"250 ok\r\n")]})) as srv:
            client(srv.port, plain_ctx())
        if srv.connections[0].key_updates != 1 or len(srv.messages) != 1:
            why.append("key update: " + srv.trace())
        t12 = TLSParams(cert=P("server.pem"), key=P("server.key"), max_version=ssl.TLSVersion.TLSv1_2)
        for refuse in (False, True):
            ctx = plain_ctx()
            if refuse:
                ctx.options |= ssl.OP_NO_RENEGOTIATION
            script = good_server(tls=t12, replies={"MAIL": [hs.renegotiate(), send(b"250 ok\r\n")]})
            with hs.HostileServer(script) as srv:
                try:
                    client(srv.port, ctx)
                except (ssl.SSLError, smtplib.SMTPException, OSError):
                    pass
            state = srv.connections[0].renegotiation or ""
            if refuse != state.startswith("failed") or (not refuse and state != "done"):
                why.append(f"renegotiation (client refuses: {refuse}): {state!r}")
        return why
    out.append(("S KeyUpdate and renegotiation steps", t_key_update_and_renegotiation))

    def t_stop_is_prompt():
        t0 = time.monotonic()
        srv = hs.HostileServer([sleep(60)]).start()
        import socket
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        time.sleep(0.1)
        srv.stop(grace=0.2)
        s.close()
        if time.monotonic() - t0 > 2:
            return [f"stop took {time.monotonic() - t0:.1f}s"]
    out.append(("S stop() ends a sleeping script at once", t_stop_is_prompt))

    def t_zero_window():
        import socket
        srv = hs.HostileServer([sleep(30)], rcvbuf=4096).start()
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=1)
        sent = 0
        try:
            while sent < 64 * 1024 * 1024:
                sent += s.send(b"x" * 65536)
        except (socket.timeout, BlockingIOError):
            pass
        s.close()
        srv.stop(grace=0.2)
        if sent >= 64 * 1024 * 1024:
            return ["writes never blocked"]
    out.append(("S a small SO_RCVBUF blocks the writer", t_zero_window))

    def t_log_parser():
        line = ('mtatls-send: status=bounced relay=mx[127.0.0.1]:25 reason="a \\"b\\" \\\\ c\\x00d" delay=0.1')
        got = dict(parse_log(line))
        if got.get("reason") != 'a "b" \\ c\x00d' or got.get("delay") != "0.1":
            return [f"parsed {got}"]
    out.append(("S log line parser", t_log_parser))
    return out


# ---- driver -----------------------------------------------------------------------------------


def group_of(name):
    return name.split(" ", 1)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="pattern", help="run only cases whose name contains this")
    ap.add_argument("-v", action="store_true",
                    help="print the client's stderr of every case, and failures' server traces in full")
    ap.add_argument("-j", type=int, default=8, help="parallel workers (default 8)")
    ap.add_argument("--self-test", action="store_true", help="check the harness with smtplib and openssl")
    opts = ap.parse_args()

    if not PKI or not os.path.isfile(os.path.join(PKI, "ca.pem")):
        print("MTATLS_TEST_PKI must name the directory made by make_test_pki.sh", file=sys.stderr)
        return 2
    if not opts.self_test and not (SEND and os.access(SEND, os.X_OK)):
        print(f"skipped: MTATLS_SEND={SEND!r} is not an executable (use --self-test to check the harness)")
        return 77

    work = tempfile.mkdtemp(prefix="mtatls-send-test-")
    t_start = time.monotonic()
    try:
        matrix_dir = os.path.join(work, "matrix")
        subprocess.run(["sh", os.path.join(SUPPORT, "make_cert_matrix.sh"), matrix_dir], check=True, timeout=120)
        jobs = []   # (name, callable returning a list of complaints)
        client_lines = {}   # -v: case name -> the client's stderr lines
        for name, fn in openssl_matrix_cases(matrix_dir):
            jobs.append((name, fn))
        if opts.self_test:
            jobs += self_test_cases(matrix_dir)
        else:
            for case in build_cases(matrix_dir):
                def fn(case=case):
                    r = run_case(case, work)
                    why = evaluate(case, r)
                    if opts.v:
                        client_lines[case.name] = r.raw_lines
                    if why:
                        detail = r.stderr.decode("utf-8", "replace").strip()
                        trace = r.srv.trace() if r.srv else ""
                        if not opts.v:
                            detail, trace = detail[-800:], trace[-1500:]
                        why.append(f"\n  client stderr: {detail}\n  elapsed {r.elapsed:.2f}s\n{trace}")
                    return why
                jobs.append((case.name, fn))
        names = [n for n, _ in jobs]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            print(f"duplicate case names: {sorted(dupes)}", file=sys.stderr)
            return 2
        if opts.pattern:
            jobs = [j for j in jobs if opts.pattern.lower() in j[0].lower()]

        counts = {}
        passed = failed = 0
        lock = threading.Lock()

        def guarded(fn):
            try:
                return fn() or []
            except Exception as e:
                import traceback
                return [f"harness error: {e!r}\n{traceback.format_exc()}"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.j)) as pool:
            futures = [(name, pool.submit(guarded, fn)) for name, fn in jobs]
            for name, fut in futures:
                why = fut.result()
                g = group_of(name)
                with lock:
                    counts.setdefault(g, [0, 0])
                    if why:
                        failed += 1
                        counts[g][1] += 1
                        first, rest = why[0], why[1:]
                        print(f"FAIL {name}: {first}" + "".join(f"; {w}" if not w.startswith("\n") else w
                                                              for w in rest), flush=True)
                    else:
                        passed += 1
                        counts[g][0] += 1
                        print(f"ok {name}", flush=True)
                    for ln in client_lines.get(name, []):
                        print(f"  | {ln}", flush=True)
        summary = ", ".join(f"{g} {p + f}" for g, (p, f) in sorted(counts.items()))
        print(f"cases per group: {summary}; {time.monotonic() - t_start:.1f}s")
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
