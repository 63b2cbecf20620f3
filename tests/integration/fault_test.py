#!/usr/bin/python3
"""fault_test.py - nothing lost, nothing leaked, nothing crashed: 500
deliveries through the real module to good and faulty SMTP servers, then
every message accounted for exactly once.

The deliveries run inside one process, fault-driver (the module loaded by
the shim loader, driven by the shim/host engine as mtatls-send drives it,
several threads), so that leaks add up where they can be seen: the driver
compares its own /proc/self/fd before and after and exits non-zero on a
leak; in the sanitize build LeakSanitizer checks its heap at exit.

Servers (ports picked by the kernel, one address per family of faults):
  127.0.0.31  smtp-sink with --maildir (TLS)
  127.0.0.32  smtp-sink with --maildir, --reject-rcpt reject, --defer-rcpt defer
  127.0.0.33  hostile_server.py behaving well (TLS); also with a 2 KB
              receive window (large messages: many partial TLS writes) and
              with the post-TLS EHLO reply dripped in 3-byte records
  127.0.0.34  connection dropped: at the banner, after EHLO, after the 220
              to STARTTLS, mid-handshake, at the post-TLS EHLO (close_notify),
              after RCPT, mid-DATA, after the final dot before the reply
  127.0.0.35  stalls longer than the driver's timeouts: banner, EHLO reply,
              mid-handshake, mid-DATA (zero window), reply to the final dot;
              a banner dripped slower than the per-reply limit allows
  127.0.0.36  TCP RST: at the banner, instead of the handshake, mid-
              handshake, mid-DATA, after the final dot
  127.0.0.37  4xx at a step: banner, EHLO, STARTTLS, MAIL, RCPT (421 and
              close), RCPT, DATA, dot
  127.0.0.38  5xx at a step: banner, EHLO, MAIL, RCPT, DATA, dot
  127.0.0.39  protocol errors (a malformed banner, a 3xx to MAIL, bytes
              outside the TLS records); faults after the 250 to the dot
              (QUIT unanswered, reset or stalled, junk after the 250), which
              must still count as delivered
Where a fault has a position inside a step (how many bytes of the server's
handshake flight, how many message lines before the cut) each connection
draws its own from the seed.  Every server is used under both policies
and every recipient mix at 127.0.0.32 at least once; the other deliveries
go to servers drawn at random (the good ones more often).  The policy
follows the recipient domain: required.test (tls required, verify host)
and opportunistic.test (tls ifavailable, verify no, plaintext fallback on).
Messages carry their id in Message-ID and vary: dot-stuffing, 8-bit text,
long lines, LF/CRLF/CR line ends, no final line end, some of 100-300 KB.

Then, for every delivery (one `ok`/`FAIL` line each):
  - the driver reported it exactly once, with the outcome, SMTP code and
    enhanced code the fault calls for, and the number of attempts (a
    plaintext retry only under opportunistic.test, only after a failed TLS
    negotiation, and then on a new connection);
  - reported delivered <=> a server accepted it: exactly one Maildir file
    (found by the message's unique id) or one accepted copy in a hostile
    server, byte-identical to what was handed to the driver (after the CRLF
    normalisation SMTP requires); a failed delivery left no accepted copy;
  - a fault after the final dot, before the reply, is reported deferred.
    The server may hold the message then (the tests check that the copy
    exists but was never acknowledged): that a retry may deliver it twice is
    inherent in SMTP (RFC 1047) and not something a client can prevent.
And once for the run: the driver exited 0 (no descriptor leak, no crash, no
sanitizer report); no stray or duplicate copy at any server; per hostile
server as many connections as the driver reported attempts; under
tls=required no MAIL/RCPT/DATA was ever sent in the clear and nothing but a
ClientHello followed STARTTLS; the sinks exit cleanly; the run took well
under two minutes.

Environment (set by meson): MTATLS_FAULT_DRIVER, MTATLS_SMTP_SINK,
MTATLS_TEST_MODULE, MTATLS_TEST_PKI; exits 77 (skipped) without them.
MTATLS_TEST_SLOWDOWN=F (scripts/valgrind sets it) multiplies every timeout
and stall by F and makes the default count 500/F (at least 120, enough
for every server under both policies).
Options: --count N, --concurrency C, --timeout S, --seed N, -v (every
driver line and the server traces of failures), --keep (keep the work
directory).  Prints `ok ...`/`FAIL ...` lines and `N passed, N failed`.
"""
import argparse
import collections
import os
import random
import re
import shutil
import signal
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
from hostile_server import (STARTTLS_GO, TLSParams, close, close_notify, drip, expect,  # noqa: E402
                            good_server, recv_line, reset, send, send_plain, sleep, tls_partial)

