"""hostile_server.py - a scriptable SMTP server for the outbound-TLS tests.

A test describes what the server does as a list of steps (send these bytes,
wait for that command, start TLS with this certificate, cut the connection,
...), or builds the usual well-behaved server with `good_server()` and
changes one knob.  The server records everything the client sent: the raw
bytes before TLS, the decrypted bytes after it, whether the first bytes
after `STARTTLS\\r\\n` were a TLS ClientHello (read with MSG_PEEK before the
socket is handed to the TLS library), what that ClientHello offered, and
every message delivered.

Before TLS the server never reads past the end of a line (it peeks, then
takes exactly one line), so the bytes that follow STARTTLS stay in the
kernel for the ClientHello check and for OpenSSL.

It runs in threads on 127.0.0.x with port 0 and handles one or several
connections (an opportunistic fallback opens a second one; connection i uses
scripts[i], the last script repeats).  Every wait has a deadline and every
loop watches a stop event, so a test can always end it.  Python stdlib only
(ctypes reaches the two libssl calls the ssl module lacks: a TLS 1.3
KeyUpdate and a TLS 1.2 renegotiation request).
"""

import ctypes
import ctypes.util
import os
import select
import socket
import ssl
import struct
import threading
import time
import warnings

# MTATLS_TEST_SLOWDOWN=F (scripts/valgrind sets it) stretches every wait
# for a client that runs F times slower than usual.
SLOWDOWN = float(os.environ.get("MTATLS_TEST_SLOWDOWN", "1") or 1)
# How long any single wait for the client may take, unless a step says
# otherwise.  Tests pass smaller client timeouts than this.
DEFAULT_WAIT = 10.0 * SLOWDOWN
# The longest a connection may live at all.
DEFAULT_CONN_LIFETIME = 60.0 * SLOWDOWN
# Bounds on what one line may be (the client's lines are short).
MAX_LINE = 65536

STARTTLS_GO = b"220 2.0.0 Ready to start TLS\r\n"
DEFAULT_CAPS = [b"PIPELINING", b"SIZE 10240000", b"ENHANCEDSTATUSCODES", b"8BITMIME"]


# ---- Steps -----------------------------------------------------------------
# A step is a tuple (kind, args...).  The builders below are the public way
# to make them; `Connection.run_steps` interprets them.


def send(data):
    """Send `data` as one TCP segment (TCP_NODELAY is on)."""
    return ("send", bytes(data))


def send_plain(data):
    """Write `data` straight to the socket, bypassing TLS if it is active
    (plaintext injected after the handshake)."""
    return ("send_plain", bytes(data))


def expect(prefix, timeout=DEFAULT_WAIT):
    """Read one line; it must start with `prefix` (case-insensitive), else
    the connection ends and the mismatch is recorded."""
    return ("expect", bytes(prefix), timeout)


def recv_line(timeout=DEFAULT_WAIT):
    """Read one line, whatever it is."""
    return ("recv_line", timeout)


def recv_raw(idle=0.3, timeout=DEFAULT_WAIT):
    """Read whatever arrives until the client is quiet for `idle` seconds
    (for example the ClientHello, read as plain bytes)."""
    return ("recv_raw", idle, timeout)


def sleep(seconds):
    """Do nothing for `seconds` (ends early when the server stops)."""
    return ("sleep", float(seconds))


def drip(data, interval, chunk=1):
    """Send `data` `chunk` bytes at a time, `interval` seconds apart, each
    piece its own segment."""
    return ("drip", bytes(data), float(interval), int(chunk))


def check_clienthello(timeout=DEFAULT_WAIT):
    """Peek (without consuming) at what the client sends next and record
    whether it is a TLS ClientHello (0x16 0x03) and what it offers."""
    return ("check_clienthello", timeout)


def starttls(tls=None, **params):
    """check_clienthello, then run the server side of the handshake.  `tls`
    is a TLSParams; keyword arguments build one.  A failed handshake ends
    the connection (recorded in tls_error)."""
    return ("starttls", tls if tls is not None else TLSParams(**params))


def tls_partial(nbytes, then="close", tls=None, **params):
    """Read the ClientHello, compute the real server flight, send only its
    first `nbytes` bytes, then `then`: "close", "reset" or "stall"."""
    return ("tls_partial", tls if tls is not None else TLSParams(**params), int(nbytes), then)


def key_update():
    """TLS 1.3: send a KeyUpdate that requests the client's (it goes out
    with the next send).  Recorded in key_updates."""
    return ("key_update",)


