#!/usr/bin/python3
"""policyd_test.py - mtatls-policyd through its sockets, with the real module:
lookups over a UNIX and a TCP socket, Postfix's own socketmap client
(postmap), many clients at once, pipelined requests, malformed and oversized
input, the limits (clients, idle time), SIGHUP with a good and a bad file,
SIGTERM, start-up failures, and warnings logged once per problem.

Environment (set by meson): MTATLS_POLICYD, MTATLS_TEST_MODULE,
MTATLS_TEST_PKI.  Prints one line per case and a final "N passed, N failed".
No timing assertions: waits are bounded only so that a hang fails the case.
"""
import os
import queue
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from case_runner import CaseFailure, expect, run_cases  # noqa: E402

POLICYD = os.environ.get("MTATLS_POLICYD", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
POSTMAP = "/usr/sbin/postmap"
SLOW = float(os.environ.get("MTATLS_TEST_SLOWDOWN", "1"))
WORK = tempfile.mkdtemp(prefix="mtatls-policyd-test-")
os.chmod(WORK, 0o755)

CONFIG = """\
tls: ifavailable
domain:
  bank.example: {tls: required, tls_verify: host, tls_ca: "@PKI@/ca.pem"}
  legacy.example: {tls: required, tls_verify: ca, tls_ca: "@PKI@/ca.pem"}
  plain.example: {tls: "no"}
binding:
  customer-1:
    domain:
      partner.example: {tls: required, tls_protocols: "-ALL:+TLSv1.3"}
"""
COMMON = "ciphers=medium exclude=aNULL:CAMELLIA:ARIA:AESCCM:DSS servername=hostname"
MAY = "OK may protocols=>=TLSv1.2 " + COMMON
BANK = ("OK verify match=hostname:nexthop tafile=%s/ca.pem protocols=>=TLSv1.2 " % PKI) + COMMON


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("@PKI@", PKI))
    return path


# -- netstrings ------------------------------------------------------------------

def netstring(payload):
    data = payload.encode() if isinstance(payload, str) else payload
    return b"%d:%s," % (len(data), data)


