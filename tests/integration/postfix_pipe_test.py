#!/usr/bin/python3
"""postfix_pipe_test.py - end to end: Postfix delivers through mtatls-send.

Two real Postfix instances: sender A hands mail for dest.example to a
pipe(8) transport running `mtatls-send --pipe` (the master.cf entry of
docs/postfix.md, with ${nexthop} from transport_maps); receiver B is a
Postfix that stores every message it accepts.  Postfix keeps the queue and
the retries; mtatls decides and does the TLS.

Cases:
(a) tls=required + tls_verify=host, B offers STARTTLS: delivered once, B's
    Received: shows TLS, the message arrives byte for byte, A logs
    status=sent with mtatls-send's status line (TLS version, verified,
    B's reply).
(b) B without STARTTLS: A keeps the message deferred with dsn=4.7.6 and
    mtatls's reason, visible in `postqueue -p` and A's log; B is restarted
    with STARTTLS on the same address and port, `postqueue -f` on A
    delivers it: it arrives exactly once, byte for byte, and A's queue is
    empty.
(c) B refuses the recipient with 550 5.1.1: A bounces (dsn=5.1.1, B's text
    in A's log) and the bounce reaches the sender's mailbox on A with B's
    reply in it.
(d) the transport names a configuration that does not load: A defers
    (dsn=4.3.5, the error in the reason) instead of bouncing.

Environment (set by meson): MTATLS_SEND, MTATLS_TEST_MODULE, MTATLS_TEST_PKI.
Runs as root (Postfix's master must); exits 77 (skip) only when Postfix is
not installed.  A on 127.0.0.28, B on 127.0.0.1 (the test server
certificate names IP 127.0.0.1); every instance on a free port.  Prints
one line per case and a final "N passed, N failed".
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import postfix_instance as pfi  # noqa: E402
from case_runner import expect, run_cases  # noqa: E402  (path set up just above)
from mail_message import make_message, received, received_tls, split_message  # noqa: E402

if not pfi.available():
    print("SKIP: %s is not installed" % pfi.POSTFIX)
    sys.exit(77)

SEND = os.environ.get("MTATLS_SEND", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
SENDER = "sender@origin.example"  # A's own domain: bounces land in A's mailbox
DEST = "dest.example"
PIPE_USER = "nobody"

WORK = tempfile.mkdtemp(prefix="mtatls-pipe-test-")
# pipe(8) runs mtatls-send as PIPE_USER: it must read the configuration.
os.chmod(WORK, 0o755)




CONFIG = """\
# Policy for the pipe test: dest.example only over verified TLS.
tls: ifavailable
domain:
  dest.example:
    tls: required
    tls_verify: host
    tls_ca: {pki}/ca.pem
"""


def write_config():
    path = os.path.join(WORK, "mtatls.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(CONFIG.format(pki=PKI))
    os.chmod(path, 0o644)
    return path


def pipe_master_cf(config, service="mtatls"):
    """The master.cf entry of docs/postfix.md, with this build's paths."""
    module = " --module %s" % MODULE if MODULE else ""
    return ("%-9s unix  -       n       n       -       -       pipe\n"
            "  flags=q user=%s argv=%s --pipe --config %s%s\n"
            "  --next-hop ${nexthop} -f ${sender} -- ${recipient}\n"
            % (service, PIPE_USER, SEND, config, module))


def sender_instance(receiver, config):
    """A: mail for dest.example goes to the mtatls transport, next hop B;
    mail for broken.example to a second one whose configuration file is
    missing; mail for A's own domain (bounces) stays in A's Maildir."""
    hop = "[%s]:%d" % (receiver.address, receiver.port)
    extra = {
        "virtual_mailbox_domains": SENDER.partition("@")[2],
        "relay_domains": DEST + ",broken.example",
        "transport_maps": "inline:{%s=mtatls:%s,broken.example=mtatlsbad:%s}" % (DEST, hop, hop),
        # One recipient per delivery: pipe(8) has one exit status for all
        # the recipients of a delivery request.
        "mtatls_destination_recipient_limit": "1",
        "mtatlsbad_destination_recipient_limit": "1",
        # Keep the message deferred until the test flushes it.
        "queue_run_delay": "300s",
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "300s",
    }
    broken = pipe_master_cf(os.path.join(WORK, "missing.yaml"), "mtatlsbad")
    return pfi.PostfixInstance("127.0.0.28", pki=PKI, tls=False, name="sender-a", extra=extra,
                               extra_master=pipe_master_cf(config) + broken)