def renegotiate(timeout=3.0):
    """TLS 1.2: request a renegotiation (HelloRequest) and try to complete
    it; the outcome goes to `renegotiation` ("done" or "failed: ...").  A
    failure ends the connection."""
    return ("renegotiate", float(timeout))


def close():
    """Close the connection (FIN; no close_notify even under TLS)."""
    return ("close",)


def close_notify():
    """Send TLS close_notify, then close."""
    return ("close_notify",)


def reset():
    """Abort the connection with a TCP RST (SO_LINGER 0)."""
    return ("reset",)


def serve(**knobs):
    """Behave as a normal ESMTP server from here until QUIT; see Serve."""
    return ("serve", Serve(**knobs))


class TLSParams:
    """The server side of a handshake.  `chain` (leaf followed by
    intermediates) wins over `cert`.  Versions are ssl.TLSVersion values;
    `seclevel` is appended to the cipher string as @SECLEVEL=n."""

    def __init__(self, cert=None, key=None, chain=None, min_version=None, max_version=None,
                 ciphers=None, seclevel=None, handshake_timeout=DEFAULT_WAIT, client_ca=None):
        self.cert = chain or cert
        self.key = key
        self.min_version = min_version
        self.max_version = max_version
        self.ciphers = ciphers
        self.seclevel = seclevel
        self.handshake_timeout = handshake_timeout
        # Ask for (but do not require) a client certificate from this CA.
        self.client_ca = client_ca

    def context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():
            # TLS 1.0 on purpose: Python warns that it is deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            if self.min_version is not None:
                ctx.minimum_version = self.min_version
            if self.max_version is not None:
                ctx.maximum_version = self.max_version
        if self.ciphers is not None or self.seclevel is not None:
            spec = self.ciphers or "DEFAULT"
            if self.seclevel is not None:
                spec += f":@SECLEVEL={self.seclevel}"
            ctx.set_ciphers(spec)
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        if self.client_ca:
            ctx.load_verify_locations(self.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx


class Serve:
    """Knobs of the normal ESMTP behaviour.

    hostname        name in the EHLO greeting line
    caps            EHLO keyword lines before TLS (STARTTLS is added when
                    advertise_starttls is true and TLS is not active yet)
    caps_tls        EHLO keyword lines over TLS (default: caps)
    ehlo_reply      raw bytes replacing the whole EHLO reply before TLS
    ehlo_reply_tls  raw bytes replacing it over TLS
    advertise_starttls
    tls             TLSParams for STARTTLS (None: STARTTLS gets 502)
    starttls_reply  the reply to STARTTLS; TLS starts only if it is 220
    extra_after_starttls  bytes sent in the same segment after that reply
    rcpt_replies    {address (lower case): reply bytes}
    replies         {VERB or event: bytes or a list of steps} overriding the
                    defaults; events: "EHLO_TLS", "EOD" (end of data)
    eod_reply       reply to the final dot
    """

    def __init__(self, hostname="mx.example.test", caps=None, caps_tls=None, ehlo_reply=None,
                 ehlo_reply_tls=None, advertise_starttls=True, tls=None, starttls_reply=STARTTLS_GO,
                 extra_after_starttls=b"", rcpt_replies=None, replies=None,
                 eod_reply=b"250 2.0.0 Ok: queued as HOSTILE\r\n"):
        self.hostname = hostname
        self.caps = list(DEFAULT_CAPS if caps is None else caps)
        self.caps_tls = list(self.caps if caps_tls is None else caps_tls)
        self.ehlo_reply = ehlo_reply
        self.ehlo_reply_tls = ehlo_reply_tls
        self.advertise_starttls = advertise_starttls
        self.tls = tls
        self.starttls_reply = starttls_reply
        self.extra_after_starttls = extra_after_starttls
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt_replies or {}).items()}
        self.replies = {k.upper(): v for k, v in (replies or {}).items()}
        self.eod_reply = eod_reply


def good_server(advertise_starttls=True, starttls_reply=STARTTLS_GO, extra_after_220=b"",
                cert=None, key=None, chain=None, tls=None,
                banner=b"220 mx.example.test ESMTP hostile_server\r\n", **serve_knobs):
    """A script for the usual well-behaved server: banner, then serve().
    `extra_after_220` rides in the same segment as the reply to STARTTLS
    (the injection knob).  `tls` (a TLSParams) or cert/key/chain configure
    the handshake."""
    if tls is None and (cert or chain):
        tls = TLSParams(cert=cert, key=key, chain=chain)
    return [send(banner),
            serve(advertise_starttls=advertise_starttls, starttls_reply=starttls_reply,
                  extra_after_starttls=extra_after_220, tls=tls, **serve_knobs)]


