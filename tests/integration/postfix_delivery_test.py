#!/usr/bin/python3
"""postfix_delivery_test.py - end-to-end: `mtatls-send` (with the real module)
delivers to throwaway Postfix instances, and what Postfix recorded - the
Maildir copy, its Received: header, the maillog - is checked against what
mtatls-send claims in its log line.

Cases: (a) tls=required + tls_verify=host over TLS, message byte-identical;
(b) tls=ifavailable to a server without TLS goes out in plaintext;
(c) tls=required to a server without STARTTLS is deferred (75, 451 4.7.6)
and nothing is delivered; (d) a binding's client certificate reaches a
server that asks for one (and does not without the binding); (e)
tls_protocols "+ALL:-TLSv1.3" negotiates TLS 1.2.  Two harness cases deliver
with Python's smtplib first, so a failure there is the harness's, not
mtatls-send's.

Environment (set by meson): MTATLS_SEND, MTATLS_TEST_MODULE, MTATLS_TEST_PKI.
Runs as root (Postfix's master must); exits 77 (skip) only when Postfix is
not installed.  Addresses 127.0.0.21-27, each instance on a free port.
Prints one line per case and a final "N passed, N failed".
"""
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import mail_message  # noqa: E402  (path set up just above)
import postfix_instance as pfi  # noqa: E402
from case_runner import expect, run_cases  # noqa: E402
from mail_message import make_message, parse_log_line, received_tls  # noqa: E402

if not pfi.available():
    print("SKIP: %s is not installed" % pfi.POSTFIX)
    sys.exit(77)