def receiver_instance(port=0, **kwargs):
    return pfi.PostfixInstance("127.0.0.1", port, pki=PKI, name="receiver-b", **kwargs)


def inject(sender_pf, message, rcpt):
    # -i: a line with a lone dot is part of the message, not its end.
    r = subprocess.run(["/usr/sbin/sendmail", "-i", "-C", sender_pf.config_dir, "-f", SENDER, rcpt],
                       input=message, capture_output=True, timeout=30)
    expect(r.returncode == 0, "sendmail exit %d" % r.returncode, r.stderr.decode(errors="replace"))


def wait_log(pf, pattern, timeout=20.0):
    """The first maillog line matching `pattern`, waiting for it."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in pf.maillog().splitlines():
            if rx.search(line):
                if os.environ.get("MTATLS_TEST_VERBOSE"):
                    print("    " + line, flush=True)
                return line
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def postqueue(pf, *args):
    return subprocess.run(["/usr/sbin/postqueue", "-c", pf.config_dir, *args],
                          capture_output=True, text=True, timeout=30).stdout


def describe(*instances):
    parts = []
    for pf in instances:
        log = pf.maillog().splitlines()
        parts.append("%s maillog (last 12 lines):\n%s" % (pf.myhostname, "\n".join(log[-12:])))
    return "\n".join(parts)


def arrived_unchanged(data, message):
    expect(data.endswith(message),
           "B's copy is not the injected message plus trace headers",
           "got:\n%r\nexpected suffix:\n%r" % (data[-300:], message[-300:]))
    expect(split_message(data)[1] == split_message(message)[1], "body differs")


# -- cases ------------------------------------------------------------------------------

def case_verified_tls(config):
    with receiver_instance() as b, sender_instance(b, config) as a:
        message = make_message("pipe-a", sender=SENDER, rcpt="rcpt@" + DEST)
        inject(a, message, "rcpt@" + DEST)
        line = wait_log(a, r"postfix/pipe\[\d+\]: .*status=(sent|deferred|bounced)")
        expect(line and "status=sent" in line, "A did not log status=sent", describe(a, b))
        expect("relay=mtatls" in line and "(2.0.0 sent over TLSv1.3, verified, " in line,
               "A's log line lacks mtatls-send's status line (TLS version, verified)", line)
        msgs = b.wait_for_messages(1)
        expect(len(msgs) == 1, "B holds %d messages, expected 1" % len(msgs), describe(a, b))
        tls = received_tls(msgs[0])
        expect(tls is not None, "B's Received: shows no TLS", received(msgs[0]))
        arrived_unchanged(msgs[0], message)
        expect(a.wait_queue_empty(10), "A's queue is not empty", postqueue(a, "-p"))
        return "sent over %s %s; A logged: %s" % (tls[0], tls[1], line.split(": ", 1)[1][:90])


def case_deferred_then_flushed(config):
    with receiver_instance(starttls=False) as b:
        port = b.port
        with sender_instance(b, config) as a:
            message = make_message("pipe-b", sender=SENDER, rcpt="rcpt@" + DEST)
            inject(a, message, "rcpt@" + DEST)
            line = wait_log(a, r"postfix/pipe\[\d+\]: .*status=(sent|deferred|bounced)")
            expect(line and "status=deferred" in line, "A did not defer", describe(a, b))
            # Postfix's own dsn= field, taken from mtatls-send's first line.
            expect(", dsn=4.7.6, status=deferred" in line, "Postfix's dsn is not 4.7.6", line)
            expect("STARTTLS required but not advertised" in line, "mtatls's reason not in A's log", line)
            queue = postqueue(a, "-p")
            if os.environ.get("MTATLS_TEST_VERBOSE"):
                print(queue, flush=True)
            expect("4.7.6" in queue and "STARTTLS required" in queue,
                   "postqueue -p does not show mtatls's reason", queue)
            expect(not b.messages(), "B received the message in plaintext", describe(a, b))
            # B learns STARTTLS: same address and port, new configuration.
            b.stop()
            with receiver_instance(port) as b2:
                postqueue(a, "-f")
                line2 = wait_log(a, r"postfix/pipe\[\d+\]: .*status=sent")
                expect(line2, "A did not deliver after postqueue -f", describe(a, b2))
                msgs = b2.wait_for_messages(1)
                time.sleep(1.0)  # a duplicate would show up now
                msgs = b2.messages()
                expect(len(msgs) == 1, "B holds %d copies, expected exactly 1" % len(msgs),
                       describe(a, b2))
                expect(received_tls(msgs[0]) is not None, "no TLS in B's Received:", received(msgs[0]))
                arrived_unchanged(msgs[0], message)
                expect(a.wait_queue_empty(10), "A's queue is not empty", postqueue(a, "-p"))
                deferred = line.split("status=deferred", 1)[1].strip()
                return "deferred %s; after the flush: delivered once" % deferred[:80]


def case_bounced(config):
    rejected = "nosuchuser@" + DEST
    extra = {"smtpd_recipient_restrictions":
             "check_recipient_access inline:{{%s=550 5.1.1 No such user here}},permit_mynetworks,"
             "reject_unauth_destination" % rejected}
    with receiver_instance(extra=extra) as b, sender_instance(b, config) as a:
        message = make_message("pipe-c", sender=SENDER, rcpt=rejected)
        inject(a, message, rejected)
        line = wait_log(a, r"postfix/pipe\[\d+\]: .*status=(sent|deferred|bounced)")
        expect(line and "status=bounced" in line, "A did not bounce", describe(a, b))
        expect(", dsn=5.1.1, status=bounced" in line and "No such user here" in line,
               "A's log lacks B's code and text", line)
        # The bounce goes back to the sender, whose mailbox is on A.
        bounces = a.wait_for_messages(1)
        expect(len(bounces) == 1, "no bounce in the sender's mailbox on A", describe(a, b))
        text = bounces[0].decode("utf-8", "replace")
        expect("No such user here" in text and "5.1.1" in text,
               "the bounce does not carry B's reply", text[:1500])
        expect(not b.messages(), "B stored a message it refused", describe(a, b))
        return "bounced: %s" % line.split("status=bounced", 1)[1].strip()[:90]


def case_local_error(config):
    with receiver_instance() as b, sender_instance(b, config) as a:
        rcpt = "rcpt@broken.example"
        inject(a, make_message("pipe-d", sender=SENDER, rcpt=rcpt), rcpt)
        line = wait_log(a, r"postfix/pipe\[\d+\]: .*status=(sent|deferred|bounced)")
        expect(line and ", dsn=4.3.5, status=deferred" in line,
               "a configuration error did not defer with 4.3.5", describe(a, b))
        expect("missing.yaml" in line, "the reason does not name the file", line)
        expect(not b.messages(), "B received a message", describe(a, b))
        return "deferred: %s" % line.split("status=deferred", 1)[1].strip()[:90]


CASES = [
    ("a required+host over TLS: sent, Received: shows TLS, byte-identical", case_verified_tls),
    ("b no STARTTLS: deferred 4.7.6, then postqueue -f delivers exactly once", case_deferred_then_flushed),
    ("c 5xx from the receiver: bounced to the sender with the remote text", case_bounced),
    ("d a configuration that does not load: deferred 4.3.5, never bounced", case_local_error),
]


def main():
    if os.geteuid() != 0:
        print("FAIL: must run as root (Postfix's master)")
        print("0 passed, 1 failed")
        return 1
    if not (SEND and os.access(SEND, os.X_OK)):
        print("FAIL: mtatls-send is not built (MTATLS_SEND=%r)" % SEND)
        print("0 passed, 1 failed")
        return 1
    pfi.stop_all_on_signals()
    config = write_config()
    passed, failed = 0, 1  # if the run itself breaks
    try:
        passed, failed = run_cases(CASES, config)
    finally:
        pfi.stop_all()
        shutil.rmtree(WORK, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