# ---- Records ------------------------------------------------------------------


class Message:
    """One message the server accepted (or at least received) via DATA."""

    def __init__(self, mail_from, rcpts, raw, tls, accepted):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.raw = raw            # as on the wire, dot-stuffed, without the final ".\r\n"
        self.content = unstuff(raw)
        self.tls = tls            # arrived over TLS
        self.accepted = accepted  # the server answered 2xx to the final dot

    def __repr__(self):
        return f"Message(from={self.mail_from!r}, rcpts={self.rcpts!r}, tls={self.tls}, {len(self.raw)} bytes)"


def address(arg):
    """The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`, lower case."""
    return arg.split(b"<", 1)[-1].split(b">", 1)[0].decode("latin-1").lower()


def unstuff(raw):
    out = []
    for line in raw.split(b"\r\n"):
        out.append(line[1:] if line.startswith(b".") else line)
    return b"\r\n".join(out)


class ConnectionDone(Exception):
    """Unwinds the script: the connection is over (closed by either side)."""


class ClientHelloInfo:
    """What a ClientHello offered, parsed from the peeked bytes."""

    def __init__(self, data):
        self.raw = data
        self.complete = False
        self.sni = None
        self.versions = []        # supported_versions, or [legacy_version]
        self.legacy_version = None
        self.early_data = False
        self.ciphers = []
        self.extensions = []
        try:
            self._parse(data)
        except (IndexError, struct.error):
            pass

    def _parse(self, d):
        if len(d) < 5 or d[0] != 0x16:
            return
        rec_len = struct.unpack(">H", d[3:5])[0]
        body = d[5:5 + rec_len]
        if len(body) < 4 or body[0] != 0x01:
            return
        p = 4
        self.legacy_version = struct.unpack(">H", body[p:p + 2])[0]
        p += 2 + 32
        p += 1 + body[p]
        n = struct.unpack(">H", body[p:p + 2])[0]
        self.ciphers = [struct.unpack(">H", body[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
        p += 2 + n
        p += 1 + body[p]
        ext_end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 2
        while p + 4 <= ext_end:
            etype, elen = struct.unpack(">HH", body[p:p + 4])
            ext = body[p + 4:p + 4 + elen]
            self.extensions.append(etype)
            if etype == 0 and len(ext) >= 5:        # server_name
                nlen = struct.unpack(">H", ext[3:5])[0]
                self.sni = ext[5:5 + nlen].decode("ascii", "replace")
            elif etype == 43 and ext:               # supported_versions
                self.versions = [struct.unpack(">H", ext[1 + i:3 + i])[0] for i in range(0, ext[0], 2)]
            elif etype == 42:                       # early_data
                self.early_data = True
            p += 4 + elen
        if not self.versions:
            self.versions = [self.legacy_version]
        self.complete = len(d) >= 5 + rec_len

    def __repr__(self):
        return (f"ClientHello(sni={self.sni!r}, versions={[hex(v) for v in self.versions]}, "
                f"early_data={self.early_data})")


class Connection:
    """One accepted connection: its script runs in its own thread and fills
    in the record fields below."""

    def __init__(self, server, index, sock, peer, script):
        self.server = server
        self.index = index
        self.peer = peer
        self.script = script
        self.sock = sock          # the TCP socket (detached once TLS wraps it)
        self.fd = sock.fileno()
        self.tls = None           # ssl.SSLSocket once the handshake is done
        self.buf = b""            # decrypted bytes read ahead (TLS only)
        self.deadline = time.monotonic() + server.conn_lifetime
        # ---- the record ----
        self.pre_tls = bytearray()    # raw client bytes before TLS
        self.post_tls = bytearray()   # decrypted client bytes over TLS
        self.raw_after_tls = bytearray()  # raw bytes read outside TLS after STARTTLS (recv_raw)
        self.sent = bytearray()       # everything the server sent (plaintext view)
        self.commands = []            # (over_tls, line) for each line read
        self.starttls_peek = None     # first bytes after STARTTLS (None: never looked)
        self.client_hello = None      # True/False once looked
        self.hello = None             # ClientHelloInfo
        self.tls_version = None
        self.tls_cipher = None
        self.tls_error = None
        self.messages = []
        self.pipelined = []           # (over_tls, verb): more input came before the reply
        self.peer_cert = None         # the client's certificate (dict), if it sent one
        self.key_updates = 0          # KeyUpdates the server sent
        self.renegotiation = None     # None, "done" or "failed: ..."
        self.errors = []              # script problems (expect mismatch, timeouts)
        self.events = []              # a readable trace
        self.closed_by = None         # "server", "client", "stop"
        self.finished = threading.Event()
        self.sleeping = False         # in a deliberate wait (sleep, stall)

    # ---- low-level I/O ----------------------------------------------------------

    def _event(self, text):
        self.events.append(f"{time.monotonic() - self.server.t0:7.3f} {text}")

    def _stopped(self):
        return self.server.stop_event.is_set()

    def _wait_readable(self, deadline):
        """Waits until the socket is readable; False on deadline or stop."""
        while True:
            if self.tls is not None and self.tls.pending():
                return True
            now = time.monotonic()
            end = min(deadline, self.deadline)
            if now >= end:
                return False
            try:
                r, _, _ = select.select([self.fd], [], [], min(0.05, end - now))
            except (OSError, ValueError):
                raise ConnectionDone("socket gone")
            if r:
                return True
            if self._stopped():
                return False

    def _send(self, data):
        if not data:
            return
        try:
            if self.tls is not None:
                self.tls.settimeout(DEFAULT_WAIT)
                self.tls.sendall(data)
            else:
                self.sock.settimeout(DEFAULT_WAIT)
                self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            self._event(f"send failed: {e!r}")
            self.closed_by = self.closed_by or "client"
            raise ConnectionDone(f"send failed: {e!r}")
        self.sent += data
        self._event(f"S: {bytes(data)[:120]!r}")

    def _read_plain_line(self, timeout):
        """Exactly one line from the raw socket, never more: peek, then take
        up to and including the LF.  Returns b"" on EOF, the partial line if
        EOF or the limit comes first; raises ConnectionDone on timeout."""
        deadline = time.monotonic() + timeout
        line = b""
        while True:
            if not self._wait_readable(deadline):
                raise ConnectionDone("timeout waiting for a line" if not self._stopped() else "stopped")
            try:
                peek = self.sock.recv(MAX_LINE, socket.MSG_PEEK)
            except OSError as e:
                self.closed_by = self.closed_by or "client"
                raise ConnectionDone(f"recv failed: {e!r}")
            if not peek:
                self.closed_by = self.closed_by or "client"
                return line
            lf = peek.find(b"\n")
            take = lf + 1 if lf >= 0 else len(peek)
            got = self.sock.recv(take)
            self.pre_tls += got
            line += got
            if lf >= 0 or len(line) >= MAX_LINE:
                return line

    def _read_tls_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf and len(self.buf) < MAX_LINE:
            if not self._wait_readable(deadline):
                raise ConnectionDone("timeout waiting for a line" if not self._stopped() else "stopped")
            try:
                self.tls.settimeout(max(0.01, min(deadline, self.deadline) - time.monotonic()))
                data = self.tls.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except (OSError, ssl.SSLError) as e:
                self.tls_error = self.tls_error or f"read: {e!r}"
                self.closed_by = self.closed_by or "client"
                raise ConnectionDone(f"TLS read failed: {e!r}")
            if not data:
                self.closed_by = self.closed_by or "client"
                break
            self.post_tls += data
            self.buf += data
        lf = self.buf.find(b"\n")
        take = lf + 1 if lf >= 0 else len(self.buf)
        line, self.buf = self.buf[:take], self.buf[take:]
        return line

    def read_line(self, timeout=DEFAULT_WAIT):
        line = self._read_tls_line(timeout) if self.tls is not None else self._read_plain_line(timeout)
        if line:
            self.commands.append((self.tls is not None, line))
            self._event(f"C: {line[:120]!r}")
        return line

    def _more_input_waiting(self):
        """Whether the client already sent more (it pipelined)."""
        if self.tls is not None:
            if self.buf or self.tls.pending():
                return True
        try:
            r, _, _ = select.select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(r)

    def _peek(self, want, timeout):
        """Peeks until `want` bytes are there, EOF, or the deadline; returns
        what is there."""
        deadline = time.monotonic() + timeout
        data = b""
        stalled_since = None
        while len(data) < want:
            if not self._wait_readable(deadline):
                break
            try:
                more = self.sock.recv(want, socket.MSG_PEEK)
            except OSError:
                break
            if not more:
                break
            if len(more) > len(data):
                data, stalled_since = more, None
            elif stalled_since is None:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > 1.0:
                break   # a short record that will not grow (EOF hides behind peeked data)
            if len(data) < want:
                time.sleep(0.005)   # the rest is on its way
        return data

    # ---- steps -------------------------------------------------------------------

    def run_steps(self, steps):
        for step in steps:
            if self._stopped():
                raise ConnectionDone("stopped")
            getattr(self, "_step_" + step[0])(*step[1:])

    def _step_send(self, data):
        self._send(data)

    def _step_send_plain(self, data):
        try:
            os.write(self.fd, data)
        except OSError as e:
            raise ConnectionDone(f"send_plain failed: {e!r}")
        self.sent += data
        self._event(f"S(plain): {data[:120]!r}")

    def _step_expect(self, prefix, timeout):
        line = self.read_line(timeout)
        if not line.upper().startswith(prefix.upper()):
            self.errors.append(f"expected {prefix!r}, got {line!r}")
            raise ConnectionDone("unexpected input")

    def _step_recv_line(self, timeout):
        if not self.read_line(timeout):
            raise ConnectionDone("client closed")

    def _step_recv_raw(self, idle, timeout):
        deadline = time.monotonic() + timeout
        got = b""
        while True:
            quiet = min(deadline, time.monotonic() + idle)
            if not self._wait_readable(quiet):
                break
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                self.closed_by = self.closed_by or "client"
                break
            got += data
        if self.starttls_peek is not None:
            self.raw_after_tls += got
        else:
            self.pre_tls += got
        self._event(f"C(raw): {len(got)} bytes")

    def _step_sleep(self, seconds):
        self._idle_wait(seconds)

    def _idle_wait(self, seconds):
        """Waits on purpose without reading; stop() need not give a grace
        period to a connection that is doing this."""
        self.sleeping = True
        try:
            self.server.stop_event.wait(seconds)
        finally:
            self.sleeping = False

    def _step_drip(self, data, interval, chunk):
        for i in range(0, len(data), chunk):
            if time.monotonic() > self.deadline:
                raise ConnectionDone("lifetime over")
            self._send(data[i:i + chunk])
            if self.server.stop_event.wait(interval):
                raise ConnectionDone("stopped")

    def _step_check_clienthello(self, timeout):
        if self.starttls_peek is not None:
            return
        head = self._peek(5, timeout)
        self.starttls_peek = head
        self.client_hello = head[:2] == b"\x16\x03"
        if self.client_hello and len(head) == 5:
            want = 5 + struct.unpack(">H", head[3:5])[0]
            self.hello = ClientHelloInfo(self._peek(want, timeout))
        self._event(f"after STARTTLS: {head!r} client_hello={self.client_hello} {self.hello!r}")

    def _step_starttls(self, params):
        self._step_check_clienthello(params.handshake_timeout)
        if not self.client_hello:
            if not self.starttls_peek:
                self.closed_by = self.closed_by or "client"
            raise ConnectionDone("no ClientHello")
        try:
            ctx = params.context()
            self.sock.settimeout(params.handshake_timeout)
            tls = ctx.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            self.sock = None
            self.tls = tls
            tls.do_handshake()
        except (OSError, ssl.SSLError, ValueError) as e:
            self.tls_error = f"handshake: {e!r}"
            self._event(self.tls_error)
            raise ConnectionDone("handshake failed")
        self.tls_version = self.tls.version()
        self.tls_cipher = self.tls.cipher()
        try:
            self.peer_cert = self.tls.getpeercert() or None
        except (ValueError, ssl.SSLError):
            pass
        self._event(f"TLS up: {self.tls_version} {self.tls_cipher}")

    def _step_tls_partial(self, params, nbytes, then):
        self._step_check_clienthello(params.handshake_timeout)
        if not self.client_hello:
            raise ConnectionDone("no ClientHello")
        want = 5 + struct.unpack(">H", self.starttls_peek[3:5])[0]
        hello = b""
        deadline = time.monotonic() + params.handshake_timeout
        while len(hello) < want and self._wait_readable(deadline):
            data = os.read(self.fd, want - len(hello))
            if not data:
                break
            hello += data
        self.raw_after_tls += hello
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = params.context().wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(hello)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            self.tls_error = f"partial handshake: {e!r}"
        flight = outgoing.read()
        self._step_send_plain(flight[:nbytes])
        self._event(f"sent {min(nbytes, len(flight))} of {len(flight)} handshake bytes, then {then}")
        if then == "reset":
            self._step_reset()
        elif then == "stall":
            self._idle_wait(max(0.0, self.deadline - time.monotonic()))
            raise ConnectionDone("stall over")
        else:
            self._step_close()

    def _step_key_update(self):
        if self.tls is None:
            raise ConnectionDone("key_update without TLS")
        ssl_ptr = _ssl_pointer(self.tls)
        if _libssl().SSL_key_update(ssl_ptr, 1) != 1:   # SSL_KEY_UPDATE_REQUESTED
            self.errors.append("SSL_key_update failed")
            raise ConnectionDone("key_update failed")
        self.key_updates += 1
        self._event("KeyUpdate scheduled")

    def _step_renegotiate(self, timeout):
        if self.tls is None:
            raise ConnectionDone("renegotiate without TLS")
        lib, ssl_ptr = _libssl(), _ssl_pointer(self.tls)
        if lib.SSL_renegotiate(ssl_ptr) != 1:
            self.errors.append("SSL_renegotiate failed (TLS 1.3 has no renegotiation)")
            raise ConnectionDone("renegotiate failed")
        try:
            # Sends the HelloRequest; the client's answer (a ClientHello, or
            # a no_renegotiation alert) is processed by the next read.
            self.tls.settimeout(timeout)
            self.tls.do_handshake()
            self.tls.settimeout(min(timeout, 1.0))
            try:
                data = self.tls.recv(65536)
                self.buf += data
                self.post_tls += data
            except (socket.timeout, ssl.SSLWantReadError):
                pass
        except (OSError, ssl.SSLError) as e:
            self.renegotiation = f"failed: {e!r}"
            self._event(f"renegotiation {self.renegotiation}")
            raise ConnectionDone("renegotiation failed")
        self.renegotiation = "pending (no answer)" if lib.SSL_renegotiate_pending(ssl_ptr) else "done"
        self._event(f"renegotiation {self.renegotiation}")
        if self.renegotiation != "done":
            raise ConnectionDone("renegotiation not completed")

    def _step_close(self):
        self.closed_by = self.closed_by or "server"
        self._close_socket()
        raise ConnectionDone("closed by script")

    def _step_close_notify(self):
        if self.tls is not None:
            try:
                self.tls.settimeout(2.0)
                self.sock = self.tls.unwrap()
                self.tls = None
            except (OSError, ssl.SSLError, ValueError) as e:
                self._event(f"unwrap failed: {e!r}")
        self._step_close()

    def _step_reset(self):
        self.closed_by = self.closed_by or "server"
        s = self.tls if self.tls is not None else self.sock
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self._close_socket()
        raise ConnectionDone("reset by script")

    def _close_socket(self):
        for s in (self.tls, self.sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.tls = self.sock = None

    def _step_serve(self, knobs):
        Session(self, knobs).run()

    # ---- thread body -----------------------------------------------------------------

    def run(self):
        try:
            self.run_steps(self.script)
            # The script ran out without closing: record whatever the
            # client still says (QUIT, a ClientHello...) until it closes.
            self._drain(1.0)
            self.closed_by = self.closed_by or "server"
        except ConnectionDone as e:
            self._event(f"done: {e}")
        except Exception as e:  # a bug in a script must not hang the test
            self.errors.append(f"server exception: {e!r}")
            self._event(f"exception: {e!r}")
        finally:
            if self._stopped() and self.closed_by is None:
                self.closed_by = "stop"
                self._drain_now()
            self._close_socket()
            self.finished.set()

    def _drain_now(self):
        """Records what the client sent while the script was not reading
        (it is all in the kernel by now), without waiting."""
        if self.sock is None:
            return
        try:
            while True:
                data = self.sock.recv(65536, socket.MSG_DONTWAIT)
                if not data:
                    return
                (self.raw_after_tls if self.starttls_peek is not None else self.pre_tls).extend(data)
        except OSError:
            return

    def _drain(self, idle):
        while self.sock is not None or self.tls is not None:
            try:
                if not self._wait_readable(time.monotonic() + idle):
                    return
                if self.tls is not None:
                    if not self._read_tls_line(idle):
                        return
                elif not self._read_plain_line(idle):
                    return
            except ConnectionDone:
                return

    # ---- summaries for tests ---------------------------------------------------------

    def client_commands(self, over_tls=None):
        """Upper-cased verbs the client sent, optionally only before or only
        over TLS."""
        return [line.split(b" ")[0].strip().upper().decode("latin-1")
                for tls, line in self.commands if over_tls is None or tls == over_tls]


_LIBSSL = None


def _libssl():
    """The libssl that Python's ssl module uses, for the two calls the
    stdlib does not offer (SSL_key_update, SSL_renegotiate)."""
    global _LIBSSL
    if _LIBSSL is None:
        lib = ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3")
        for name, args in (("SSL_get_fd", [ctypes.c_void_p]), ("SSL_key_update", [ctypes.c_void_p, ctypes.c_int]),
                           ("SSL_renegotiate", [ctypes.c_void_p]), ("SSL_renegotiate_pending", [ctypes.c_void_p])):
            getattr(lib, name).argtypes = args
            getattr(lib, name).restype = ctypes.c_int
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
            raise RuntimeError("libssl found by ctypes is not the one Python's ssl uses")
        _LIBSSL = lib
    return _LIBSSL


def _ssl_pointer(sslsock):
    """The SSL* inside an ssl.SSLSocket.  CPython's PySSLSocket is
    {PyObject_HEAD; PyObject *Socket; SSL *ssl; ...}; the pointer is checked
    with SSL_get_fd before use, so a different layout fails loudly."""
    word = ctypes.sizeof(ctypes.c_void_p)
    ptr = ctypes.c_void_p.from_address(id(sslsock._sslobj) + 3 * word).value
    if not ptr or _libssl().SSL_get_fd(ptr) != sslsock.fileno():
        raise RuntimeError("cannot locate the SSL object of this Python build")
    return ptr


class Session:
    """The normal ESMTP state machine used by serve()."""

    def __init__(self, conn, knobs):
        self.c = conn
        self.k = knobs
        self.mail_from = None
        self.rcpts = []

    def reply(self, key, default):
        """Sends the override for `key` (bytes, or steps to run), else
        `default`."""
        override = self.k.replies.get(key)
        if override is None:
            self.c._send(default)
        elif isinstance(override, (bytes, bytearray)):
            self.c._send(bytes(override))
        else:
            self.c.run_steps(override)

    def ehlo_reply(self):
        tls = self.c.tls is not None
        raw = self.k.ehlo_reply_tls if tls else self.k.ehlo_reply
        if raw is not None:
            return raw
        caps = list(self.k.caps_tls if tls else self.k.caps)
        if not tls and self.k.advertise_starttls:
            caps.append(b"STARTTLS")
        lines = [self.k.hostname.encode()] + caps
        return b"".join(b"250" + (b" " if i == len(lines) - 1 else b"-") + line + b"\r\n"
                        for i, line in enumerate(lines))

    def run(self):
        c = self.c
        while True:
            line = c.read_line()
            if not line:
                raise ConnectionDone("client closed")
            verb = line.split(b" ")[0].strip().upper().decode("latin-1")
            arg = line[len(verb):].strip()
            if verb in ("MAIL", "RCPT", "DATA", "RSET", "NOOP", "HELO", "EHLO", "STARTTLS") and c._more_input_waiting():
                c.pipelined.append((c.tls is not None, verb))
            key = verb
            if verb == "EHLO":
                key = "EHLO_TLS" if c.tls is not None else "EHLO"
                self.mail_from, self.rcpts = None, []
                self.reply(key, self.ehlo_reply())
            elif verb == "HELO":
                self.reply("HELO", b"250 " + self.k.hostname.encode() + b"\r\n")
            elif verb == "STARTTLS":
                self.starttls()
            elif verb == "MAIL":
                self.mail_from = address(arg)
                self.rcpts = []
                self.reply("MAIL", b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                addr = address(arg)
                r = self.k.rcpt_replies.get(addr, b"250 2.1.5 Ok\r\n")
                if r.startswith(b"2"):
                    self.rcpts.append(addr)
                self.reply("RCPT", r)
            elif verb == "DATA":
                self.data()
            elif verb == "RSET":
                self.mail_from, self.rcpts = None, []
                self.reply("RSET", b"250 2.0.0 Ok\r\n")
            elif verb == "NOOP":
                self.reply("NOOP", b"250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                self.reply("QUIT", b"221 2.0.0 Bye\r\n")
                c.closed_by = c.closed_by or "client-quit"
                if c.tls is not None:
                    # Read the client's close_notify if it comes.
                    c._drain(0.5)
                raise ConnectionDone("QUIT")
            else:
                self.reply(verb, b"502 5.5.2 Error: command not recognized\r\n")

    def starttls(self):
        c, k = self.c, self.k
        if c.tls is not None:
            self.reply("STARTTLS", b"554 5.5.1 Error: TLS already active\r\n")
            return
        if k.tls is None and "STARTTLS" not in k.replies:
            self.reply("STARTTLS", b"502 5.5.1 Error: command not implemented\r\n")
            return
        override = k.replies.get("STARTTLS")
        if override is not None and not isinstance(override, (bytes, bytearray)):
            c.run_steps(override)
            return
        r = bytes(override) if override is not None else k.starttls_reply
        # The reply and any injected bytes leave in one segment.
        c._send(r + k.extra_after_starttls)
        if r.startswith(b"220") and k.tls is not None:
            c._step_starttls(k.tls)

    def data(self):
        c = self.c
        if not self.rcpts:
            self.reply("DATA", b"554 5.5.1 Error: no valid recipients\r\n")
            return
        override = self.k.replies.get("DATA")
        if override is not None:
            if isinstance(override, (bytes, bytearray)):
                c._send(bytes(override))
                if not override.startswith(b"354"):
                    return
            else:
                c.run_steps(override)
                return
        else:
            c._send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        raw = bytearray()
        while True:
            line = c._read_tls_line(DEFAULT_WAIT) if c.tls is not None else c._read_plain_line(DEFAULT_WAIT)
            if not line:
                c.messages.append(Message(self.mail_from, self.rcpts, bytes(raw), c.tls is not None, False))
                raise ConnectionDone("client closed during DATA")
            if line == b".\r\n":
                break
            raw += line
        msg = Message(self.mail_from, list(self.rcpts), bytes(raw), c.tls is not None, False)
        c.messages.append(msg)
        c._event(f"message: {msg!r}")
        override = self.k.replies.get("EOD")
        if override is None or isinstance(override, (bytes, bytearray)):
            r = bytes(override) if override is not None else self.k.eod_reply
            msg.accepted = r.startswith(b"2")
            c._send(r)
        else:
            c.run_steps(override)
        self.mail_from, self.rcpts = None, []


# ---- The server ---------------------------------------------------------------------


class HostileServer:
    """Listens on (host, 0); connection i runs scripts[min(i, len-1)].

        with HostileServer([good_server(cert=..., key=...)]) as srv:
            ... connect to srv.port ...
        srv.connections[0].messages
    """

    def __init__(self, scripts, host="127.0.0.1", conn_lifetime=DEFAULT_CONN_LIFETIME,
                 max_connections=8, rcvbuf=None):
        if scripts and isinstance(scripts[0], tuple):
            scripts = [scripts]     # a single script
        self.scripts = scripts
        self.host = host
        self.conn_lifetime = conn_lifetime
        self.max_connections = max_connections
        self.rcvbuf = rcvbuf
        self.stop_event = threading.Event()
        self.connections = []
        self.lock = threading.Lock()
        self.threads = []
        self.t0 = time.monotonic()
        self.listener = None
        self.port = None

    def start(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.rcvbuf is not None:
            # Inherited by accepted sockets; small values make the client's
            # writes block (a zero window) once the server stops reading.
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self.listener.bind((self.host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name=f"hostile-accept-{self.port}", daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def _accept_loop(self):
        while not self.stop_event.is_set():
            try:
                r, _, _ = select.select([self.listener], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                sock, peer = self.listener.accept()
            except OSError:
                continue
            with self.lock:
                index = len(self.connections)
                if index >= self.max_connections:
                    sock.close()
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                script = self.scripts[min(index, len(self.scripts) - 1)] if self.scripts else []
                conn = Connection(self, index, sock, peer, script)
                self.connections.append(conn)
            t = threading.Thread(target=conn.run, name=f"hostile-{self.port}-{index}", daemon=True)
            t.start()
            self.threads.append(t)

    def wait_idle(self, timeout=3.0):
        """Waits until every connection's script has finished or sits in a
        deliberate wait (once the client has gone, reads see EOF at once);
        True if they all did."""
        end = time.monotonic() + timeout
        while True:
            if all(c.finished.is_set() or c.sleeping for c in list(self.connections)):
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)

    def stop(self, grace=2.0):
        """Lets running connections finish reading for up to `grace`
        seconds, then stops everything."""
        self.wait_idle(grace)
        self.stop_event.set()
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=5.0)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- summaries ----------------------------------------------------------------------

    @property
    def messages(self):
        return [m for c in self.connections for m in c.messages]

    def trace(self):
        """Every connection's event log, for failure messages."""
        out = []
        for c in self.connections:
            out.append(f"-- connection {c.index} (closed_by={c.closed_by}, tls={c.tls_version}, "
                       f"tls_error={c.tls_error}, errors={c.errors})")
            out.extend("   " + e for e in c.events)
        return "\n".join(out)
