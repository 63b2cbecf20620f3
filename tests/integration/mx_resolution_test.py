#!/usr/bin/python3
"""mx_resolution_test.py - `mtatls-send --next-hop DOMAIN:PORT` against a real
DNS server: a private `unbound` on 127.0.0.1 (tests/support/unbound_server.py)
serves test zones under example., and the MX hosts listen on one port P on
127.0.0.2-9, so that every MX record of a zone reaches a real server:

  h2, h3  smtp-sink (STARTTLS, certificate for its own name, Maildir)
  h4      nothing listening (connection refused)
  h5      hostile_server.py without STARTTLS (delivers in plaintext)
  h6      hostile_server.py, 421 banner (a case may script it otherwise)
  h7      smtp-sink with a certificate for another name (wrong.example)
  h8      smtp-sink refusing every recipient (550 5.1.1)
  h9      hostile_server.py with STARTTLS; records the SNI it was sent; its
          certificate names h9.hosts.example and implicit.example
(hN.hosts.example A 127.0.0.N.)  Certificates are made at test time with the
test CA (MTATLS_TEST_PKI).  The policy is tls = required, tls_verify = host
unless a case says otherwise, and recipients are in rcpt.example, a name no
certificate carries: only the MX host name can make a certificate match.

Cases: MX preference order; equal preferences both used over repeated runs;
the next MX after a refused connection, a missing STARTTLS (required), a 4xx
banner, a certificate for the wrong name; plaintext to the first MX under
ifavailable; every MX failing (75, one line per host, the last host's
reason), also cut short by --mx-address-limit and by --attempt-timeout (one
deadline for the whole run); a 5xx to RCPT (69, no further MX); no MX (the
domain's A record, the certificate checked against the domain); null MX (69,
556 5.1.10, no connection); NXDOMAIN (69, 5.4.4); a REFUSED zone and a
resolver that never answers (75, 4.4.3, within the deadline); [name]:P (no MX
query in unbound's query log) and an IP literal (no query at all); the
resolver directive, and --resolver winning over it; SNI and the verified name
are those of the MX actually used; --mx-name refused with an MX lookup.

Environment (set by meson): MTATLS_SEND, MTATLS_TEST_MODULE, MTATLS_TEST_PKI,
MTATLS_TEST_FAKES (the smtp-sink is support/smtp-sink under it, or
MTATLS_SMTP_SINK).  Exits 77 (skipped) without them or without unbound.
Options: -k SUBSTRING runs the matching cases only; -v prints every run's
stderr.  Prints `ok NAME` / `FAIL NAME: why` per case and `N passed, N
failed`; exits 1 when a case failed.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUPPORT = os.path.normpath(os.path.join(HERE, "..", "support"))
sys.path.insert(0, SUPPORT)
sys.dont_write_bytecode = True   # no __pycache__ in the source tree

import hostile_server as hs  # noqa: E402
import unbound_server  # noqa: E402
from hostile_server import TLSParams, close, good_server, send, sleep  # noqa: E402

SEND = os.environ.get("MTATLS_SEND", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
SINK = os.environ.get("MTATLS_SMTP_SINK", "") or os.path.join(
    os.environ.get("MTATLS_TEST_FAKES", ""), "support", "smtp-sink")
# MTATLS_TEST_SLOWDOWN=F (scripts/valgrind sets it): processes run up to F
# times slower; slack and the limits of cases that do not test them grow
# with F (as in tests/shim/commands/mtatls_send_test.py).
SLOWDOWN = float(os.environ.get("MTATLS_TEST_SLOWDOWN", "1") or 1)
SLACK = 2.0 + 4.0 * (SLOWDOWN - 1)
DEFAULT_TIMEOUT = round(5 * SLOWDOWN)
DEFAULT_ATTEMPT_TIMEOUT = round(20 * SLOWDOWN)

HOSTS = "hosts.example"
RCPT = "user@rcpt.example"
SENDER = "sender@client.example"
MESSAGE = b"From: <sender@client.example>\nTo: <user@rcpt.example>\nSubject: mx test\n\nbody\n"
ATTEMPT_KEYS = ["status", "relay", "domain", "tls_policy", "verify_policy", "tls", "cipher", "bits",
                "verified", "subject", "issuer", "code", "dsn", "reason", "delay"]


def h(n):
    return "h%d.%s" % (n, HOSTS)


# ---- the zones ----------------------------------------------------------------------

def mx(domain, *targets):
    return ["%s. MX %d %s." % (domain, pref, h(n)) for pref, n in targets]


RECORDS = (["%s. A 127.0.0.%d" % (h(n), n) for n in range(2, 10)]
           + mx("pref.example", (10, 2), (20, 3))
           + mx("equal.example", (10, 2), (10, 3))
           + mx("down.example", (10, 4), (20, 2))
           + mx("nostarttls.example", (10, 5), (20, 2))
           + mx("greeting.example", (10, 6), (20, 2))
           + mx("wrongname.example", (10, 7), (20, 2))
           + mx("allfail.example", (10, 4), (20, 6), (30, 5))
           + mx("rcpt5xx.example", (10, 8), (20, 2))
           + mx("sni.example", (10, 4), (20, 9))
           + mx("slow.example", (10, 6), (20, 2))
           + ["implicit.example. A 127.0.0.9",
              "nullmx.example. MX 0 ."])
ZONES = {z: "static" for z in (HOSTS, "pref.example", "equal.example", "down.example",
                               "nostarttls.example", "greeting.example", "wrongname.example",
                               "allfail.example", "rcpt5xx.example", "sni.example", "slow.example",
                               "implicit.example", "nullmx.example")}
ZONES["refused.example"] = "refuse"


# ---- certificates ------------------------------------------------------------------

def make_cert(work, name, sans):
    """A server certificate NAME.pem/NAME.key for `sans`, signed by the test
    CA (its own random serial: no shared serial file)."""
    key, csr, pem, ext = (os.path.join(work, name + s) for s in (".key", ".csr", ".pem", ".ext"))
    san = ",".join("DNS:" + s for s in sans)
    with open(ext, "w", encoding="utf-8") as f:
        f.write("basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % san)
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-subj", "/O=mtatls test/CN=" + sans[0], "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(PKI, "ca.pem"), "-CAkey",
        os.path.join(PKI, "ca.key"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
        "-days", "2", "-sha256", "-extfile", ext, "-out", pem)
    return pem, key


# ---- the servers ---------------------------------------------------------------------

class PortServer(hs.HostileServer):
    """A hostile server on a given port (the base class picks a free one).
    `scripts` may be replaced between cases: every new connection takes the
    first (and only) script."""

    def __init__(self, scripts, host, port):
        super().__init__(scripts, host=host, max_connections=10000)
        self.fixed_port = port

    def start(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((self.host, self.fixed_port))
        self.listener.listen(16)
        self.port = self.fixed_port
        t = threading.Thread(target=self._accept_loop, name="mx-%s" % self.host, daemon=True)
        t.start()
        self.threads.append(t)
        return self


def free_common_port():
    """A TCP port free on every one of 127.0.0.2-9."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.2", 0))
            port = s.getsockname()[1]
        ok = True
        for n in range(3, 10):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.%d" % n, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no port free on all of 127.0.0.2-9")