class Client:
    """One socketmap connection; request() sends one netstring and reads one."""

    def __init__(self, address, timeout=10.0):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout * SLOW)
        self.sock.connect(address)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """The next reply payload as text, or None at EOF."""
        while True:
            m = re.match(rb"(\d+):", self.buffer)
            if m:
                length = int(m.group(1))
                end = m.end() + length
                if len(self.buffer) > end:
                    if self.buffer[end:end + 1] != b",":
                        raise CaseFailure("reply not a netstring: %r" % self.buffer[:80])
                    payload = self.buffer[m.end():end]
                    self.buffer = self.buffer[end + 1:]
                    return payload.decode()
            elif self.buffer and not re.match(rb"\d*$", self.buffer):
                raise CaseFailure("reply not a netstring: %r" % self.buffer[:80])
            chunk = self.sock.recv(65536)
            if not chunk:
                if self.buffer:
                    raise CaseFailure("EOF inside a reply: %r" % self.buffer[:80])
                return None
            self.buffer += chunk

    def request(self, name, key):
        self.send(netstring("%s %s" % (name, key)))
        return self.reply()

    def at_eof(self):
        """True when the server closed the connection (nothing more to read)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


# -- the daemon --------------------------------------------------------------------

class Daemon:
    """mtatls-policyd in the background; its stderr is collected line by line."""

    def __init__(self, config, *listen, extra=()):
        self.sock_path = os.path.join(WORK, "policy-%d.sock" % id(self))
        args = [POLICYD, "--module", MODULE, "--config", config]
        self.listen = listen or ("unix:" + self.sock_path, "inet:127.0.0.1:0")
        for address in self.listen:
            args += ["--listen", address]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        started = self.wait_for(r"info: started: .* listening on (.*), at most")
        expect(started, "the daemon did not start", self.log())
        self.inet = None
        m = re.search(r"inet:127\.0\.0\.1:(\d+)", started.group(1))
        if m:
            self.inet = ("127.0.0.1", int(m.group(1)))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            self.queue.put(None)

    def log(self):
        return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=10.0, start=0):
        """The first log line from index `start` on matching `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        while True:
            for line in self.lines[start:]:
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() > deadline or self.proc.poll() is not None and self.queue.empty():
                for line in self.lines[start:]:  # one last look
                    m = rx.search(line)
                    if m:
                        return m
                return None
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass

    def count(self, pattern):
        return sum(1 for line in self.lines if re.search(pattern, line))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# -- cases ----------------------------------------------------------------------------

def case_lookups_unix_and_inet():
    config = write("basic.yaml", CONFIG)
    with Daemon(config) as d:
        expect(d.inet is not None, "no inet port in the start line", d.log())
        want = [
            ("default", "bank.example", BANK),
            ("default", "BANK.example.", BANK),
            ("default", "other.example", MAY),
            ("default", "[mx.other.example]:587", MAY),
            ("default", "plain.example", "OK none"),
            ("default", ".example", "NOTFOUND "),
            ("default", "partner.example", MAY),
            ("customer-1", "partner.example",
             "OK encrypt protocols=>=TLSv1.3 " + COMMON),
            ("nosuchbinding", "bank.example", BANK),
            ("default", "bad key", None),
        ]
        for address in (d.sock_path, d.inet):
            c = Client(address)
            for name, key, reply in want:
                got = c.request(name, key)
                if reply is None:
                    expect(got.startswith("PERM invalid next-hop"), "%s %s: got %r, want PERM"
                           % (name, key, got))
                else:
                    expect(got == reply, "%s %s over %s: got %r, want %r"
                           % (name, key, address, got, reply), d.log())
            c.close()
        mode = stat.S_IMODE(os.stat(d.sock_path).st_mode)
        expect(mode == 0o660, "socket mode %o, want 660" % mode)
    expect(not os.path.exists(d.sock_path), "socket file left after SIGTERM")
    return "%d lookups on each socket, replies as mapped" % len(want)


def case_postmap_client():
    if not os.access(POSTMAP, os.X_OK):
        return "skipped: no postmap"
    config = write("postmap.yaml", CONFIG)
    with Daemon(config) as d:
        keys = "bank.example\nother.example\nplain.example\n[mx.other.example]:587\n"
        for table in ("socketmap:unix:%s:default" % d.sock_path,
                      "socketmap:inet:127.0.0.1:%d:default" % d.inet[1]):
            r = subprocess.run([POSTMAP, "-q", "-", table], input=keys, capture_output=True,
                               text=True, timeout=30 * SLOW)
            expect(r.returncode == 0, "postmap %s: exit %d" % (table, r.returncode), r.stderr)
            got = dict(line.split("\t", 1) for line in r.stdout.splitlines())
            expect(got.get("bank.example") == BANK[3:], "postmap bank.example: %r" % got)
            expect(got.get("plain.example") == "none", "postmap plain.example: %r" % got)
            expect(got.get("[mx.other.example]:587") == MAY[3:], "postmap bracketed: %r" % got)
        r = subprocess.run([POSTMAP, "-q", "partner.example",
                            "socketmap:unix:%s:customer-1" % d.sock_path],
                           capture_output=True, text=True, timeout=30 * SLOW)
        expect(r.stdout.strip() == "encrypt protocols=>=TLSv1.3 " + COMMON,
               "postmap with name customer-1: %r" % r.stdout, r.stderr)
    return "Postfix's own socketmap client gets the same answers, unix and inet"


def case_pipelined():
    config = write("pipe.yaml", CONFIG)
    with Daemon(config) as d:
        c = Client(d.sock_path)
        keys = ["d%d.example" % i if i % 3 else "bank.example" for i in range(500)]
        c.send(b"".join(netstring("default " + k) for k in keys))
        for i, key in enumerate(keys):
            got = c.reply()
            expect(got == (BANK if key == "bank.example" else MAY),
                   "reply %d for %s: %r" % (i, key, got))
        # The connection is still usable afterwards.
        expect(c.request("default", "bank.example") == BANK, "request after the pipeline")
        c.close()
    return "500 requests in one write, 500 replies in order"


def case_concurrent_clients():
    config = write("conc.yaml", CONFIG)
    errors = []
    with Daemon(config) as d:
        def worker(n):
            try:
                c = Client(d.sock_path if n % 2 else d.inet)
                for i in range(100):
                    key = "bank.example" if (i + n) % 2 else "x%d-%d.example" % (n, i)
                    got = c.request("default", key)
                    if got != (BANK if key == "bank.example" else MAY):
                        errors.append("client %d lookup %d: %r" % (n, i, got))
                        return
                c.close()
            except Exception as e:  # reported below
                errors.append("client %d: %r" % (n, e))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60 * SLOW)
        expect(not errors, "%d clients failed" % len(errors), "\n".join(errors[:5]))
        expect(d.proc.poll() is None, "the daemon died", d.log())
    return "32 clients x 100 lookups at once, unix and inet, all right"


def case_malformed_and_oversized():
    config = write("bad.yaml", CONFIG)
    rows = [
        ("text instead of a netstring", b"default bank.example\n",
         "PERM malformed request: a netstring must start with its length in decimal digits"),
        ("no comma", b"3:abcX", "PERM malformed request: the netstring payload is not followed by ','"),
        ("leading zero", b"03:abc,", "PERM malformed request: the netstring length has a leading zero"),
        ("over the request limit", b"10001:" + b"x" * 100,
         "PERM request longer than 10000 bytes (the netstring announces at least 10001)"),
        ("endless digits", b"9" * 5000, "PERM request longer than 10000 bytes"),
        ("binary", bytes(range(256)), "PERM malformed request"),
    ]
    with Daemon(config) as d:
        for name, data, want in rows:
            c = Client(d.sock_path)
            expect(c.request("default", "bank.example") == BANK, "%s: first request" % name)
            c.send(data)
            got = c.reply()
            expect(got is not None and got.startswith(want), "%s: got %r, want %r" % (name, got, want))
            expect(c.reply() is None, "%s: the connection stays open after a framing error" % name)
            c.close()
        # Well-framed nonsense: PERM, and the connection goes on.
        c = Client(d.inet)
        for payload, want in ((b"nospace", "PERM malformed request: no space between name and key"),
                              (b"default ", "PERM malformed request: empty key"),
                              (b"default a\x00b", "PERM malformed request: control character"),
                              (b"default " + b"a" * 9000, "PERM invalid next-hop")):
            c.send(netstring(payload))
            got = c.reply()
            expect(got.startswith(want), "%r: got %r" % (payload[:20], got))
        expect(c.request("default", "bank.example") == BANK, "request after PERM replies")
        c.close()
        # A client that leaves in the middle of a request.
        c = Client(d.sock_path)
        c.send(b"100:default ban")
        c.close()
        expect(d.wait_for(r"closed the connection in the middle of a request"),
               "no log line for the half request", d.log())
        # One log line per problem, and the daemon still serves.
        expect(d.count(r"answered PERM and closing the connection") == len(rows),
               "want %d PERM-and-close log lines" % len(rows), d.log())
        c = Client(d.sock_path)
        expect(c.request("default", "bank.example") == BANK, "the daemon no longer answers")
        c.close()
        expect(d.proc.poll() is None, "the daemon died", d.log())
    return "%d framing errors answered PERM and closed, 4 bad requests PERM on a live connection" % len(rows)


def case_client_limit_and_idle():
    config = write("limit.yaml", CONFIG)
    with Daemon(config, extra=["--max-clients", "2", "--idle-timeout", "2"]) as d:
        a, b = Client(d.sock_path), Client(d.sock_path)
        expect(a.request("default", "bank.example") == BANK, "client a")
        expect(b.request("default", "bank.example") == BANK, "client b")
        # A third client connects (the backlog) but is served only when a
        # slot frees up.
        c = Client(d.sock_path, timeout=30)
        c.send(netstring("default bank.example"))
        c.sock.settimeout(0.5)
        try:
            early = c.sock.recv(100)
        except socket.timeout:
            early = None
        expect(early is None, "the third client was served beyond --max-clients 2: %r" % early)
        expect(d.wait_for(r"warning: client limit \(2\) reached"), "no client-limit log line", d.log())
        a.close()
        c.sock.settimeout(30 * SLOW)
        expect(c.reply() == BANK, "the waiting client was not served after a slot freed")
        # Idle connections are closed by the server.
        b.sock.settimeout(30 * SLOW)
        expect(b.reply() is None, "an idle client was not disconnected")
        c.close()
    return "third client waits for a slot; idle clients closed after --idle-timeout"


def case_reload():
    config = write("reload.yaml", CONFIG)
    with Daemon(config) as d:
        c = Client(d.sock_path)
        expect(c.request("default", "other.example") == MAY, "before the reload")
        # A good file: the new policy applies on the same connection.
        write("reload.yaml", CONFIG.replace("tls: ifavailable", "tls: required"))
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        expect(d.wait_for(r"info: reloaded .*reload\.yaml", start=mark), "no reload line", d.log())
        got = c.request("default", "other.example")
        expect(got == "OK encrypt protocols=>=TLSv1.2 " + COMMON, "after a good reload: %r" % got)
        # A bad file: errors logged, the previous configuration stays.
        write("reload.yaml", CONFIG.replace("tls: ifavailable", "tls: maybe"))
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        failed = d.wait_for(r"error: reload of .* failed \(1 error\); the previous configuration "
                            r"stays in force", start=mark)
        expect(failed, "no reload-failed line", d.log())
        expect(d.wait_for(r"reload\.yaml:1:6: error: \[global\] tls: invalid value", start=mark),
               "the file's error is not logged with its position", d.log())
        got = c.request("default", "other.example")
        expect(got == "OK encrypt protocols=>=TLSv1.2 " + COMMON,
               "after a bad reload the previous policy must stay: %r" % got)
        # A missing file: the same.
        os.rename(config, config + ".away")
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        expect(d.wait_for(r"reload of .* failed", start=mark), "no failure for a missing file", d.log())
        expect(c.request("default", "bank.example") == BANK, "after a reload of a missing file")
        os.rename(config + ".away", config)
        # Fixed again.
        write("reload.yaml", CONFIG)
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        expect(d.wait_for(r"info: reloaded", start=mark), "no reload after the fix", d.log())
        expect(c.request("default", "other.example") == MAY, "after the fix")
        c.close()
    return "good reload applied, bad and missing files kept the old policy"


def case_reload_under_load():
    # Lookups go on while a reload runs on its own thread.
    domains = "".join("  d%d.example: {tls: required}\n" % i for i in range(3000))
    config = write("big.yaml", "tls: ifavailable\ndomain:\n" + domains)
    stop = threading.Event()
    errors = []
    counts = [0]
    with Daemon(config) as d:
        def hammer():
            c = Client(d.sock_path)
            while not stop.is_set():
                got = c.request("default", "d7.example")
                if not got.startswith("OK encrypt"):
                    errors.append(got)
                    return
                counts[0] += 1
            c.close()

        t = threading.Thread(target=hammer)
        t.start()
        for _ in range(5):
            mark = len(d.lines)
            d.signal(signal.SIGHUP)
            expect(d.wait_for(r"info: reloaded", start=mark, timeout=60), "reload did not finish",
                   d.log())
        stop.set()
        t.join(30 * SLOW)
        expect(not errors, "lookup failed during reloads: %r" % errors[:3])
        expect(counts[0] > 0, "no lookup was made")
    return "%d lookups answered across 5 reloads of 3000 stanzas" % counts[0]


def case_warning_once():
    config = write("warn.yaml", CONFIG)
    with Daemon(config) as d:
        c = Client(d.sock_path)
        for _ in range(5):
            got = c.request("default", "legacy.example")
            expect(got.startswith("OK verify match=hostname:nexthop"), "legacy.example: %r" % got)
        c.request("customer-1", "legacy.example")
        c.close()
        m = d.wait_for(r"warn\.yaml:4:\d+: warning: \[domain \"legacy.example\"\] postfix: "
                       r"tls_verify = ca: ")
        expect(m, "no warning naming file, line and stanza", d.log())
        expect(d.count(r"tls_verify = ca") == 1, "the warning was logged %d times"
               % d.count(r"tls_verify = ca"), d.log())
        # After a reload it is reported again (the file may have changed).
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        expect(d.wait_for(r"info: reloaded", start=mark), "no reload", d.log())
        time.sleep(0.2)
        c = Client(d.sock_path)
        c.request("default", "legacy.example")
        c.close()
        expect(d.wait_for(r"tls_verify = ca", start=mark), "not reported again after a reload",
               d.log())
    return "one warning line per problem, with file:line and stanza"


def case_verbose():
    config = write("verbose.yaml", CONFIG)
    with Daemon(config, extra=["--verbose"]) as d:
        c = Client(d.sock_path)
        c.request("default", "bank.example")
        c.request("default", "bad\x7fkey")
        c.close()
        expect(d.wait_for(r'info: lookup name="default" key="bank.example" reply="OK verify '),
               "no per-lookup line", d.log())
        expect(d.wait_for(r'warning: request "default bad\\x7fkey": malformed request: control '
                          r'character in name or key; answered PERM'), "control byte not escaped",
               d.log())
    return "one line per lookup, client text escaped"


def case_sigterm():
    config = write("term.yaml", CONFIG)
    d = Daemon(config)
    c = Client(d.sock_path)
    expect(c.request("default", "bank.example") == BANK, "before SIGTERM")
    code = d.stop()
    expect(code == 0, "exit status %s after SIGTERM" % code, d.log())
    expect(d.wait_for(r"info: stopping \(Terminated\)"), "no stopping line", d.log())
    expect(d.wait_for(r"info: stopped after 1 lookups on 1 connections"), "no stopped line",
           d.log())
    expect(c.reply() is None, "the client connection was not closed")
    expect(not os.path.exists(d.sock_path), "socket file left")
    try:
        Client(d.sock_path)
        raise CaseFailure("still accepting after SIGTERM")
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    return "exit 0, clients closed, socket removed"


def case_startup_failures():
    good = write("start.yaml", CONFIG)
    bad = write("start-bad.yaml", "tls: maybe\n")
    sock = os.path.join(WORK, "start.sock")
    rows = [
        ("invalid configuration", ["--config", bad, "--listen", "unix:" + sock], 78,
         "configuration not valid, not starting"),
        ("missing configuration", ["--config", os.path.join(WORK, "none.yaml"), "--listen",
                                   "unix:" + sock], 78, "cannot open the configuration file"),
        ("no --listen", ["--config", good], 64, "at least one --listen"),
        ("not loopback", ["--config", good, "--listen", "inet:0.0.0.0:10026"], 64,
         "is not a loopback address"),
        ("unknown option", ["--config", good, "--frobnicate"], 64, "unknown argument --frobnicate"),
        ("bad module", ["--config", good, "--listen", "unix:" + sock, "--module", "/nonexistent.so"],
         69, "cannot load module"),
        ("directory in the way", ["--config", good, "--listen", "unix:" + WORK], 71,
         "exists and is not a socket"),
    ]
    for name, args, code, text in rows:
        if "--module" not in args:
            args = ["--module", MODULE] + args
        r = subprocess.run([POLICYD] + args, capture_output=True, text=True, timeout=30 * SLOW)
        expect(r.returncode == code and text in r.stderr,
               "%s: exit %d, want %d with %r" % (name, r.returncode, code, text), r.stderr)
    # A socket another daemon answers on is not taken over.
    with Daemon(good, "unix:" + sock):
        r = subprocess.run([POLICYD, "--module", MODULE, "--config", good, "--listen",
                            "unix:" + sock], capture_output=True, text=True, timeout=30 * SLOW)
        expect(r.returncode == 71 and "in use by a running server" in r.stderr,
               "second daemon on the same socket: exit %d" % r.returncode, r.stderr)
    # A stale socket file (a crashed daemon) is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock)
    stale.close()
    with Daemon(good, "unix:" + sock) as d:
        c = Client(sock)
        expect(c.request("default", "bank.example") == BANK, "over the replaced stale socket")
        c.close()
    r = subprocess.run([POLICYD, "--version"], capture_output=True, text=True)
    expect(r.returncode == 0 and r.stdout.startswith("mtatls-policyd 0."), "--version", r.stdout)
    return "%d refusals with the right exit codes; busy socket kept, stale one replaced" % (len(rows) + 1)


def case_check():
    config = write("check.yaml", CONFIG)
    r = subprocess.run([POLICYD, "--module", MODULE, "--check", "--config", config,
                        "--next-hop", "[mx.bank.example]:587", "--name", "other-binding"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    expect(r.returncode == 0, "exit %d" % r.returncode, r.stderr)
    expect("postfix: name=default next-hop=bank.example: " + BANK in r.stdout, "bank.example line",
           r.stdout)
    expect("postfix: name=customer-1 next-hop=partner.example: OK encrypt protocols=>=TLSv1.3 "
           in r.stdout, "binding line", r.stdout)
    expect("postfix: name=other-binding next-hop=[mx.bank.example]:587: " + MAY in r.stdout,
           "--name/--next-hop line", r.stdout)
    expect(re.search(r"check\.yaml:4:\d+: warning: \[domain \"legacy.example\"\] postfix: "
                     r"tls_verify = ca", r.stderr), "ca warning", r.stderr)
    expect(r.stderr.count("tls_verify = ca") == 1, "the warning is repeated", r.stderr)
    expect(re.search(r"Postfix mapping: \d+ policies, 1 warning, \d+ notes?", r.stdout),
           "summary line", r.stdout)
    return "every (name, next-hop) listed, one warning with file:line"


CASES = [
    ("lookups/unix-and-inet", case_lookups_unix_and_inet),
    ("lookups/postmap", case_postmap_client),
    ("lookups/pipelined", case_pipelined),
    ("lookups/concurrent", case_concurrent_clients),
    ("input/malformed-and-oversized", case_malformed_and_oversized),
    ("limits/clients-and-idle", case_client_limit_and_idle),
    ("reload/good-bad-missing", case_reload),
    ("reload/under-load", case_reload_under_load),
    ("log/warning-once", case_warning_once),
    ("log/verbose", case_verbose),
    ("signals/sigterm", case_sigterm),
    ("startup/failures", case_startup_failures),
    ("check", case_check),
]


def main():
    if not POLICYD or not os.access(POLICYD, os.X_OK):
        print("FAIL: MTATLS_POLICYD (%r) is not an executable" % POLICYD)
        print("0 passed, 1 failed")
        return 1
    passed, failed = 0, 1
    try:
        passed, failed = run_cases(CASES, only=sys.argv[1:])
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