DRIVER = os.environ.get("MTATLS_FAULT_DRIVER", "")
SINK = os.environ.get("MTATLS_SMTP_SINK", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
SLOWDOWN = float(os.environ.get("MTATLS_TEST_SLOWDOWN", "1") or 1)

REQUIRED = "required.test"
OPPORTUNISTIC = "opportunistic.test"
HELO_DOMAIN = "client.fault.test"
SENDER = "sender@client.fault.test"
BANNER = b"220 mx.example.test ESMTP fault\r\n"
EHLO_TLS_REPLY = (b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                  b"250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
TIME_LIMIT = 110.0      # seconds for the whole run (times SLOWDOWN)


# ---- expectations -------------------------------------------------------------------

class Expect:
    """What one delivery must end as.  code/dsn None: not checked (the
    outcome still is); copy: "accepted" (a server holds an acknowledged
    copy), "none" (no server holds one), "refused" (a server got the whole
    message and refused it with its reply to the dot) or "unacknowledged"
    (a server got the whole message and never replied: the fault after the
    dot, the one case where a retry can duplicate the message)."""

    def __init__(self, outcome, code=None, dsn=None, copy="none", tls=None, attempts=1,
                 reason=None):
        self.outcome = outcome
        self.code = code
        self.dsn = dsn
        self.copy = copy
        self.tls = tls
        self.attempts = attempts
        self.reason = re.compile(reason) if reason else None


def sent(tls="TLS", attempts=1):
    return Expect("sent", 250, "2.0.0", copy="accepted", tls=tls, attempts=attempts)


def fallback_sent():
    """Opportunistic TLS failed before any mail went over it: the module
    allows one plaintext retry on a new connection, which delivers."""
    return sent(tls="SMTP", attempts=2)


def lost(reason=r"lost connection", copy="none", code=451, dsn="4.4.2"):
    return Expect("deferred", code, dsn, copy=copy, reason=reason)


def timed_out(copy="none"):
    return Expect("deferred", 451, "4.4.2", copy=copy, reason=r"timed out")


def tls_failed(reason=r"TLS negotiation failed"):
    return Expect("deferred", 451, "4.7.5", reason=reason)


def reply(outcome, code, dsn, copy="none"):
    return Expect(outcome, code, dsn, copy=copy)


# ---- the servers --------------------------------------------------------------------

class Kind:
    """A family of servers: `scripts(rng, n)` gives the hostile_server
    scripts (one per connection, each drawn from rng) or None for a
    smtp-sink; expected(policy, rcpts) the Expect."""

    def __init__(self, name, address, weight, expect_required, expect_opportunistic=None,
                 script=None, sink_args=None, large=0.05, server_args=None):
        self.name = name
        self.address = address
        self.weight = weight
        self.expect_required = expect_required
        self.expect_opportunistic = expect_opportunistic or expect_required
        self.script = script          # function(rng) -> one script
        self.sink_args = sink_args    # list for smtp-sink, or None
        self.large = large            # the share of large messages sent to it
        self.server_args = server_args or {}  # more HostileServer arguments
        self.next_hop = None          # "ADDR:PORT" once started
        self.server = None            # HostileServer
        self.sink = None              # Popen
        self.maildir = None

    def expected(self, policy, rcpts):
        e = self.expect_required if policy == REQUIRED else self.expect_opportunistic
        return e(rcpts) if callable(e) else e


def tls_params():
    return TLSParams(cert=os.path.join(PKI, "server.pem"), key=os.path.join(PKI, "server.key"),
                     handshake_timeout=5.0 * SLOWDOWN)


def with_replies(**replies):
    """A good TLS server with some replies replaced (bytes or steps)."""
    def script(rng):
        return good_server(tls=tls_params(), banner=BANNER,
                           replies={k: (v(rng) if callable(v) else v) for k, v in replies.items()})
    return script


def flight_cut(then):
    """STARTTLS goes ahead, then only the first 0..500 bytes of the
    server's handshake flight (always less than all of it), then `then`."""
    return lambda rng: [send(STARTTLS_GO), tls_partial(rng.randint(0, 500), then=then,
                                                      tls=tls_params())]


def data_cut(final):
    """354, then 0..6 message lines read, then `final` (close or reset)."""
    return lambda rng: [send(b"354 End data with <CR><LF>.<CR><LF>\r\n")] + \
        [recv_line() for _ in range(rng.randint(0, 6))] + [final]


def sink_b_expect(rcpts):
    """smtp-sink --reject-rcpt reject --defer-rcpt defer: each recipient
    its own reply; the message is accepted for the others."""
    kinds = [r.split("-", 1)[0] for r in rcpts]
    good = [k for k in kinds if k == "ok"]
    if not good:
        if "defer" in kinds:
            return reply("deferred", 450, "4.2.0")
        return reply("bounced", 550, "5.1.1")
    if "defer" in kinds:
        return Expect("deferred", 450, "4.2.0", copy="accepted", tls="TLS")
    if "reject" in kinds:
        return Expect("bounced", 550, "5.1.1", copy="accepted", tls="TLS")
    return sent()


def make_kinds(stall):
    """Every server of the run.  `stall`: how long a stalling server
    waits (longer than the driver's timeout)."""
    a31, a32, a33, a34, a35, a36, a37, a38, a39 = ("127.0.0.%d" % x for x in range(31, 40))
    slow_banner = b"220 mx.example.test ESMTP " + b"d" * 40 + b"\r\n"
    drip_interval = 2.0 * stall / len(slow_banner)
    k = [
        # -- good servers (most of the traffic)
        Kind("sink-a", a31, 24, sent(), sink_args=[]),
        Kind("sink-b", a32, 14, sink_b_expect, sink_args=["--reject-rcpt", "reject",
                                                           "--defer-rcpt", "defer"]),
        Kind("hostile-good", a33, 6, sent(),
             script=lambda rng: good_server(tls=tls_params(), banner=BANNER)),
        # A small receive window: large messages go out in many partial
        # TLS writes (TLS_WRITE answering WANT_WRITE).
        Kind("hostile-good-small-window", a33, 2, sent(), large=0.6,
             script=lambda rng: good_server(tls=tls_params(), banner=BANNER),
             server_args={"rcvbuf": 2048}),
        # The post-TLS EHLO reply three bytes per TLS record, well within
        # the per-reply limit.
        Kind("drip-ehlo-over-tls", a33, 1, sent(),
             script=with_replies(EHLO_TLS=[drip(EHLO_TLS_REPLY, 0.005, chunk=3)])),
        # -- dropped connections
        Kind("drop-banner", a34, 1, lost(r"lost connection .*greeting"),
             script=lambda rng: [close()]),
        Kind("drop-ehlo", a34, 1, lost(r"lost connection .*EHLO"),
             script=lambda rng: [send(BANNER), expect(b"EHLO"), close()]),
        Kind("drop-after-starttls-220", a34, 2, tls_failed(), fallback_sent(),
             script=with_replies(STARTTLS=[send(STARTTLS_GO), close()])),
        Kind("drop-mid-handshake", a34, 2, tls_failed(), fallback_sent(),
             script=with_replies(STARTTLS=flight_cut("close"))),
        Kind("drop-after-rcpt", a34, 1, lost(r"lost connection .*RCPT"),
             script=with_replies(RCPT=[close()])),
        Kind("drop-mid-data", a34, 2, lost(r"lost connection .*(message|end of DATA)"),
             script=with_replies(DATA=data_cut(close()))),
        Kind("close-notify-at-ehlo-over-tls", a34, 1, lost(r"lost connection .*EHLO"),
             script=with_replies(EHLO_TLS=[close_notify()])),
        Kind("drop-after-dot", a34, 2,
             lost(r"lost connection .*end of DATA", copy="unacknowledged"),
             script=with_replies(EOD=[close()])),
        # -- stalls
        Kind("stall-banner", a35, 1, timed_out(), script=lambda rng: [sleep(stall)]),
        Kind("stall-ehlo", a35, 1, timed_out(),
             script=lambda rng: [send(BANNER), expect(b"EHLO"), sleep(stall)]),
        Kind("stall-mid-handshake", a35, 1, tls_failed(r"TLS negotiation failed"), fallback_sent(),
             script=with_replies(STARTTLS=flight_cut("stall"))),
        # The server stops reading after 354: a large message fills the
        # window and the write stalls, a small one waits for the reply.
        Kind("stall-mid-data", a35, 1, timed_out(), large=0.5,
             script=with_replies(DATA=[send(b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                                       sleep(stall)]),
             server_args={"rcvbuf": 2048}),
        Kind("stall-after-dot", a35, 1, timed_out(copy="unacknowledged"),
             script=with_replies(EOD=[sleep(stall)])),
        Kind("drip-banner", a35, 1, timed_out(),
             script=lambda rng: [drip(slow_banner, drip_interval)]),
        # -- resets
        # An RST that arrives before the client polled its connect is
        # reported as a failed connect (4.4.1), one that comes later as a
        # lost connection (4.4.2): either way a deferral.
        Kind("rst-banner", a36, 1,
             lost(r"lost connection|connect to .*reset", dsn=("4.4.1", "4.4.2")),
             script=lambda rng: [reset()]),
        Kind("rst-before-handshake", a36, 1, tls_failed(), fallback_sent(),
             script=with_replies(STARTTLS=[send(STARTTLS_GO), reset()])),
        Kind("rst-mid-handshake", a36, 2, tls_failed(), fallback_sent(),
             script=with_replies(STARTTLS=flight_cut("reset"))),
        Kind("rst-mid-data", a36, 1, lost(), script=with_replies(DATA=data_cut(reset()))),
        Kind("rst-after-dot", a36, 1, lost(copy="unacknowledged"),
             script=with_replies(EOD=[reset()])),
        # -- 4xx at each step
        Kind("421-banner", a37, 1, reply("deferred", 421, "4.3.2"),
             script=lambda rng: [send(b"421 4.3.2 mx.example.test Service not available\r\n"),
                                 close()]),
        Kind("421-ehlo", a37, 1, reply("deferred", 421, "4.3.2"),
             script=with_replies(EHLO=b"421 4.3.2 Shutting down\r\n")),
        Kind("454-starttls", a37, 1, tls_failed(r"no tls go-ahead|STARTTLS"), fallback_sent(),
             script=with_replies(STARTTLS=b"454 4.7.0 TLS not available due to local problem\r\n")),
        Kind("421-rcpt", a37, 1, reply("deferred", 421, "4.3.0"),
             script=with_replies(RCPT=[send(b"421 4.3.0 mx.example.test closing\r\n"), close()])),
        Kind("451-mail", a37, 1, reply("deferred", 451, "4.3.0"),
             script=with_replies(MAIL=b"451 4.3.0 Try again later\r\n")),
        Kind("452-rcpt", a37, 1, reply("deferred", 452, "4.5.3"),
             script=with_replies(RCPT=b"452 4.5.3 Too many recipients\r\n")),
        Kind("451-data", a37, 1, reply("deferred", 451, "4.3.0"),
             script=with_replies(DATA=b"451 4.3.0 Local error in processing\r\n")),
        Kind("452-dot", a37, 1, reply("deferred", 452, "4.3.1", copy="refused"),
             script=with_replies(EOD=b"452 4.3.1 Insufficient system storage\r\n")),
        Kind("421-dot", a37, 1, reply("deferred", 421, "4.4.2", copy="refused"),
             script=with_replies(EOD=b"421 4.4.2 mx.example.test Error: timeout exceeded\r\n")),
        # -- 5xx at each step (a 5xx greeting defers, as in Postfix)
        Kind("554-banner", a38, 1, reply("deferred", 554, "4.3.2"),
             script=lambda rng: [send(b"554 5.3.2 mx.example.test No SMTP service here\r\n"),
                                 close()]),
        Kind("500-ehlo", a38, 1, Expect("deferred", 451, "4.7."), sent(tls="SMTP"),
             script=with_replies(EHLO=b"500 5.5.1 Command unrecognized\r\n")),
        Kind("550-mail", a38, 1, reply("bounced", 550, "5.7.1"),
             script=with_replies(MAIL=b"550 5.7.1 Sender rejected\r\n")),
        Kind("550-rcpt", a38, 1, reply("bounced", 550, "5.1.1"),
             script=with_replies(RCPT=b"550 5.1.1 No such user here\r\n")),
        Kind("554-data", a38, 1, reply("bounced", 554, "5.5.1"),
             script=with_replies(DATA=b"554 5.5.1 Error: no valid recipients\r\n")),
        Kind("554-dot", a38, 1, reply("bounced", 554, "5.6.0", copy="refused"),
             script=with_replies(EOD=b"554 5.6.0 Message content rejected\r\n")),
        # -- protocol errors
        Kind("malformed-banner", a39, 1, Expect("deferred", 451, "4.5.0", reason=r"malformed"),
             script=lambda rng: [send(b"220-mx.example.test\r\n221 other code\r\n"), sleep(0.5)]),
        # -- faults after the 250 to the dot: the message is delivered, and
        # reporting anything else would make the MTA send it again
        Kind("drop-at-quit", a39, 1, sent(), script=with_replies(QUIT=[close()])),
        Kind("rst-at-quit", a39, 1, sent(), script=with_replies(QUIT=[reset()])),
        Kind("stall-at-quit", a39, 1, sent(), script=with_replies(QUIT=[sleep(stall)])),
        Kind("junk-after-250-to-dot", a39, 1, sent(),
             script=with_replies(EOD=b"250 2.0.0 Ok: queued as JUNK\r\n250 unasked\r\n")),
        # Bytes outside the TLS record layer once TLS is up.
        Kind("plaintext-in-tls", a39, 1, lost(r"lost connection"),
             script=with_replies(EHLO_TLS=[send_plain(b"250 mx.example.test\r\n")])),
        Kind("3xx-to-mail", a39, 1, Expect("deferred", 451, "4.5.0", reason=r"unexpected reply"),
             script=with_replies(MAIL=b"354 Go ahead\r\n")),
    ]
    return k


# ---- messages -----------------------------------------------------------------------

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()


def make_message(rng, mid, rcpts, large):
    """The message as an MTA hands it over: unique Message-ID, lines that
    need dot-stuffing, 8-bit text, a long line, a mix of line ends, now and
    then no final line end, and some large ones (partial writes)."""
    ident = mid.encode()
    head = [b"From: <%s>" % SENDER.encode(),
            b"To: " + b", ".join(b"<%s>" % r.encode() for r in rcpts),
            b"Subject: fault test " + ident, b"Message-ID: <" + ident + b"@fault.test>",
            b"X-Fault-Id: " + ident, b""]
    body = []
    for _ in range(rng.randint(8, 40)):
        pick = rng.random()
        if pick < 0.08:
            body.append(b".")
        elif pick < 0.16:
            body.append(b"." + rng.choice(WORDS).encode())
        elif pick < 0.20:
            body.append(b"..double dot")
        elif pick < 0.26:
            body.append("caf\u00e9 \u00fcber na\u00efve \u2014 8-bit".encode())
        elif pick < 0.30:
            body.append(b"")
        elif pick < 0.33:
            body.append(b"x" * rng.randint(500, 990))
        else:
            body.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))).encode())
    if rng.random() < large:  # about 100-300 KB
        body += [(b"%06d " % i) + b"y" * 70 for i in range(rng.randint(1500, 4000))]
    ends = rng.choice([b"\n", b"\r\n", None])
    out = b""
    for line in head + body:
        out += line + (ends if ends is not None else rng.choice([b"\n", b"\r\n", b"\r"]))
    if rng.random() < 0.1:
        out = out.rstrip(b"\r\n")
    return out