def silent_udp_port():
    """A bound UDP socket nobody reads: a DNS server that never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


class World:
    """Every server of the run; per case, the counts before it."""

    def __init__(self, work):
        self.work = work
        self.port = free_common_port()
        self.sinks = {}       # n -> (Popen, maildir)
        self.hostile = {}     # n -> PortServer
        self.default_scripts = {}
        self.dns = None
        self.silent = None

    def start(self):
        certs = {n: make_cert(self.work, "h%d" % n, [h(n)]) for n in (2, 3, 8)}
        certs[7] = make_cert(self.work, "h7", ["wrong.example"])
        certs[9] = make_cert(self.work, "h9", [h(9), "implicit.example"])
        for n, extra in ((2, []), (3, []), (7, []), (8, ["--reject-rcpt", "@"])):
            maildir = os.path.join(self.work, "maildir-h%d" % n)
            pem, key = certs[n]
            log = open(os.path.join(self.work, "sink-h%d.log" % n), "wb")
            proc = subprocess.Popen([SINK, "--listen", "127.0.0.%d:%d" % (n, self.port), "--cert", pem,
                                     "--key", key, "--maildir", maildir, "--hostname", h(n)] + extra,
                                    stdout=subprocess.PIPE, stderr=log)
            line = proc.stdout.readline().decode(errors="replace")
            if not line.startswith("ready "):
                raise RuntimeError("smtp-sink h%d did not start: %r" % (n, line))
            self.sinks[n] = (proc, maildir)
        pem, key = certs[9]
        tls = TLSParams(cert=pem, key=key)
        self.default_scripts = {
            5: [good_server(advertise_starttls=False, banner=b"220 h5 ESMTP no TLS here\r\n")],
            6: [[send(b"421 4.3.2 h6 busy, try another MX\r\n"), close()]],
            9: [good_server(tls=tls, banner=b"220 h9 ESMTP\r\n", hostname=h(9))],
        }
        for n, scripts in self.default_scripts.items():
            self.hostile[n] = PortServer(scripts, "127.0.0.%d" % n, self.port).start()
        self.silent = silent_udp_port()
        self.dns = unbound_server.UnboundServer(records=RECORDS, zones=ZONES)
        self.dns.start()
        self.dead_resolver = "127.0.0.1@%d" % self.silent.getsockname()[1]

    def stop(self):
        for server in self.hostile.values():
            server.stop(grace=0.5)
        for proc, _ in self.sinks.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.dns is not None:
            self.dns.stop()
        if self.silent is not None:
            self.silent.close()

    def delivered(self, n):
        """Messages host n accepted so far."""
        if n in self.sinks:
            new = os.path.join(self.sinks[n][1], "new")
            return len(os.listdir(new)) if os.path.isdir(new) else 0
        return sum(1 for m in self.hostile[n].messages if m.accepted)

    def connections(self, n):
        return len(self.hostile[n].connections) if n in self.hostile else None

    def snapshot(self):
        return {n: (self.delivered(n), self.connections(n)) for n in (2, 3, 5, 6, 7, 8, 9)}


# ---- running mtatls-send ----------------------------------------------------------------

TOKEN = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def parse_line(line):
    prefix = "mtatls-send: "
    if not line.startswith(prefix + "status="):
        return None
    fields = {}
    for key, value in TOKEN.findall(line[len(prefix):]):
        if value.startswith('"'):
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        fields[key] = value
    return fields


class Run:
    def __init__(self, code, stderr, elapsed, queries):
        self.code = code
        self.stderr = stderr
        self.elapsed = elapsed
        self.queries = queries     # unbound's query-log lines during the run
        self.lines = [f for f in (parse_line(l) for l in stderr.splitlines()) if f is not None]
        self.raw_lines = [l for l in stderr.splitlines() if l.startswith("mtatls-send: status=")]


def write_config(work, name, text):
    path = os.path.join(work, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


class Env:
    world = None
    configs = {}
    verbose = False


def deliver(next_hop, config="required", resolver="live", args=(), timeout=DEFAULT_TIMEOUT,
            attempt_timeout=DEFAULT_ATTEMPT_TIMEOUT, rcpt=RCPT):
    world = Env.world
    cmd = [SEND, "--config", Env.configs[config], "--module", MODULE, "--next-hop", next_hop,
           "--helo", "client.example", "--timeout", str(timeout),
           "--attempt-timeout", str(attempt_timeout)]
    if resolver == "live":
        cmd += ["--resolver", world.dns.resolver]
    elif resolver == "dead":
        cmd += ["--resolver", world.dead_resolver]
    cmd += list(args) + ["-f", SENDER, "--", rcpt]
    log_before = len(world.dns.log())
    t0 = time.monotonic()
    p = subprocess.run(cmd, input=MESSAGE, capture_output=True, timeout=60 * SLOWDOWN)
    elapsed = time.monotonic() - t0
    time.sleep(0.05)   # let unbound's log catch up
    queries = [l for l in world.dns.log()[log_before:].splitlines() if " IN" in l and "info:" in l]
    run = Run(p.returncode, p.stderr.decode(errors="replace"), elapsed, queries)
    if Env.verbose:
        print("  $ " + " ".join(cmd) + "\n  " + run.stderr.replace("\n", "\n  "))
    return run


# ---- expectations ------------------------------------------------------------------------

def relay(n, port=None):
    return "%s[127.0.0.%d]:%d" % (h(n), n, port or Env.world.port)


def check_lines(run, want, why):
    """`want`: one dict per attempt line, in order; values are exact strings
    or compiled regexes."""
    got = run.lines
    if len(got) != len(want):
        why.append("%d attempt lines, want %d" % (len(got), len(want)))
    for i, (line, expected) in enumerate(zip(got, want)):
        keys = [k for k, _ in TOKEN.findall(run.raw_lines[i][len("mtatls-send: "):])]
        if keys != ATTEMPT_KEYS:
            why.append("line %d keys %s" % (i + 1, keys))
        for key, value in expected.items():
            have = line.get(key)
            ok = value.search(have or "") if hasattr(value, "search") else have == value
            if not ok:
                why.append("line %d: %s=%r, want %r" % (i + 1, key, have, getattr(value, "pattern", value)))


def counts_changed(before, after, expected):
    """`expected`: {n: (new deliveries, new connections or None)}; every host
    not named must be unchanged."""
    why = []
    for n in before:
        d0, c0 = before[n]
        d1, c1 = after[n]
        want_d, want_c = expected.get(n, (0, 0))
        if want_d is not None and d1 - d0 != want_d:
            why.append("h%d accepted %d new messages, want %d" % (n, d1 - d0, want_d))
        if c0 is not None and want_c is not None and c1 - c0 != want_c:
            why.append("h%d had %d new connections, want %d" % (n, c1 - c0, want_c))
    return why


SENT_TLS = {"status": "sent", "tls": re.compile(r"^TLSv1\.[23]$"), "verified": "yes",
            "code": "250", "dsn": "2.0.0", "domain": "rcpt.example"}


def sent_tls(n, **extra):
    return dict(SENT_TLS, relay=relay(n), **extra)


def deferred(n, dsn, reason=None, **extra):
    line = {"status": "deferred", "relay": relay(n), "dsn": dsn}
    if reason:
        line["reason"] = re.compile(re.escape(reason))
    line.update(extra)
    return line


class Case:
    def __init__(self, name, next_hop, code, lines=None, hosts=None, check=None, repeat=1,
                 scripts=None, **run_args):
        self.name = name
        self.next_hop = next_hop
        self.code = code
        self.lines = lines             # list of dicts, or None: not checked
        self.hosts = hosts             # {n: (deliveries, connections)}: counts checked
        self.check = check             # function(run, why) for anything else
        self.repeat = repeat
        self.scripts = scripts or {}   # {n: script} for this case only
        self.run_args = run_args

    def run(self):
        world = Env.world
        why = []
        for n, script in self.scripts.items():
            world.hostile[n].scripts = [script]
        try:
            before = world.snapshot()
            runs = []
            for _ in range(self.repeat):
                nh = self.next_hop.replace("@P", str(world.port))
                r = deliver(nh, **self.run_args)
                runs.append(r)
                if r.code != self.code:
                    why.append("exit %d, want %d" % (r.code, self.code))
                if self.lines is not None:
                    check_lines(r, self.lines, why)
                if self.check is not None:
                    self.check(r, why)
                if why:
                    why.append("stderr:\n    " + r.stderr.strip().replace("\n", "\n    "))
                    break
            for srv in world.hostile.values():
                srv.wait_idle(3.0 * SLOWDOWN)
            if self.hosts is not None and not why:
                why += counts_changed(before, world.snapshot(), self.hosts)
            if self.repeat > 1 and not why and hasattr(self, "check_all"):
                self.check_all(runs, why)
        finally:
            for n in self.scripts:
                world.hostile[n].scripts = world.default_scripts[n]
        return why


def no_mx_query(name):
    def check(run, why):
        if any(" MX IN" in q for q in run.queries):
            why.append("MX queried: %s" % [q for q in run.queries if " MX IN" in q])
        if not any("%s. A IN" % name in q for q in run.queries):
            why.append("no A query for %s: %s" % (name, run.queries))
    return check


def no_query(run, why):
    if run.queries:
        why.append("DNS queried: %s" % run.queries)


def mx_query(name):
    def check(run, why):
        if not any("%s. MX IN" % name in q for q in run.queries):
            why.append("no MX query for %s in unbound's log: %s" % (name, run.queries))
    return check


def all_of(*checks):
    def check(run, why):
        for c in checks:
            c(run, why)
    return check


def elapsed_between(lo, hi):
    def check(run, why):
        if not lo <= run.elapsed <= hi:
            why.append("took %.2f s, want %.1f-%.1f s" % (run.elapsed, lo, hi))
    return check


def sni_was(n, name):
    def check(run, why):
        conns = Env.world.hostile[n].connections
        hello = conns[-1].hello if conns else None
        if hello is None or hello.sni != name:
            why.append("h%d saw SNI %r, want %r" % (n, getattr(hello, "sni", None), name))
    return check


def both_equal_hosts_used(runs, why):
    relays = [r.lines[0].get("relay") for r in runs if r.lines]
    for n in (2, 3):
        if relays.count(relay(n)) == 0:
            why.append("h%d never came first in %d runs: %s" % (n, len(runs), relays))


def build_cases():
    port = "@P"
    nxdomain_reason = ("[internal] Host or domain name not found. Name service error for "
                       "name=gone.hosts.example type=MX: Host not found")
    equal = Case("equal preferences: both hosts come first over 16 runs", "equal.example:" + port, 0,
                 repeat=16, check=lambda r, why: check_lines(r, [{"status": "sent"}], why),
                 hosts={2: (None, None), 3: (None, None)})
    equal.check_all = both_equal_hosts_used
    cases = [
        Case("preference order: the lowest preference first", "pref.example:" + port, 0,
             lines=[sent_tls(2)], hosts={2: (3, None)}, repeat=3,
             check=mx_query("pref.example")),
        equal,
        Case("first MX refuses the connection: the second", "down.example:" + port, 0,
             lines=[deferred(4, "4.4.1", "connect to %s: Connection refused" % relay(4),
                             tls_policy="-", tls="none"),
                    sent_tls(2)],
             hosts={2: (1, None)}),
        Case("first MX without STARTTLS under required: the next", "nostarttls.example:" + port, 0,
             lines=[deferred(5, "4.7.6", "[internal] STARTTLS required but not advertised"),
                    sent_tls(2)],
             hosts={5: (0, 1), 2: (1, None)}),
        Case("first MX without STARTTLS under ifavailable: plaintext to it",
             "nostarttls.example:" + port, 0, config="ifavailable",
             lines=[{"status": "sent", "relay": relay(5), "tls": "none", "tls_policy": "ifavailable"}],
             hosts={5: (1, 1)}),
        Case("4xx banner: the next MX", "greeting.example:" + port, 0,
             lines=[deferred(6, "4.3.2", "h6 busy, try another MX", code="421"), sent_tls(2)],
             hosts={6: (0, 1), 2: (1, None)}),
        Case("certificate for the wrong name: the next MX", "wrongname.example:" + port, 0,
             lines=[deferred(7, "4.7.5", "[internal] SSL certificate subject does not match host "
                             "(no certificate name matches %s or rcpt.example)" % h(7),
                             verified="no", subject=re.compile("CN=wrong.example")),
                    sent_tls(2)],
             hosts={2: (1, None)}),
        Case("every MX fails: 75, every host logged, the last host's reason",
             "allfail.example:" + port, 75,
             lines=[deferred(4, "4.4.1"), deferred(6, "4.3.2"),
                    deferred(5, "4.7.6", "STARTTLS required but not advertised")],
             hosts={6: (0, 1), 5: (0, 1)}),
        Case("--mx-address-limit 2: the third MX is not tried", "allfail.example:" + port, 75,
             args=["--mx-address-limit", "2"],
             lines=[deferred(4, "4.4.1"), deferred(6, "4.3.2")],
             hosts={6: (0, 1), 5: (0, 0)}),
        Case("one deadline for the whole run: a stalled first MX leaves no time for the second",
             "slow.example:" + port, 75, timeout=10, attempt_timeout=3,
             scripts={6: [sleep(30)]},
             lines=[deferred(6, "4.4.2", "attempt time limit reached")],
             hosts={6: (0, 1), 2: (0, None)},
             check=elapsed_between(2.5, 3 + SLACK)),
        Case("a stalled first MX within the deadline: the second MX",
             "slow.example:" + port, 0, timeout=round(2 * SLOWDOWN),
             attempt_timeout=DEFAULT_ATTEMPT_TIMEOUT,
             scripts={6: [sleep(30)]},
             lines=[deferred(6, "4.4.2", "timed out waiting for the reply to the greeting"),
                    sent_tls(2)],
             hosts={6: (0, 1), 2: (1, None)}),
        Case("5xx to RCPT: 69, no further MX", "rcpt5xx.example:" + port, 69,
             lines=[{"status": "bounced", "relay": relay(8), "code": "550", "dsn": "5.1.1"}],
             hosts={2: (0, None)}),
        Case("SNI and the verified name are the MX actually used", "sni.example:" + port, 0,
             lines=[deferred(4, "4.4.1"), sent_tls(9, subject=re.compile("CN=" + re.escape(h(9))))],
             hosts={9: (1, 1)}, check=sni_was(9, h(9))),
        Case("no MX: the domain's A record, its name is the one checked",
             "implicit.example:" + port, 0,
             lines=[dict(SENT_TLS, relay="implicit.example[127.0.0.9]:%d" % Env.world.port)],
             hosts={9: (1, 1)},
             check=all_of(sni_was(9, "implicit.example"), mx_query("implicit.example"))),
        Case("null MX: 69, 556 5.1.10, no connection", "nullmx.example:" + port, 69,
             lines=[{"status": "bounced", "relay": "nullmx.example[-]:%d" % Env.world.port,
                     "code": "556", "dsn": "5.1.10", "tls_policy": "-",
                     "reason": "[internal] Domain nullmx.example does not accept mail (null MX)"}],
             hosts={}),
        Case("NXDOMAIN: 69, 550 5.4.4", "gone.hosts.example:" + port, 69,
             lines=[{"status": "bounced", "code": "550", "dsn": "5.4.4", "reason": nxdomain_reason,
                     "relay": "gone.hosts.example[-]:%d" % Env.world.port}],
             hosts={}),
        Case("a REFUSED zone: 75, 4.4.3", "refused.example:" + port, 75,
             lines=[{"status": "deferred", "code": "451", "dsn": "4.4.3",
                     "reason": re.compile(r"name=refused\.example type=MX: the resolver answered "
                                          r"SERVFAIL \(will try again\)")}],
             hosts={}),
        Case("a resolver that never answers: 75, 4.4.3, within --attempt-timeout",
             "pref.example:" + port, 75, resolver="dead", attempt_timeout=3,
             lines=[{"status": "deferred", "code": "451", "dsn": "4.4.3",
                     "reason": re.compile("no answer from the DNS server in time")}],
             hosts={}, check=elapsed_between(2.5, 3 + SLACK)),
        Case("[name]:port: its addresses, no MX query", "[%s]:%s" % (h(3), port), 0,
             lines=[sent_tls(3)], hosts={3: (1, None)}, check=no_mx_query(h(3))),
        Case("IP literal with --mx-name: no DNS at all", "127.0.0.3:" + port, 0,
             args=["--mx-name", h(3)], lines=[sent_tls(3)], hosts={3: (1, None)},
             check=no_query),
        Case("the resolver directive is used without --resolver", "pref.example:" + port, 0,
             config="resolver-live", resolver=None, lines=[sent_tls(2)], hosts={2: (1, None)},
             check=mx_query("pref.example")),
        Case("--resolver wins over the resolver directive", "pref.example:" + port, 0,
             config="resolver-dead", resolver="live", lines=[sent_tls(2)], hosts={2: (1, None)},
             check=elapsed_between(0, SLACK)),
        Case("the resolver directive alone, on a dead server: 75 4.4.3", "pref.example:" + port, 75,
             config="resolver-dead", resolver=None, attempt_timeout=2,
             lines=[{"status": "deferred", "dsn": "4.4.3"}], hosts={}),
        Case("--mx-name with an MX lookup is a usage error", "pref.example:" + port, 64,
             args=["--mx-name", h(2)], lines=[], hosts={},
             check=lambda r, why: None if "--mx-name cannot be used with an MX lookup" in r.stderr
             else why.append("no usage message")),
    ]
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", default="", help="run the cases whose name contains this")
    parser.add_argument("-v", action="store_true", help="print every run's stderr")
    opts = parser.parse_args()
    missing = [n for n, v in (("MTATLS_SEND", SEND), ("MTATLS_TEST_MODULE", MODULE),
                              ("MTATLS_TEST_PKI", PKI)) if not v]
    if missing or not os.path.exists(SINK) or not unbound_server.available():
        print("SKIP: needs %s" % (", ".join(missing) or ("smtp-sink at " + SINK if not os.path.exists(SINK)
                                                         else unbound_server.UNBOUND)))
        return 77
    Env.verbose = opts.v
    work = tempfile.mkdtemp(prefix="mtatls-mx-test-")
    world = World(work)
    passed = failed = 0
    try:
        world.start()
        Env.world = world
        base = "tls: %s\ntls_verify: %s\ntls_ca: %s\n"
        ca = os.path.join(PKI, "ca.pem")
        Env.configs = {
            "required": write_config(work, "required.yaml", base % ("required", "host", ca)),
            "ifavailable": write_config(work, "ifavailable.yaml", base % ("ifavailable", "host", ca)),
            "resolver-live": write_config(work, "resolver-live.yaml", base % ("required", "host", ca)
                                          + "resolver: \"%s\"\n" % world.dns.resolver),
            "resolver-dead": write_config(work, "resolver-dead.yaml", base % ("required", "host", ca)
                                          + "resolver: \"%s\"\n" % world.dead_resolver),
        }
        for case in build_cases():
            if opts.k and opts.k not in case.name:
                continue
            try:
                why = case.run()
            except Exception as e:  # a broken case must not hide the others
                why = ["exception: %r" % e]
            if why:
                failed += 1
                print("FAIL %s: %s" % (case.name, "; ".join(why)))
            else:
                passed += 1
                print("ok %s" % case.name)
            sys.stdout.flush()
    except Exception as e:
        print("FAIL set-up: %r" % e)
        failed += 1
    finally:
        world.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
