#!/usr/bin/python3
"""postfix_policyd_test.py - end to end: a real Postfix (A) whose own smtp
client takes its TLS policy from mtatls-policyd (smtp_tls_policy_maps =
socketmap:unix:SOCKET:customer-1), delivering to real Postfix receivers
found through real MX lookups.

Postfix looks its TLS policy up by the next-hop, so every domain is reached
through DNS: a private unbound serves the MX and A records, and A runs in a
mount namespace where a resolv.conf naming it replaces /etc/resolv.conf.
Two receivers listen on the same port P at different addresses: RT
(127.0.0.61, STARTTLS with a certificate for mx.verify.example and
mx.none.example made now with the test CA) and RP (127.0.0.62, no TLS).
A connects to port P (smtp_tcp_port) and trusts the test CA.

    domain              MX (receiver)          mtatls policy (binding customer-1)   expected
    verify.example      mx.verify.example RT   required, verify host, tls_ca        sent, Verified TLS
    wrongname.example   mx.wrongname... RT     required, verify host, tls_ca        deferred: not verified
    may.example         mx.may.example RP      ifavailable (global)                 sent in plaintext
    encrypt.example     mx.encrypt.example RP  required (global domain stanza)      deferred: TLS not offered
    none.example        mx.none.example RT     no                                   sent, no TLS though offered

Then the policy of encrypt.example is changed, mtatls-policyd reloaded
(SIGHUP) and the queue flushed: the deferred message goes out.

Environment (set by meson): MTATLS_POLICYD, MTATLS_TEST_MODULE,
MTATLS_TEST_PKI.  Needs root, Postfix and unbound; exits 77 (skip) without
them.  Prints one line per case and a final "N passed, N failed".
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
import postfix_instance as pfi  # noqa: E402
import unbound_server  # noqa: E402
from case_runner import expect, run_cases  # noqa: E402

POLICYD = os.environ.get("MTATLS_POLICYD", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
SLOW = float(os.environ.get("MTATLS_TEST_SLOWDOWN", "1"))
RT_ADDRESS = "127.0.0.61"
RP_ADDRESS = "127.0.0.62"
A_ADDRESS = "127.0.0.60"
SENDER = "sender@origin.example"

DOMAINS = {
    # domain: (MX host, receiver)
    "verify.example": ("mx.verify.example", "RT"),
    "wrongname.example": ("mx.wrongname.example", "RT"),
    "may.example": ("mx.may.example", "RP"),
    "encrypt.example": ("mx.encrypt.example", "RP"),
    "none.example": ("mx.none.example", "RT"),
}

CONFIG = """\
# mtatls policy for the end-to-end test (YAML)
tls: ifavailable
domain:
  encrypt.example: {tls: required}
binding:
  customer-1:
    domain:
      verify.example: {tls: required, tls_verify: host, tls_ca: "@CA@"}
      wrongname.example: {tls: required, tls_verify: host, tls_ca: "@CA@"}
      none.example: {tls: "no"}