def normalise(message):
    """What SMTP carries for `message`: CRLF everywhere, a final CRLF."""
    out = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    return out if out.endswith(b"\r\n") else out + b"\r\n"


# ---- the driver's output ----------------------------------------------------------------

FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def unquote(value):
    if not value.startswith('"'):
        return "" if value == "-" else value
    out, i, s = bytearray(), 1, value[1:-1]
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            if s[i + 1] == "x" and i + 3 < len(s):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += s[i + 1].encode()
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", "replace")


def parse_line(line):
    kind, _, rest = line.partition(" ")
    return kind, {k: unquote(v) for k, v in FIELD.findall(rest)}


# ---- the run ------------------------------------------------------------------------------

class Results:
    def __init__(self, verbose):
        self.passed = 0
        self.failed = 0
        self.verbose = verbose
        self.lock = threading.Lock()

    def check(self, name, ok, detail=""):
        with self.lock:
            if ok:
                self.passed += 1
                print(f"ok {name}" + (f": {detail}" if detail else ""))
            else:
                self.failed += 1
                print(f"FAIL {name}: {detail}")
        sys.stdout.flush()
        return ok


def start_sink(kind, workdir):
    kind.maildir = os.path.join(workdir, kind.name + "-maildir")
    log = open(os.path.join(workdir, kind.name + ".log"), "wb")
    cmd = [SINK, "--listen", kind.address + ":0", "--cert", os.path.join(PKI, "server.pem"),
           "--key", os.path.join(PKI, "server.key"), "--maildir", kind.maildir] + kind.sink_args
    kind.sink = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
    log.close()
    line = kind.sink.stdout.readline().decode("ascii", "replace").strip()
    if not line.startswith("ready "):
        raise RuntimeError(f"{kind.name}: smtp-sink did not start: {line!r}")
    kind.next_hop = line.split(" ", 1)[1]