SEND = os.environ.get("MTATLS_SEND", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
MX_NAME = "mx.example.test"  # the name in pki/server.pem
TEMPFAIL = 75

timings = []  # (start seconds, stop seconds) per instance
WORK = tempfile.mkdtemp(prefix="mtatls-postfix-test-")




# -- the message and the log line (tests/support/mail_message.py) -------------

def split_message(data):
    head, body = mail_message.split_message(data)
    expect(body is not None, "delivered message has no header/body separator")
    return head, body


def received(data):
    value = mail_message.received(data)
    expect(value, "delivered message has no Received: header")
    return value


def attempt_lines(stderr):
    """The per-attempt log lines (not the per-recipient ones)."""
    return [parse_log_line(line) for line in stderr.splitlines()
            if line.startswith("mtatls-send: ") and " status=" in line
            and not line.startswith("mtatls-send: rcpt=")]


def write_config(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace("@PKI@", PKI))
    return path


def mtatls_send(config, mx, message, *extra, rcpt="rcpt@dest.example.test"):
    """Runs mtatls-send against `mx`; returns (exit code, stderr, attempt lines)."""
    expect(SEND and os.access(SEND, os.X_OK), "mtatls-send is not built (MTATLS_SEND=%r)" % SEND)
    cmd = [SEND, "--config", config, *(["--module", MODULE] if MODULE else []),
           "--next-hop", "%s:%d" % (mx.address, mx.port), "--mx-name", MX_NAME,
           "--helo", "client.example.test", "--timeout", "20", "--attempt-timeout", "60",
           *extra, "-f", "sender@origin.example.test", rcpt]
    r = subprocess.run(cmd, input=message, capture_output=True, timeout=90)
    stderr = r.stderr.decode("utf-8", "replace")
    return r.returncode, stderr, attempt_lines(stderr)


def describe(mx, stderr=""):
    """What to show when a case fails."""
    parts = []
    if stderr:
        parts.append("mtatls-send stderr:\n" + stderr.rstrip())
    log = mx.maillog().splitlines()
    parts.append("maillog (last 15 lines):\n" + "\n".join(log[-15:]))
    return "\n".join(parts)


def instance(address, port=0, **kwargs):
    return pfi.PostfixInstance(address, port, pki=PKI, **kwargs)


def one_delivery(mx, stderr, message):
    """The single message in the sink, after checking it arrived unchanged."""
    msgs = mx.wait_for_messages(1, timeout=10)
    expect(len(msgs) == 1, "expected 1 message in the Maildir, found %d" % len(msgs),
           describe(mx, stderr))
    data = msgs[0]
    expected = message.replace(b"\r\n", b"\n")
    expect(data.endswith(expected),
           "the delivered message is not the sent one plus Postfix's trace headers",
           "got:\n%r\nexpected suffix:\n%r" % (data[-400:], expected[-400:]))
    expect(split_message(data)[1] == split_message(expected)[1], "body differs")
    return data


def check_attempt(lines, stderr, **want):
    expect(len(lines) == 1, "expected 1 attempt line, got %d" % len(lines), stderr)
    line = lines[0]
    for key, value in want.items():
        expect(line.get(key) == value, "log line: %s=%r, expected %r" % (key, line.get(key), value),
               stderr)
    return line


def check_tls_matches(line, tls, stderr):
    """The log line's protocol, cipher and bits agree with Postfix's record."""
    proto, cipher, use, alg = tls
    expect(line.get("tls") == proto, "log tls=%r but Postfix saw %s" % (line.get("tls"), proto), stderr)
    expect(line.get("cipher") == cipher,
           "log cipher=%r but Postfix saw %s" % (line.get("cipher"), cipher), stderr)
    expect(line.get("bits") == "%s/%s" % (use, alg),
           "log bits=%r but Postfix saw %s/%s" % (line.get("bits"), use, alg), stderr)


# -- harness cases: Python's smtplib as the client ------------------------------

def smtplib_send(mx, message, client_cert=False):
    ctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.pem"))
    if client_cert:
        ctx.load_cert_chain(os.path.join(PKI, "client.pem"), os.path.join(PKI, "client.key"))
    with smtplib.SMTP(mx.address, mx.port, local_hostname="client.example.test", timeout=20) as s:
        s._host = MX_NAME  # smtplib verifies against the connect host; the cert names this one
        s.starttls(context=ctx)
        s.ehlo()
        # smtplib sends bytes as given: the CRLF line ends are ours to make.
        s.sendmail("sender@origin.example.test", ["rcpt@dest.example.test"],
                   message.replace(b"\n", b"\r\n"))


def case_harness_starttls():
    with instance("127.0.0.26") as mx:
        timings.append(mx)
        message = make_message("harness-starttls")
        smtplib_send(mx, message)
        data = one_delivery(mx, "", message)
        tls = received_tls(data)
        expect(tls is not None and tls[0].startswith("TLSv1."), "Received: shows no TLS",
               received(data))
        expect(" with ESMTPS " in received(data), "Received: does not say ESMTPS", received(data))
        return "smtplib STARTTLS verified against ca.pem; %s %s" % tls[:2]


def case_harness_client_cert():
    with instance("127.0.0.27", ask_ccert=True) as mx:
        timings.append(mx)
        message = make_message("harness-ccert")
        smtplib_send(mx, message, client_cert=True)
        data = one_delivery(mx, "", message)
        expect('Client CN "client.example.test"' in received(data) and "(verified OK)" in received(data),
               "Received: does not show the verified client CN", received(data))
        return "Postfix saw smtplib's client certificate"


# -- mtatls-send cases ------------------------------------------------------------

def case_a_required_verify_host():
    config = write_config("a.yaml", 'tls: required\ntls_verify: host\ntls_ca: "@PKI@/ca.pem"\n')
    with instance("127.0.0.21") as mx:
        timings.append(mx)
        message = make_message("a")
        code, stderr, lines = mtatls_send(config, mx, message)
        expect(code == 0, "exit %d, expected 0" % code, describe(mx, stderr))
        line = check_attempt(lines, stderr, status="sent", tls_policy="required",
                             verify_policy="host", verified="yes", code="250")
        expect("[%s]:%d" % (mx.address, mx.port) in line.get("relay", ""), "log relay=%r" % line.get("relay"), stderr)
        expect(MX_NAME in line.get("subject", "") and "mtatls test CA" in line.get("issuer", ""),
               "log subject=%r issuer=%r: not the server certificate's"
               % (line.get("subject"), line.get("issuer")), stderr)
        data = one_delivery(mx, stderr, message)
        tls = received_tls(data)
        expect(tls is not None, "Received: shows no TLS", received(data))
        check_tls_matches(line, tls, stderr)
        return "%s %s, verified, message byte-identical" % tls[:2]


def case_b_ifavailable_plaintext():
    config = write_config("b.yaml", "tls: ifavailable\n")
    with instance("127.0.0.22", tls=False) as mx:
        timings.append(mx)
        message = make_message("b")
        code, stderr, lines = mtatls_send(config, mx, message)
        expect(code == 0, "exit %d, expected 0" % code, describe(mx, stderr))
        check_attempt(lines, stderr, status="sent", tls_policy="ifavailable", tls="none", cipher="-")
        data = one_delivery(mx, stderr, message)
        expect(received_tls(data) is None, "Received: shows TLS", received(data))
        expect(" with ESMTP " in received(data), "Received: does not say ESMTP", received(data))
        expect("TLS connection established" not in mx.maillog(), "maillog shows a TLS session")
        return "delivered in plaintext"


def case_c_required_no_starttls():
    config = write_config("c.yaml", 'tls: required\ntls_verify: host\ntls_ca: "@PKI@/ca.pem"\n')
    # TLS is configured on this server, but STARTTLS is neither advertised
    # nor accepted: a client that tried it anyway would not get through.
    with instance("127.0.0.23", starttls=False) as mx:
        timings.append(mx)
        code, stderr, lines = mtatls_send(config, mx, make_message("c"))
        expect(code == TEMPFAIL, "exit %d, expected %d" % (code, TEMPFAIL), describe(mx, stderr))
        check_attempt(lines, stderr, status="deferred", tls_policy="required", tls="none",
                      code="451", dsn="4.7.6")
        time.sleep(1.0)  # a delivery, had there been one, would be in the Maildir by now
        expect(mx.messages() == [], "a message was delivered", describe(mx, stderr))
        expect(mx.queue_count() == 0, "a message is queued at the server", describe(mx, stderr))
        log = mx.maillog()
        expect(": client=" not in log, "Postfix accepted a message (client= in maillog)",
               describe(mx, stderr))
        expect("TLS connection established" not in log, "maillog shows a TLS session")
        return "exit 75, 451 4.7.6, nothing delivered"


def case_d_binding_client_cert():
    config = write_config("d.yaml", (
        'tls: required\ntls_verify: host\ntls_ca: "@PKI@/ca.pem"\n'
        "binding:\n"
        "  client-cert:\n"
        '    tls_certificate: "@PKI@/client.pem"\n'
        '    tls_key: "@PKI@/client.key"\n'))
    with instance("127.0.0.24", ask_ccert=True) as mx:
        timings.append(mx)
        message = make_message("d")
        code, stderr, lines = mtatls_send(config, mx, message, "--binding", "client-cert")
        expect(code == 0, "exit %d, expected 0" % code, describe(mx, stderr))
        check_attempt(lines, stderr, status="sent", verified="yes")
        data = one_delivery(mx, stderr, message)
        expect('Client CN "client.example.test", Issuer "mtatls test CA" (verified OK)'
               in received(data), "Received: does not show the verified client CN", received(data))
        expect(re.search(r"Trusted TLS connection established from \S+: TLSv", mx.maillog()),
               "maillog shows no trusted (client-verified) TLS connection", describe(mx, stderr))

        # Control: the same configuration without --binding sends no certificate.
        message2 = make_message("d-control")
        code, stderr, lines = mtatls_send(config, mx, message2)
        expect(code == 0, "without --binding: exit %d, expected 0" % code, describe(mx, stderr))
        msgs = mx.wait_for_messages(2, timeout=10)
        expect(len(msgs) == 2, "without --binding: message not delivered", describe(mx, stderr))
        control = [m for m in msgs if b"<case-d-control@" in m]
        expect(len(control) == 1, "without --binding: message not found")
        expect("Client CN" not in received(control[0]),
               "without --binding a client certificate was sent", received(control[0]))
        return "client CN seen and verified by Postfix; none without the binding"


def case_e_tls12_only():
    config = write_config("e.yaml", (
        'tls: required\ntls_verify: host\ntls_ca: "@PKI@/ca.pem"\n'
        'tls_protocols: "+ALL:-TLSv1.3"\n'))
    with instance("127.0.0.25") as mx:
        timings.append(mx)
        # CRLF input this time: stored with LF, otherwise identical.
        message = make_message("e").replace(b"\n", b"\r\n")
        code, stderr, lines = mtatls_send(config, mx, message)
        expect(code == 0, "exit %d, expected 0" % code, describe(mx, stderr))
        line = check_attempt(lines, stderr, status="sent", tls="TLSv1.2", verified="yes")
        data = one_delivery(mx, stderr, message)
        tls = received_tls(data)
        expect(tls is not None and tls[0] == "TLSv1.2", "Received: shows %r, expected TLSv1.2"
               % (tls,), received(data))
        check_tls_matches(line, tls, stderr)
        return "TLSv1.2 %s" % tls[1]


CASES = [
    ("harness/smtplib-starttls", case_harness_starttls),
    ("harness/smtplib-client-cert", case_harness_client_cert),
    ("a/required-verify-host", case_a_required_verify_host),
    ("b/ifavailable-plaintext", case_b_ifavailable_plaintext),
    ("c/required-no-starttls", case_c_required_no_starttls),
    ("d/binding-client-cert", case_d_binding_client_cert),
    ("e/tls12-only", case_e_tls12_only),
]


def main():
    pfi.stop_all_on_signals()  # meson's timeout SIGTERM must still stop the masters
    if not PKI or not os.path.isfile(os.path.join(PKI, "ca.pem")):
        print("FAIL: MTATLS_TEST_PKI (%r) holds no ca.pem" % PKI)
        print("0 passed, 1 failed")
        return 1
    only = sys.argv[1:]  # optional case-name prefixes, for running one by hand
    passed, failed = 0, 1  # if the run itself breaks
    try:
        passed, failed = run_cases(CASES, only=only)
    finally:
        pfi.stop_all()
        shutil.rmtree(WORK, ignore_errors=True)
    starts = [i.start_seconds for i in timings if i.start_seconds is not None]
    stops = [i.stop_seconds for i in timings if i.stop_seconds is not None]
    if os.environ.get("MTATLS_TEST_VERBOSE"):
        for i in timings:
            print("  %s:%d start %.3f s stop %.3f s" % (i.address, i.port, i.start_seconds, i.stop_seconds))
    if starts and stops:
        print("postfix instances: %d, start %.2f s mean (max %.2f), stop %.2f s mean (max %.2f)"
              % (len(starts), sum(starts) / len(starts), max(starts),
                 sum(stops) / len(stops), max(stops)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