"""


class World:
    """Everything the cases share, built once."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="mtatls-postfix-policyd-")
        os.chmod(self.work, 0o755)  # Postfix's daemons read certificates and the socket here
        self.dns = self.daemon = self.rt = self.rp = self.a = None
        self.daemon_lines = []

    # -- set-up ---------------------------------------------------------------

    def make_certificate(self):
        """A server certificate for RT's MX names, from the test CA."""
        key = os.path.join(self.work, "mx.key")
        csr = os.path.join(self.work, "mx.csr")
        ext = os.path.join(self.work, "mx.ext")
        cert = os.path.join(self.work, "mx.pem")
        with open(ext, "w", encoding="ascii") as f:
            f.write("basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:mx.verify.example,DNS:mx.none.example\n")
        run = lambda *args: subprocess.run(args, check=True, capture_output=True)  # noqa: E731
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", key)
        run("openssl", "req", "-new", "-key", key, "-subj", "/O=mtatls test/CN=mx.verify.example",
            "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(PKI, "ca.pem"), "-CAkey",
            os.path.join(PKI, "ca.key"), "-CAcreateserial", "-CAserial",
            os.path.join(self.work, "ca.srl"), "-days", "2", "-sha256", "-extfile", ext,
            "-out", cert)
        os.chmod(key, 0o644)
        return cert, key

    def start(self):
        cert, key = self.make_certificate()
        records = []
        zones = {}
        for domain, (mx, receiver) in DOMAINS.items():
            address = RT_ADDRESS if receiver == "RT" else RP_ADDRESS
            zones[domain + "."] = "static"
            records += ["%s. MX 10 %s." % (domain, mx), "%s. A %s" % (mx, address)]
        self.dns = unbound_server.UnboundServer(records=records, zones=zones, address=None, port=53)
        self.dns.start()
        resolv = self.dns.resolv_conf(os.path.join(self.work, "resolv.conf"))
        os.chmod(resolv, 0o644)

        self.config = os.path.join(self.work, "mtatls.yaml")
        self.write_config(CONFIG)
        self.socket = os.path.join(self.work, "policy.sock")
        self.daemon_log = open(os.path.join(self.work, "policyd.log"), "w+", encoding="utf-8")
        self.daemon = subprocess.Popen(
            [POLICYD, "--module", MODULE, "--config", self.config, "--listen",
             "unix:" + self.socket, "--socket-mode", "0666", "--verbose"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.daemon_log)
        deadline = time.monotonic() + 20 * SLOW
        while "info: started:" not in self.policyd_log():
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mtatls-policyd did not start:\n" + self.policyd_log())
            time.sleep(0.05)

        # Both receivers on the same port P, which A's smtp client uses.
        port = free_port_on(RT_ADDRESS, RP_ADDRESS)
        self.rt = pfi.PostfixInstance(RT_ADDRESS, port, tls=True, pki=PKI, cert_file=cert,
                                      key_file=key, name="rt")
        self.rt.start()
        self.rp = pfi.PostfixInstance(RP_ADDRESS, port, tls=False, name="rp")
        self.rp.start()
        # A: Postfix as the sender.  relay_to only selects the client role;
        # transport_maps and relay_domains are emptied so that every domain
        # goes to the default smtp transport with an MX lookup.
        self.a = pfi.PostfixInstance(
            A_ADDRESS, 0, tls=False, pki=PKI, relay_to=("127.0.0.1", 9), relay_tls="may",
            resolv_conf=resolv, name="a",
            extra={
                "transport_maps": "",
                "relay_domains": "",
                "smtp_tcp_port": str(port),
                "smtp_tls_policy_maps": "socketmap:unix:%s:customer-1" % self.socket,
                "smtp_tls_CAfile": os.path.join(PKI, "ca.pem"),
                "smtp_tls_loglevel": "1",
                "smtp_tls_session_cache_database": "",
                "smtp_connection_cache_on_demand": "no",
            })
        self.a.start()

    def write_config(self, text):
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text.replace("@CA@", os.path.join(PKI, "ca.pem")))

    def policyd_log(self):
        with open(os.path.join(self.work, "policyd.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        for inst in (self.a, self.rt, self.rp):
            if inst is not None:
                inst.stop()
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if self.dns is not None:
            self.dns.stop()
        if os.environ.get("MTATLS_KEEP_POSTFIX") != "1":
            shutil.rmtree(self.work, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------

    def send(self, domain, tag):
        """Injects one message for rcpt@DOMAIN into A."""
        message = ("From: <%s>\nTo: <rcpt@%s>\nSubject: policyd %s\nMessage-ID: <%s@origin.example>\n"
                   "\nmtatls-policyd end-to-end test, %s.\n" % (SENDER, domain, tag, tag, domain))
        subprocess.run(["/usr/sbin/sendmail", "-C", self.a.config_dir, "-f", SENDER,
                        "rcpt@" + domain], input=message.encode(), check=True, timeout=60)

    def status_line(self, domain, status, timeout=30.0):
        """A's log line for rcpt@DOMAIN with status=STATUS, or None."""
        m = self.a.wait_for_log(r"[^\n]*to=<rcpt@%s>[^\n]*status=%s[^\n]*" % (re.escape(domain), status),
                                timeout=timeout * SLOW)
        return m.group(0) if m else None

    def describe(self):
        return ("--- A maillog ---\n%s\n--- mtatls-policyd ---\n%s" % (
            "\n".join(self.a.maillog().splitlines()[-40:]), self.policyd_log()[-4000:]))

    def delivered_to(self, receiver, domain, timeout=0.0):
        """RECEIVER's messages for rcpt@DOMAIN; with `timeout`, waits that long
        (times SLOW) for one: a receiver accepts a message (A logs status=sent)
        before its own local delivery writes the Maildir file."""
        inst = self.rt if receiver == "RT" else self.rp
        deadline = time.monotonic() + timeout * SLOW
        while True:
            found = [m for m in inst.messages() if ("rcpt@%s" % domain).encode() in m]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)


def free_port_on(*addresses):
    """A port free on every address (the receivers share it)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addresses[0], 0))
            port = s.getsockname()[1]
        if all(_free(a, port) for a in addresses):
            return port
    raise RuntimeError("no common free port")


def _free(address, port):
    with socket.socket() as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


# -- cases -------------------------------------------------------------------------

def case_lookups(world):
    # What Postfix will be told, straight from the daemon (Postfix's own client).
    r = subprocess.run(["/usr/sbin/postmap", "-q", "-", "socketmap:unix:%s:customer-1" % world.socket],
                       input="".join(d + "\n" for d in DOMAINS), capture_output=True, text=True,
                       timeout=30)
    answers = dict(line.split("\t", 1) for line in r.stdout.splitlines())
    expect(answers.get("verify.example", "").startswith("verify match=hostname:nexthop tafile="),
           "verify.example: %r" % answers.get("verify.example"), r.stderr)
    expect(answers.get("may.example", "").startswith("may "), "may.example: %r" % answers)
    expect(answers.get("encrypt.example", "").startswith("encrypt "), "encrypt.example: %r" % answers)
    expect(answers.get("none.example") == "none", "none.example: %r" % answers)
    return "postmap: " + ", ".join("%s=%s" % (d, answers[d].split()[0]) for d in DOMAINS)


def case_deliveries(world):
    for domain in DOMAINS:
        world.send(domain, domain.split(".")[0])
    results = []

    # verify.example: Verified TLS to the MX found in DNS, delivered to RT.
    line = world.status_line("verify.example", "sent")
    expect(line, "verify.example was not sent", world.describe())
    expect(re.search(r"Verified TLS connection established to mx\.verify\.example\[%s\]:%d: TLSv1\.3"
                     % (re.escape(RT_ADDRESS), world.rt.port), world.a.maillog()),
           "no 'Verified TLS connection established to mx.verify.example'", world.describe())
    expect(world.delivered_to("RT", "verify.example", timeout=10), "verify.example not in RT's Maildir")
    results.append("verify: Verified TLS")

    # wrongname.example: the certificate does not name mx.wrongname.example.
    line = world.status_line("wrongname.example", "deferred")
    expect(line, "wrongname.example was not deferred", world.describe())
    expect("Server certificate not verified" in line, "deferral reason: %s" % line)
    results.append("wrongname: deferred (Server certificate not verified)")

    # may.example: opportunistic, RP offers no STARTTLS: plaintext.
    line = world.status_line("may.example", "sent")
    expect(line, "may.example was not sent", world.describe())
    expect(not re.search(r"TLS connection established to mx\.may\.example", world.a.maillog()),
           "a TLS session to mx.may.example", world.describe())
    data = world.delivered_to("RP", "may.example", timeout=10)
    expect(data and b"with ESMTP " in data[0], "may.example not in RP's Maildir over ESMTP")
    results.append("may: sent in plaintext")

    # encrypt.example: TLS required, RP offers none: deferred.
    line = world.status_line("encrypt.example", "deferred")
    expect(line, "encrypt.example was not deferred", world.describe())
    expect("TLS is required, but was not offered by host mx.encrypt.example" in line,
           "deferral reason: %s" % line)
    expect(not world.delivered_to("RP", "encrypt.example"), "encrypt.example reached RP")
    results.append("encrypt: deferred (TLS not offered)")

    # none.example: RT offers STARTTLS, but the policy says no TLS.
    line = world.status_line("none.example", "sent")
    expect(line, "none.example was not sent", world.describe())
    expect(not re.search(r"TLS connection established to mx\.none\.example", world.a.maillog()),
           "a TLS session to mx.none.example", world.describe())
    data = world.delivered_to("RT", "none.example", timeout=10)
    expect(data and b"with ESMTP " in data[0] and b"using TLS" not in data[0],
           "none.example not in RT's Maildir in plaintext", data[0].decode(errors="replace")[:600]
           if data else "")
    results.append("none: sent without TLS")

    # The daemon was asked by next-hop, with the socketmap name as binding.
    log = world.policyd_log()
    for domain in DOMAINS:
        expect('lookup name="customer-1" key="%s"' % domain in log,
               "mtatls-policyd was not asked for %s" % domain, log[-3000:])
    expect(len(world.rt.messages()) == 2 and len(world.rp.messages()) == 1,
           "receivers hold %d and %d messages, want 2 and 1"
           % (len(world.rt.messages()), len(world.rp.messages())))
    return "; ".join(results)


def case_reload_then_flush(world):
    # encrypt.example becomes opportunistic: after a reload of the daemon
    # (and of Postfix, whose smtp processes cache policies) the deferred
    # message goes out in plaintext.
    world.write_config(CONFIG.replace("encrypt.example: {tls: required}",
                                      "encrypt.example: {tls: ifavailable}"))
    world.daemon.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20 * SLOW
    while "info: reloaded" not in world.policyd_log():
        expect(time.monotonic() < deadline, "mtatls-policyd did not reload", world.policyd_log())
        time.sleep(0.05)
    subprocess.run(["/usr/sbin/postfix", "-c", world.a.config_dir, "reload"], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["/usr/sbin/postqueue", "-c", world.a.config_dir, "-f"], check=True,
                   capture_output=True, timeout=60)
    line = world.status_line("encrypt.example", "sent", timeout=60)
    expect(line, "encrypt.example was not sent after the reload", world.describe())
    expect(world.delivered_to("RP", "encrypt.example", timeout=10), "encrypt.example not in RP's Maildir")
    # wrongname.example stays deferred: its policy did not change.
    expect(not world.delivered_to("RT", "wrongname.example"), "wrongname.example was delivered")
    return "after SIGHUP + postfix reload + flush: encrypt.example sent, wrongname still deferred"


CASES = [
    ("policyd/lookups", case_lookups),
    ("postfix/deliveries", case_deliveries),
    ("postfix/reload-then-flush", case_reload_then_flush),
]


def main():
    if not pfi.available() or not unbound_server.available():
        print("SKIP: Postfix or unbound is not installed")
        return 77
    if os.geteuid() != 0:
        print("SKIP: needs root (Postfix's master, port 53, mount namespaces)")
        return 77
    pfi.stop_all_on_signals()
    world = World()
    passed, failed = 0, 1
    try:
        world.start()
        passed, failed = run_cases(CASES, world, only=sys.argv[1:])
    except Exception:
        import traceback
        traceback.print_exc()
        print("FAIL set-up: exception")
        if world.a is not None:
            print(world.describe(), file=sys.stderr)
    finally:
        world.stop()
        pfi.stop_all()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