def start_hostile(kind, rng, connections):
    # One script per connection, each drawn from its own generator.
    scripts = [kind.script(random.Random(rng.random())) for _ in range(connections)]
    kind.server = hs.HostileServer(scripts, host=kind.address, max_connections=connections,
                                   conn_lifetime=max(20.0, 6 * TIMEOUT * SLOWDOWN),
                                   **kind.server_args).start()
    kind.next_hop = f"{kind.address}:{kind.server.port}"


def write_config(workdir):
    path = os.path.join(workdir, "mtatls.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""# fault_test.py: required (verified) by default, opportunistic for one domain
tls: required
tls_verify: host
tls_ca: {os.path.join(PKI, "ca.pem")}
domain:
  {OPPORTUNISTIC}:
    tls: ifavailable
    tls_verify: "no"
    tls_ifavailable_fallback: true
""")
    return path


SINK_B_RECIPIENTS = [["ok"], ["reject"], ["defer"], ["ok", "reject"], ["ok", "defer"],
                     ["ok", "ok-2"]]


def plan_deliveries(rng, kinds, count, workdir):
    """Every server under both policies (and every recipient mix at
    sink-b) at least once, the rest drawn by weight, all shuffled."""
    msgdir = os.path.join(workdir, "messages")
    os.makedirs(msgdir)
    draws = [(k, p, None) for k in kinds for p in (REQUIRED, OPPORTUNISTIC)]
    sink_b = [k for k in kinds if k.name == "sink-b"]
    draws += [(sink_b[0], rng.choice([REQUIRED, OPPORTUNISTIC]), r) for r in SINK_B_RECIPIENTS]
    draws = draws[:count]
    weights = [k.weight for k in kinds]
    while len(draws) < count:
        draws.append((rng.choices(kinds, weights)[0],
                      REQUIRED if rng.random() < 0.7 else OPPORTUNISTIC, None))
    rng.shuffle(draws)
    plan = []
    for i, (kind, policy, mix) in enumerate(draws):
        mid = "m%04d-%04x" % (i, rng.getrandbits(16))
        if kind.name == "sink-b":
            mix = mix or rng.choice(SINK_B_RECIPIENTS)
            rcpts = [f"{r}-{mid}@{policy}" for r in mix]
        else:
            rcpts = [f"rcpt-{mid}@{policy}"]
        sender = "<>" if rng.random() < 0.1 else SENDER
        message = make_message(rng, mid, rcpts, kind.large)
        path = os.path.join(msgdir, mid + ".eml")
        with open(path, "wb") as f:
            f.write(message)
        plan.append({"id": mid, "kind": kind, "policy": policy, "rcpts": rcpts, "sender": sender,
                     "file": path, "wire": normalise(message)})
    return plan


def read_maildir(kind):
    """id -> [(file, header line, body)] of every message the sink stored."""
    found = collections.defaultdict(list)
    strays = []
    for sub in ("new", "cur"):
        d = os.path.join(kind.maildir, sub)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            header, _, body = data.partition(b"\r\n")
            m = re.search(rb"^Message-ID: <([A-Za-z0-9-]+)@fault\.test>\r$", body, re.M | re.I)
            if m:
                found[m.group(1).decode()].append((name, header, body))
            else:
                strays.append(name)
    return found, strays


def connection_owner(conn):
    """The delivery id in a connection's EHLO/HELO name, or None."""
    for _, line in conn.commands:
        m = re.match(rb"(?:EHLO|HELO) ([A-Za-z0-9-]+)\." + re.escape(HELO_DOMAIN.encode()), line,
                     re.I)
        if m:
            return m.group(1).decode()
    return None


def main():
    global TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=max(120, int(500 / SLOWDOWN)))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    missing = [n for n, v in (("MTATLS_FAULT_DRIVER", DRIVER), ("MTATLS_SMTP_SINK", SINK),
                              ("MTATLS_TEST_MODULE", MODULE), ("MTATLS_TEST_PKI", PKI)) if not v]
    if missing:
        print("SKIP: not set: " + ", ".join(missing))
        return 77
    TIMEOUT = args.timeout
    driver_timeout = max(1, int(round(args.timeout * SLOWDOWN)))
    stall = driver_timeout + 2.5 * SLOWDOWN
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"# seed {seed} (--seed {seed} repeats this run), {args.count} deliveries, "
          f"concurrency {args.concurrency}, timeout {driver_timeout} s, stall {stall:.1f} s")
    sys.stdout.flush()
    rng = random.Random(seed)
    results = Results(args.verbose)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="mtatls-faults-")
    kinds = make_kinds(stall)
    try:
        config = write_config(workdir)
        plan = plan_deliveries(rng, kinds, args.count, workdir)
        # Sized per server: every planned delivery may need two connections.
        per_kind = collections.Counter(d["kind"].name for d in plan)
        for kind in kinds:
            if kind.sink_args is not None:
                start_sink(kind, workdir)
            else:
                start_hostile(kind, rng, 2 * per_kind[kind.name] + 4)
        plan_path = os.path.join(workdir, "plan")
        with open(plan_path, "w", encoding="ascii") as f:
            for d in plan:
                f.write(" ".join([d["id"], d["kind"].next_hop, d["file"], d["sender"]] + d["rcpts"])
                        + "\n")
        print("# servers: " + ", ".join(f"{k.name}={k.next_hop}" for k in kinds))
        print("# planned: " + ", ".join(f"{n}={c}" for n, c in sorted(per_kind.items())))
        sys.stdout.flush()

        cmd = [DRIVER, "--config", config, "--module", MODULE, "--plan", plan_path,
               "--concurrency", str(args.concurrency), "--timeout", str(driver_timeout),
               "--attempt-timeout", str(int(30 * SLOWDOWN)), "--helo-domain", HELO_DOMAIN]
        t0 = time.monotonic()
        try:
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 timeout=TIME_LIMIT * SLOWDOWN + 60)
            out, err, status = run.stdout, run.stderr, run.returncode
        except subprocess.TimeoutExpired as e:
            out, err, status = e.stdout or b"", e.stderr or b"", "timeout"
        driver_seconds = time.monotonic() - t0
        time.sleep(0.2)   # let the accept loops take the last connections
        for kind in kinds:
            if kind.server is not None:
                kind.server.stop(grace=1.0)
        sink_status = {}
        for kind in kinds:
            if kind.sink is not None:
                kind.sink.send_signal(signal.SIGTERM)
                try:
                    sink_status[kind.name] = kind.sink.wait(timeout=15 * SLOWDOWN)
                except subprocess.TimeoutExpired:
                    kind.sink.kill()
                    sink_status[kind.name] = "hung"
                kind.sink.stdout.close()

        account(results, args, plan, kinds, out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"), status, driver_seconds, sink_status)
    finally:
        for kind in kinds:
            if kind.server is not None:
                kind.server.stop(grace=0)
            if kind.sink is not None and kind.sink.poll() is None:
                kind.sink.kill()
                kind.sink.wait()
        if args.keep or results.failed:
            print(f"# work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    results.check("run time", elapsed < TIME_LIMIT * SLOWDOWN,
                  f"{elapsed:.1f} s (limit {TIME_LIMIT * SLOWDOWN:.0f} s)")
    print(f"{results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


def account(results, args, plan, kinds, out, err, status, driver_seconds, sink_status):
    by_id = {d["id"]: d for d in plan}
    deliveries, rcpt_lines, attempt_lines, other = {}, collections.defaultdict(list), \
        collections.defaultdict(list), []
    duplicates, unknown = [], []
    for line in out.splitlines():
        kind, fields = parse_line(line)
        if args.verbose:
            print("# driver: " + line)
        mid = fields.get("id")
        if kind == "delivery":
            if mid not in by_id:
                unknown.append(mid)
            elif mid in deliveries:
                duplicates.append(mid)
            deliveries[mid] = fields
        elif kind == "rcpt":
            rcpt_lines[mid].append(fields)
        elif kind == "attempt":
            attempt_lines[mid].append(fields)
        else:
            other.append((kind, fields, line))

    # ---- the driver itself
    summary = [line for kind, _, line in other if kind == "summary"]
    leaks = [line for kind, _, line in other if kind == "leak"]
    errors = [line for kind, _, line in other if kind == "error"]
    results.check("driver exit status 0 (no fd leak, no crash, no sanitizer report)",
                  status == 0 and not leaks and not errors,
                  f"status {status} in {driver_seconds:.1f} s; "
                  f"{summary[0] if summary else 'no summary'}"
                  + "".join("\n    " + x for x in leaks + errors)
                  + ("" if status == 0 else "\n    stderr: " + err[-3000:].replace("\n", "\n    ")))
    results.check("every delivery reported exactly once",
                  not duplicates and not unknown and len(deliveries) == len(plan),
                  f"{len(deliveries)} of {len(plan)} reported; duplicates {duplicates[:5]}, "
                  f"unknown {unknown[:5]}")

    # ---- what the servers hold
    copies = collections.defaultdict(list)   # id -> [(kind name, body, acknowledged, tls)]
    strays = []
    for kind in kinds:
        if kind.sink is not None:
            found, stray = read_maildir(kind)
            strays += [f"{kind.name}:{s}" for s in stray]
            for mid, files in found.items():
                for name, header, body in files:
                    copies[mid].append((kind.name, body, True, b" with ESMTPS " in header))
        if kind.server is not None:
            for conn in kind.server.connections:
                for m in conn.messages:
                    mm = re.search(rb"^Message-ID: <([A-Za-z0-9-]+)@fault\.test>\r$", m.content,
                                   re.M | re.I)
                    if not mm:
                        strays.append(f"{kind.name}: message without id")
                        continue
                    copies[mm.group(1).decode()].append((kind.name, m.content + b"\r\n" if not
                                                         m.content.endswith(b"\r\n") else m.content,
                                                         m.accepted, m.tls))
    for mid in copies:
        if mid not in by_id:
            strays.append(f"copy of unknown message {mid}")
    results.check("no stray message at any server", not strays, "; ".join(strays[:10]))

    # ---- each delivery
    unacknowledged = 0
    for d in plan:
        mid, kind = d["id"], d["kind"]
        e = kind.expected(d["policy"], d["rcpts"])
        name = f"{mid} {kind.name} tls={'required' if d['policy'] == REQUIRED else 'ifavailable'}"
        got = deliveries.get(mid)
        if got is None:
            results.check(name, False, "no result from the driver")
            continue
        problems = []
        if got.get("outcome") != e.outcome:
            problems.append(f"outcome {got.get('outcome')}, want {e.outcome}")
        if e.code is not None and got.get("code") != str(e.code):
            problems.append(f"code {got.get('code')}, want {e.code}")
        if e.dsn is not None and not dsn_matches(got.get("dsn", ""), e.dsn):
            problems.append(f"dsn {got.get('dsn')}, want {e.dsn}")
        if got.get("attempts") != str(e.attempts):
            problems.append(f"{got.get('attempts')} attempts, want {e.attempts}")
        if e.tls is not None and got.get("tls") != e.tls:
            problems.append(f"tls={got.get('tls')}, want {e.tls}")
        if e.tls == "TLS" and d["policy"] == REQUIRED and got.get("verified") != "verified":
            problems.append(f"verified={got.get('verified')} under tls_verify host")
        if e.reason is not None and not e.reason.search(got.get("reason", "")):
            problems.append(f"reason {got.get('reason')!r} does not match /{e.reason.pattern}/")
        # The result's own consistency: the dsn class is the outcome's.
        want_class = {"sent": "2", "deferred": "4", "bounced": "5"}.get(got.get("outcome"), "?")
        if not got.get("dsn", "").startswith(want_class):
            problems.append(f"dsn {got.get('dsn')} does not fit outcome {got.get('outcome')}")
        rcpts = rcpt_lines.get(mid, [])
        if sorted(r.get("addr") for r in rcpts) != sorted(d["rcpts"]):
            problems.append(f"recipient lines {[r.get('addr') for r in rcpts]}")
        any_sent = any(r.get("outcome") == "sent" for r in rcpts)
        if kind.name == "sink-b":
            for r in rcpts:
                want = {"ok": "sent", "reject": "bounced",
                        "defer": "deferred"}[r["addr"].split("-")[0]]
                if r.get("outcome") != want:
                    problems.append(f"rcpt {r['addr']}: {r.get('outcome')}, want {want}")
        attempts = attempt_lines.get(mid, [])
        if len(attempts) != int(got.get("attempts", "0") or 0):
            problems.append(f"{len(attempts)} attempt lines for {got.get('attempts')} attempts")
        for a in attempts[:-1]:
            # Only a failed opportunistic TLS negotiation may lead to a retry.
            if a.get("retry_plaintext") != "1" or d["policy"] != OPPORTUNISTIC:
                problems.append(f"attempt {a.get('n')} followed by a retry it did not allow")
        # Copies at the servers.
        held = copies.get(mid, [])
        acked = [c for c in held if c[2]]
        unacked = [c for c in held if not c[2]]
        if any_sent or got.get("outcome") == "sent":
            if len(acked) != 1:
                problems.append(f"reported delivered, but {len(acked)} acknowledged copies")
            elif acked[0][1] != d["wire"]:
                problems.append(f"the copy at {acked[0][0]} differs from the message sent "
                                f"({len(acked[0][1])} vs {len(d['wire'])} bytes)")
            elif e.tls == "TLS" and not acked[0][3]:
                problems.append("the copy arrived without TLS")
            elif d["policy"] == REQUIRED and not acked[0][3]:
                problems.append("delivered in the clear under tls=required")
        elif acked:
            problems.append(f"reported {got.get('outcome')}, but {acked[0][0]} acknowledged it")
        if e.copy == "accepted" and not acked:
            problems.append("no server acknowledged it")
        if e.copy in ("unacknowledged", "refused"):
            # The server holds the whole message, without having said 250.
            if len(unacked) != 1:
                problems.append(f"{len(unacked)} unacknowledged copies at the server, want 1")
            elif unacked[0][1] != d["wire"]:
                problems.append(f"the unacknowledged copy at {unacked[0][0]} differs from the "
                                "message sent")
            elif e.copy == "unacknowledged":
                unacknowledged += 1
        elif unacked:
            problems.append(f"{len(unacked)} unacknowledged copies at the server")
        detail = (f"{got.get('outcome')} {got.get('code')} {got.get('dsn')} "
                  f"attempts={got.get('attempts')} tls={got.get('tls') or '-'}")
        if problems:
            detail += " -- " + "; ".join(problems) + f" (reason {got.get('reason')!r})"
            if args.verbose and kind.server is not None:
                detail += "\n" + trace_for(kind, mid)
        results.check(name, not problems, detail)
    print(f"# {unacknowledged} messages were deferred after the final dot although the server "
          "had them (never acknowledged): a retry may duplicate them, as SMTP allows")

    # ---- connections at the hostile servers
    attempts_per_kind = collections.Counter()
    for d in plan:
        if d["id"] in deliveries:
            attempts_per_kind[d["kind"].name] += int(deliveries[d["id"]].get("attempts", "0") or 0)
    bad_counts, clear, after_starttls = [], [], []
    for kind in kinds:
        if kind.server is None:
            continue
        conns = kind.server.connections
        if len(conns) != attempts_per_kind[kind.name]:
            bad_counts.append(f"{kind.name}: {len(conns)} connections, "
                              f"{attempts_per_kind[kind.name]} attempts reported")
        for conn in conns:
            owner = connection_owner(conn)
            d = by_id.get(owner)
            in_clear = [line for tls, line in conn.commands if not tls]
            verbs = [line.split(b" ")[0].strip().upper() for line in in_clear]
            if d is not None and d["policy"] == REQUIRED and \
                    {b"MAIL", b"RCPT", b"DATA", b"HELO"} & set(verbs):
                clear.append(f"{kind.name} conn {conn.index} ({owner}): {verbs}")
            if b"STARTTLS" in verbs:
                tail = verbs[verbs.index(b"STARTTLS") + 1:]
                if tail or (conn.starttls_peek and not conn.client_hello):
                    after_starttls.append(f"{kind.name} conn {conn.index} ({owner}): {tail} "
                                          f"peek={conn.starttls_peek!r}")
    results.check("one connection per reported attempt at every hostile server", not bad_counts,
                  "; ".join(bad_counts))
    results.check("tls=required: no MAIL/RCPT/DATA/HELO in the clear", not clear,
                  "; ".join(clear[:5]))
    results.check("nothing but a ClientHello after STARTTLS", not after_starttls,
                  "; ".join(after_starttls[:5]))
    bad_sinks = {k: v for k, v in sink_status.items() if v != 0}
    results.check("smtp-sinks exit cleanly", not bad_sinks, f"{bad_sinks}")


def dsn_matches(dsn, want):
    """`want`: "4.4.2" exactly, "4.7." as a prefix, or a tuple of those."""
    if isinstance(want, tuple):
        return any(dsn_matches(dsn, w) for w in want)
    return dsn == want or (want.endswith(".") and dsn.startswith(want))


def trace_for(kind, mid):
    lines = []
    for conn in kind.server.connections:
        if connection_owner(conn) == mid:
            lines.append(f"    -- {kind.name} connection {conn.index} closed_by={conn.closed_by} "
                         f"tls_error={conn.tls_error} errors={conn.errors}")
            lines += ["       " + e for e in conn.events[-20:]]
    return "\n".join(lines)


TIMEOUT = 2

if __name__ == "__main__":
    sys.exit(main())
