#!/usr/bin/python3
"""mtatls_send_logging_test.py - the TLS logging macros and the log forms of
`mtatls-send`, checked against real TLS sessions: the scriptable hostile
server (tests/support/hostile_server.py) and throwaway Postfix instances
(tests/support/postfix_instance.py).

What is checked, one case per line of output:
  M  every macro (Momentum's outbound_tls:*, the sendmail/milter names in
     braces, Exim's tls_out_*, the mtatls:* extras, mtatls:policy:<directive>
     and mtatls:policy_scope:<directive> for every directive of the JSON
     Schema) read from `tls_log_format: json` lines, after TLS 1.3 and 1.2
     sessions, verified and unverified, one failed attempt of each failure
     class, plaintext deliveries and a plaintext retry.  Values are checked
     against the contract's value sets, against each other ({cipher} ==
     outbound_tls_cipher == the middle of tls_out_cipher, ...), against the
     certificate the server presented (SHA-256 fingerprint from `openssl x509
     -fingerprint -sha256`, expiry, subject and issuer from OpenSSL itself)
     and against what the server saw (protocol, cipher, bits).
  C  custom formats: a template naming every macro and every delivery:*
     field renders each to the JSON form's value; the delivery, transient-
     and permanent-failure templates are chosen by outcome; %% and invalid
     templates; the directives in the schema and in Momentum syntax.
  X  hostile input: certificates whose subject and issuer hold newlines,
     quotes, %n, ANSI escapes, UTF-8 with U+2028, bidi and C1 controls, NUL
     and Latin-1 bytes (made at test time; the last one DER-encoded here and
     signed with `openssl dgst`), and server replies with quotes, %n, ANSI
     escapes and U+2028; in the keyvalue, JSON and custom forms no line holds
     a raw control byte or line/bidi separator, and each line still parses.
  S  the Postfix summary line, word for word, for Verified, Trusted,
     Untrusted and (where the client can negotiate it) Anonymous sessions;
     absent for plaintext, for failures before the handshake and with
     tls_log_postfix_summary: false.
  P  the same macros against a real Postfix (skipped one by one when
     /usr/sbin/postfix is missing or not root): TLS 1.3 and 1.2, verified,
     unverified and untrusted, the failure classes a real server can
     produce (no STARTTLS, handshake failure, untrusted chain, wrong name;
     refused, malformed and injected STARTTLS replies need the scripted
     server), plaintext; compared with the Received: header Postfix wrote,
     and the summary line with the one Postfix's own smtp client logs for
     the same server.

Every run also checks the invariants: every stderr line is valid UTF-8
without control bytes, C1 controls, U+2028/2029 or bidi controls; every
JSON line parses; every macro value is a string free of the same.

Environment (set by meson): MTATLS_SEND, MTATLS_TEST_MODULE,
MTATLS_TEST_PKI, MTATLS_CONFIG.  Without MTATLS_SEND the program exits 77.
Options: -k SUBSTRING runs matching cases; -v prints every run's stderr; -j N
workers (default 8).  Postfix instances use 127.0.0.41-44, each on a free port.
Prints `ok NAME` / `FAIL NAME: why` / `skip NAME: why` per case and
`N passed, N failed` last.
"""
import argparse
import base64
import concurrent.futures
import ctypes
import ctypes.util
import datetime
import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SUPPORT = os.path.join(ROOT, "tests", "support")
sys.path.insert(0, SUPPORT)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hostile_server as hs  # noqa: E402
import postfix_instance as pfi  # noqa: E402
from hostile_server import TLSParams, check_clienthello, close, expect, recv_raw, send  # noqa: E402

SEND = os.environ.get("MTATLS_SEND", "")
MODULE = os.environ.get("MTATLS_TEST_MODULE", "")
PKI = os.environ.get("MTATLS_TEST_PKI", "")
CONFIG_CMD = os.environ.get("MTATLS_CONFIG", "")

MX = "mx.example.test"
SENDER = "sender@example.org"
RCPT = "rcpt@example.net"
DOMAIN = "example.net"
BANNER = b"220 mx.example.test ESMTP hostile\r\n"
PROGRAM = "mtatls-send"

# ---- the contract: names and value sets -----------------------------------------------------

OT = "outbound_tls:"
MOMENTUM = [OT + n for n in ("outbound_tls", "outbound_tls_type", "local_ip", "outbound_tls_cipher",
                             "outbound_tls_cipher_algbits", "outbound_tls_cipher_usebits",
                             "outbound_tls_protocol", "outbound_tls_verified", "outbound_tls_issuer",
                             "outbound_tls_subject")]
SENDMAIL = ["{tls_version}", "{cipher}", "{cipher_bits}", "{alg_bits}", "{cert_subject}", "{cert_issuer}",
            "{cn_subject}", "{cn_issuer}", "{cert_fp}", "{verify}", "{server_name}", "{server_addr}"]
EXIM = ["tls_out_ver", "tls_out_cipher", "tls_out_bits", "tls_out_certificate_verified", "tls_out_peerdn",
        "tls_out_sni"]
EXTRAS = ["mtatls:" + n for n in ("tls_requested", "tls_achieved", "tls", "stage", "failure", "tls_failure",
                                  "verify_error", "sni", "resumed", "kx_group", "peer_sig_alg", "cert_fp",
                                  "cert_not_after", "plaintext_retry")]
DELIVERY_FIELDS = ["delivery:" + n for n in ("status", "relay", "mx", "address", "port", "domain", "sender",
                                              "recipients", "code", "dsn", "reason", "delay", "time", "program")]
LOG_DIRECTIVES = ["tls_log_format", "tls_log_delivery_format", "tls_log_transientfailure_format",
                  "tls_log_permanentfailure_format", "tls_log_postfix_summary"]
STANZA_KEYS = {"binding_group", "binding", "domain"}

# Facts that exist only once a TLS session (or its certificate) is there:
# "" before and without one.
SESSION_MACROS = [OT + "outbound_tls_cipher", OT + "outbound_tls_cipher_algbits", OT + "outbound_tls_cipher_usebits",
                  OT + "outbound_tls_protocol", "{tls_version}", "{cipher}", "{cipher_bits}", "{alg_bits}",
                  "tls_out_ver", "tls_out_cipher", "tls_out_bits", "mtatls:kx_group", "mtatls:peer_sig_alg"]
CERT_MACROS = [OT + "outbound_tls_issuer", OT + "outbound_tls_subject", "{cert_subject}", "{cert_issuer}",
               "{cn_subject}", "{cn_issuer}", "{cert_fp}", "tls_out_peerdn", "mtatls:cert_fp",
               "mtatls:cert_not_after", "tls_out_certificate_verified", OT + "outbound_tls_verified",
               "mtatls:verify_error"]

VALUE_SETS = {
    OT + "outbound_tls": {"TLS", "SMTP", "unknown"},
    OT + "outbound_tls_type": {"no", "ifavailable", "required"},
    OT + "outbound_tls_verified": {"verified", "unverified", ""},
    # "" only before the EHLO reply (checked in check_consistency).
    "{verify}": {"OK", "FAIL", "NO", "NONE", "CLEAR", "TEMP", "PROTOCOL", "SOFTWARE", ""},
    "tls_out_certificate_verified": {"1", "0", ""},
    "mtatls:tls_achieved": {"none", "anonymous", "untrusted", "trusted", "verified", ""},
    "mtatls:stage": {"connected", "ehlo", "starttls", "handshake", "tls", "plaintext"},
    "mtatls:failure": {"", "starttls_not_advertised", "go_ahead_refused", "bytes_after_reply", "malformed_reply",
                       "handshake_failed", "chain_untrusted", "name_mismatch"},
    "mtatls:resumed": {"yes", "no", ""},
    "mtatls:plaintext_retry": {"yes", "no"},
}
VALUE_PATTERNS = {
    "mtatls:tls_requested": r"(no|ifavailable|required)(\+(ca|host|optional))?",
    "mtatls:tls": r"((no|ifavailable|required)(\+(ca|host|optional))?:(none|anonymous|untrusted|trusted|verified))?",
    OT + "local_ip": r"\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]+",
    "{server_addr}": r"\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]+",
    OT + "outbound_tls_cipher_algbits": r"\d*", OT + "outbound_tls_cipher_usebits": r"\d*",
    "{cipher_bits}": r"\d*", "{alg_bits}": r"\d*", "tls_out_bits": r"\d*",
    OT + "outbound_tls_protocol": r"(TLSv1\.[0-3])?", "{tls_version}": r"(TLSv1\.[0-3])?",
    "tls_out_ver": r"(TLSv?1\.[0-3])?",
    "{cert_fp}": r"(([0-9A-F]{2}:){31}[0-9A-F]{2})?", "mtatls:cert_fp": r"(([0-9A-F]{2}:){31}[0-9A-F]{2})?",
    "mtatls:cert_not_after": r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)?",
}
SCOPE_RX = re.compile(r'global|default|(binding_group "[^"]*"|binding "[^"]*"|domain "[^"]*")'
                      r'( / (binding "[^"]*"|domain "[^"]*"))*')

# Raw bytes no log line may hold: C0 controls (the line end is the split
# point), DEL, C1 controls, line/paragraph separators, bidi controls.
UNSAFE = re.compile("[\x00-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
SUMMARY_RX = re.compile(r"mtatls-send: (Verified|Trusted|Untrusted|Anonymous) TLS connection established to "
                        r"(\S+)\[([^\]]+)\]:(\d+): (\S+) with cipher (\S+) \((\d+)/(\d+) bits\)")
# The POSTFIX_TLSCONN pattern of whyscream/postfix-grok-patterns (what
# ELK-style Postfix parsers match), in Python syntax.
GROK_TLSCONN = re.compile(r"(?P<trust>.*?) TLS connection established (to (?P<relay>[^\s\[]*)\[(?P<ip>[^\]]+)\]"
                          r"(:(?P<port>\d+))?|from \S+): (?P<version>.*?) with cipher (?P<cipher>.*?) "
                          r"\((?P<size>.*?) bits\)( key-exchange .*)?$")

# ---- matchers ---------------------------------------------------------------------------------


class Re:
    def __init__(self, pattern):
        self.rx = re.compile(pattern, re.S)

    def __call__(self, value):
        return isinstance(value, str) and self.rx.fullmatch(value) is not None

    def __repr__(self):
        return f"/{self.rx.pattern}/"


class Has:
    def __init__(self, *texts):
        self.texts = texts

    def __call__(self, value):
        return isinstance(value, str) and all(t.lower() in value.lower() for t in self.texts)

    def __repr__(self):
        return "contains " + " and ".join(repr(t) for t in self.texts)


class Not:
    def __init__(self, want):
        self.want = want

    def __call__(self, value):
        return not matches(value, self.want)

    def __repr__(self):
        return f"not {self.want!r}"


def matches(value, want):
    if callable(want):
        return want(value)
    if isinstance(want, (set, frozenset)):
        return value in want
    return value == want


NONEMPTY = Re(r".+")


def xtext(raw):
    """sendmail's xtextify(s, "<>\\")"): +XX for bytes outside ! .. ~ and for
    + \\ ( < > " )."""
    out = []
    for b in raw:
        c = chr(b)
        if b < 0x21 or b > 0x7e or c in '+\\(<>")':
            out.append("+%02X" % b)
        else:
            out.append(c)
    return "".join(out)


def exim_ver(protocol):
    """tls_out_ver for OpenSSL's protocol name: Exim (tls-openssl.c,
    tlsver_name) drops the 'v' (TLS1.3), as in the first field of
    tls_out_cipher, and so does mtatls."""
    return protocol.replace("TLSv", "TLS", 1)


def unsafe_in(text):
    m = UNSAFE.search(text)
    return None if not m else f"raw U+{ord(m.group()):04X} at {m.start()}"


# ---- certificates -------------------------------------------------------------------------------

_CRYPTO = None
_CRYPTO_LOCK = threading.Lock()


def libcrypto():
    """The libcrypto behind Python's ssl module, for X509_NAME_oneline and
    X509_NAME_get_text_by_NID (what sendmail and Exim print)."""
    global _CRYPTO
    with _CRYPTO_LOCK:
        if _CRYPTO is None:
            lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
            vp, ip, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
            for name, args, res in (("BIO_new_mem_buf", [vp, ip], vp), ("BIO_free", [vp], ip),
                                    ("PEM_read_bio_X509", [vp, vp, vp, vp], vp), ("X509_free", [vp], None),
                                    ("X509_get_subject_name", [vp], vp), ("X509_get_issuer_name", [vp], vp),
                                    ("X509_NAME_oneline", [vp, vp, ip], cp),
                                    ("X509_NAME_get_text_by_NID", [vp, ip, vp, ip], ip),
                                    ("OpenSSL_version_num", [], ctypes.c_ulong)):
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = args, res
            if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
                raise RuntimeError("libcrypto found by ctypes is not the one Python's ssl uses")
            _CRYPTO = lib
    return _CRYPTO


def openssl_names(pem):
    """{subject,issuer}_{oneline,cn} of the first certificate in `pem`, as bytes."""
    lib = libcrypto()
    with open(pem, "rb") as f:
        data = f.read()
    buf = ctypes.create_string_buffer(data, len(data))
    bio = lib.BIO_new_mem_buf(buf, len(data))
    x509 = lib.PEM_read_bio_X509(bio, None, None, None)
    lib.BIO_free(bio)
    if not x509:
        raise RuntimeError(f"cannot read {pem}")
    out = {}
    try:
        for which, getter in (("subject", lib.X509_get_subject_name), ("issuer", lib.X509_get_issuer_name)):
            name = getter(x509)
            line = ctypes.create_string_buffer(4096)
            lib.X509_NAME_oneline(name, line, len(line))
            out[which + "_oneline"] = line.value
            cn = ctypes.create_string_buffer(1024)
            n = lib.X509_NAME_get_text_by_NID(name, 13, cn, len(cn))   # NID_commonName
            out[which + "_cn"] = cn.raw[:n] if n >= 0 else b""
    finally:
        lib.X509_free(x509)
    return out


class CertFacts:
    """What the macros about a certificate must say, computed here with
    the openssl command and libcrypto."""

    def __init__(self, pem, ascii_names=True):
        self.pem = pem
        run = lambda *a: subprocess.run(["openssl", "x509", "-in", pem, "-noout", *a], check=True,  # noqa: E731
                                        capture_output=True, timeout=30).stdout.decode("utf-8", "replace").strip()
        self.fp = run("-fingerprint", "-sha256").split("=", 1)[1].strip()
        end = run("-enddate").split("=", 1)[1].strip()
        self.not_after = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").strftime("%Y-%m-%dT%H:%M:%SZ")
        self.rfc2253_subject = run("-subject", "-nameopt", "RFC2253").split("=", 1)[1] if ascii_names else None
        self.rfc2253_issuer = run("-issuer", "-nameopt", "RFC2253").split("=", 1)[1] if ascii_names else None
        n = openssl_names(pem)
        self.oneline_subject = n["subject_oneline"]
        self.oneline_issuer = n["issuer_oneline"]
        self.cn_subject = n["subject_cn"]
        self.cn_issuer = n["issuer_cn"]

    def want(self):
        w = {"{cert_fp}": self.fp, "mtatls:cert_fp": self.fp, "mtatls:cert_not_after": self.not_after,
             "{cert_subject}": xtext(self.oneline_subject), "{cert_issuer}": xtext(self.oneline_issuer),
             "{cn_subject}": xtext(self.cn_subject), "{cn_issuer}": xtext(self.cn_issuer),
             # X509_NAME_oneline escapes every byte outside ' '..'~' as \xHH
             # itself, so Exim's DN is already log-safe and exact.
             "tls_out_peerdn": self.oneline_subject.decode("ascii")}
        if self.rfc2253_subject is not None:
            w[OT + "outbound_tls_subject"] = self.rfc2253_subject
            w[OT + "outbound_tls_issuer"] = self.rfc2253_issuer
        return w


def openssl(*args, **kw):
    p = subprocess.run(["openssl", *args], capture_output=True, timeout=60, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args[:3]))}...: {p.stderr.decode(errors='replace')[-400:]}")
    return p.stdout


def ec_key(path):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


# Hostile subjects.  openssl's -subj takes the bytes as given (with -utf8
# they become UTF8Strings); '/', '+', '=' and '\\' are avoided because -subj
# gives them meaning, and every value stays within 64 characters.
HOSTILE_CN = 'mx.example.test\n"quoted" %n%s \x1b[31mred\x1b[0m gr\u00fc\u00dfe\u2028sep\u202eev'
HOSTILE_O = 'Evil "Org" %n%x\r\nX \x1b]0;title\x07 \u65e5\u672c \u2029 \u200fend'
HOSTILE_CA_CN = 'Hostile\nCA "q" %n \x1b[1mbold \u2028'
HOSTILE_CA_O = 'Evil CA %s%n \x1b[2J'


def make_certs(d):
    """Every certificate the cases need beyond the test PKI; returns paths."""
    os.makedirs(d, exist_ok=True)
    P = lambda n: os.path.join(d, n)  # noqa: E731
    ca, cakey = os.path.join(PKI, "ca.pem"), os.path.join(PKI, "ca.key")

    def leaf(name, subj, san, issuer_pem, issuer_key, utf8=False):
        ec_key(P(name + ".key"))
        openssl("req", "-new", "-key", P(name + ".key"), *(["-utf8"] if utf8 else []), "-subj", subj,
                "-out", P(name + ".csr"))
        write(P(name + ".ext"), "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
              f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n")
        openssl("x509", "-req", "-in", P(name + ".csr"), "-CA", issuer_pem, "-CAkey", issuer_key,
                "-set_serial", str(int(time.time() * 1000) % 10**12), "-days", "30", "-sha256",
                "-extfile", P(name + ".ext"), "-out", P(name + ".pem"))

    def root(name, subj, utf8=False):
        ec_key(P(name + ".key"))
        openssl("req", "-x509", "-new", "-key", P(name + ".key"), *(["-utf8"] if utf8 else []), "-sha256",
                "-days", "30", "-subj", subj, "-addext", "basicConstraints=critical,CA:true",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", P(name + ".pem"))

    # A CA-signed certificate that names another host: chain trusted, name not.
    leaf("wrong-name", "/O=mtatls test/CN=www.example.org", "DNS:www.example.org", ca, cakey)
    # A self-signed certificate for the right name: name right, chain not.
    ec_key(P("self-signed.key"))
    openssl("req", "-x509", "-new", "-key", P("self-signed.key"), "-sha256", "-days", "30",
            "-subj", "/O=mtatls self/CN=mx.example.test", "-addext", "subjectAltName=DNS:mx.example.test",
            "-out", P("self-signed.pem"))
    # A CA nobody here trusts.
    root("other-ca", "/O=mtatls other/CN=unrelated CA")
    # The hostile CA and its leaf, verifiable against hostile-ca.pem.
    root("hostile-ca", f"/O={HOSTILE_CA_O}/CN={HOSTILE_CA_CN}", utf8=True)
    leaf("hostile", f"/O={HOSTILE_O}/CN={HOSTILE_CN}", "DNS:mx.example.test", P("hostile-ca.pem"),
         P("hostile-ca.key"), utf8=True)
    make_raw_cert(d, "raw")
    return {n: P(n + ".pem") for n in ("wrong-name", "self-signed", "other-ca", "hostile-ca", "hostile", "raw")}


# ---- a certificate -subj cannot make: DER written here ----------------------------------------


def der(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(chunk)
    return der(0x06, body)


def der_seq(*items):
    return der(0x30, b"".join(items))


def der_name(*rdns):
    """rdns: (oid, string tag, bytes)."""
    return der_seq(*[der(0x31, der_seq(der_oid(o), der(tag, value))) for o, tag, value in rdns])


# CN as a TeletexString (Latin-1 to OpenSSL) holding NUL, ESC, a C1 CSI and
# 0xFF; O as a UTF8String with NEL (U+0085), U+2029 and RLO (U+202E).
RAW_CN = b"mx.example.test\x00nul \x1b[2J \x9b31m \xff\xfe end"
RAW_O = "raw \u0085nel \u2029para \u202erlo %n \"q\"".encode("utf-8")


def make_raw_cert(d, name):
    key = os.path.join(d, name + ".key")
    ec_key(key)
    spki = openssl("pkey", "-in", key, "-pubout", "-outform", "DER")
    subject = der_name(("2.5.4.10", 0x0C, RAW_O), ("2.5.4.3", 0x14, RAW_CN))
    now = datetime.datetime.now(datetime.timezone.utc)
    utc = lambda t: der(0x17, t.strftime("%y%m%d%H%M%SZ").encode())  # noqa: E731
    ecdsa_sha256 = der_seq(der_oid("1.2.840.10045.4.3.2"))
    san = der_seq(der_oid("2.5.29.17"), der(0x04, der_seq(der(0x82, MX.encode()))))
    tbs = der_seq(der(0xA0, der(0x02, b"\x02")), der(0x02, b"\x01\x23\x45\x67"), ecdsa_sha256, subject,
                  der_seq(utc(now - datetime.timedelta(days=1)), utc(now + datetime.timedelta(days=30))),
                  subject, spki, der(0xA3, der_seq(san)))
    with open(os.path.join(d, name + ".tbs"), "wb") as f:
        f.write(tbs)
    sig = openssl("dgst", "-sha256", "-sign", key, os.path.join(d, name + ".tbs"))
    cert = der_seq(tbs, ecdsa_sha256, der(0x03, b"\x00" + sig))
    b64 = base64.encodebytes(cert).decode().replace("\n", "")
    write(os.path.join(d, name + ".pem"), "-----BEGIN CERTIFICATE-----\n"
          + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n-----END CERTIFICATE-----\n")


# ---- running mtatls-send and reading what it wrote ------------------------------------------------


def yaml_quote(s):
    return "'" + s.replace("'", "''") + "'"


class Run:
    """One mtatls-send run: exit code, stderr lines, and the lines sorted by
    kind.  `problems` lists every invariant it broke."""

    def __init__(self, proc, form, srv, port, mx, elapsed):
        self.exit = proc.returncode
        self.stderr = proc.stderr
        self.form = form
        self.srv = srv
        self.port = port
        self.mx = mx
        self.elapsed = elapsed
        self.problems = []
        self.events = []      # ("summary", match) / ("attempt", object) / ("rcpt", pairs) in order
        self.lines = []
        raw_lines = [ln for ln in proc.stderr.split(b"\n") if ln]
        if proc.stderr and not proc.stderr.endswith(b"\n"):
            self.problems.append("stderr does not end with a newline")
        for raw in raw_lines:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                self.problems.append(f"invalid UTF-8 in a log line ({e}): {raw!r}")
                line = raw.decode("utf-8", "replace")
            why = unsafe_in(line)
            if why:
                self.problems.append(f"{why} in log line {line!r}")
            self.lines.append(line)
            self._classify(line)

    def _classify(self, line):
        m = SUMMARY_RX.fullmatch(line)
        if m:
            self.events.append(("summary", m))
            return
        if line.startswith("mtatls-send: ") and (": warning: " in line or ": error: " in line):
            return
        if self.form == "json":
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    self.problems.append(f"JSON line does not parse ({e}): {line!r}")
                    return
                self.events.append(("attempt", obj))
                return
        elif self.form == "keyvalue":
            pairs = parse_kv(line)
            if pairs and pairs[0][0] == "status":
                self.events.append(("attempt", dict(pairs), [k for k, _ in pairs]))
                return
            if pairs and pairs[0][0] == "rcpt":
                self.events.append(("rcpt", dict(pairs)))
                return
        elif self.form == "custom":
            if not line.startswith("mtatls-send: "):
                self.events.append(("attempt", line))
                return
        if line.startswith("mtatls-send: ") and "summary" in line.lower():
            self.problems.append(f"summary-like line not in Postfix's grammar: {line!r}")
            return
        self.problems.append(f"unexpected {self.form} stderr line: {line!r}")

    @property
    def attempts(self):
        return [e[1] for e in self.events if e[0] == "attempt"]

    @property
    def summaries(self):
        return [e[1] for e in self.events if e[0] == "summary"]

    def summary_before(self):
        """For each attempt: the summary line right before it, or None."""
        out, pending = [], None
        for e in self.events:
            if e[0] == "summary":
                if pending is not None:
                    self.problems.append(f"two summary lines in a row: {pending.group(0)!r}")
                pending = e[1]
            elif e[0] == "attempt":
                out.append(pending)
                pending = None
        if pending is not None:
            self.problems.append(f"summary line after the last attempt line: {pending.group(0)!r}")
        return out

    def text(self):
        return self.stderr.decode("utf-8", "replace")


KV_TOKEN = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]*)')


def parse_kv(line):
    """'mtatls-send: k=v k="v v"' -> [(key, value)] with quotes and escapes undone, or None."""
    prefix = "mtatls-send: "
    if not line.startswith(prefix):
        return None
    rest, pairs, pos = line[len(prefix):], [], 0
    while pos < len(rest):
        m = KV_TOKEN.match(rest, pos)
        if not m:
            return None
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r'\\(x[0-9a-fA-F]{2}|.)',
                       lambda mm: chr(int(mm.group(1)[1:], 16)) if len(mm.group(1)) == 3 and mm.group(1)[0] == "x"
                       else mm.group(1), v[1:-1])
        pairs.append((m.group(1), v))
        pos = m.end()
        if pos < len(rest):
            if rest[pos] != " ":
                return None
            pos += 1
    return pairs


def run_send(config, port, form, srv=None, mx=MX, rcpts=(RCPT,), extra_args=(), message=None, host="127.0.0.1",
             timeout=None, workdir=None, config_name="mtatls.yaml"):
    d = tempfile.mkdtemp(prefix="run-", dir=workdir)
    cfg = write(os.path.join(d, config_name), config)
    # Limits are not under test here: a slow run (valgrind) gets longer ones.
    if timeout is None:
        timeout = round(5 * hs.SLOWDOWN)
    cmd = [SEND, "--config", cfg, "--module", MODULE, "--next-hop", f"{host}:{port}", "--helo",
           "client.example.test", "--timeout", str(timeout), "--attempt-timeout",
           str(round(20 * hs.SLOWDOWN))]
    if mx is not None:
        cmd += ["--mx-name", mx]
    cmd += list(extra_args) + ["-f", SENDER] + list(rcpts)
    msg = message or (b"From: <sender@example.org>\nTo: <rcpt@example.net>\nSubject: logging test\n"
                      b"Message-ID: <log-%d@example.org>\n\nbody\n" % (id(d) & 0xFFFFFF))
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, input=msg, capture_output=True, timeout=45 * hs.SLOWDOWN)
    except subprocess.TimeoutExpired as e:
        proc = subprocess.CompletedProcess(cmd, "timeout", b"", e.stderr or b"")
    return Run(proc, form, srv, port, mx, time.monotonic() - t0)


def base_config(form, tls="required", verify="host", ca=None, extra="", summary=None):
    ca = ca if ca is not None else os.path.join(PKI, "ca.pem")
    text = f'tls: "{tls}"\ntls_verify: "{verify}"\ntls_ca: "{ca}"\n'
    if form != "keyvalue":
        text += f"tls_log_format: {form}\n"
    if summary is not None:
        text += f"tls_log_postfix_summary: {'true' if summary else 'false'}\n"
    return text + extra


# ---- the checks every JSON attempt object gets -------------------------------------------------------


class Env:
    """Names known at start-up: the directives (from the JSON Schema)."""
    directives = []

    @classmethod
    def policy_names(cls):
        return [f"mtatls:policy:{d}" for d in cls.directives] + [f"mtatls:policy_scope:{d}" for d in cls.directives]

    @classmethod
    def all_names(cls):
        return MOMENTUM + SENDMAIL + EXIM + EXTRAS + cls.policy_names()

    @classmethod
    def template_names(cls):
        """Every macro and delivery field a template can name, less the three
        whose value is a template itself (the line would contain itself)."""
        own = {f"mtatls:policy:tls_log_{w}_format" for w in ("delivery", "transientfailure", "permanentfailure")}
        return [n for n in cls.all_names() if n not in own] + DELIVERY_FIELDS


def check_json_shape(obj, why):
    """The top-level fields, their types and the recipients array."""
    want = {"program": str, "time": str, "status": str, "mx": str, "address": str, "port": int, "domain": str,
            "sender": str, "recipients": list, "code": (int, type(None)), "dsn": str, "reason": str,
            "delay": (int, float), "fallback": bool, "macros": dict}
    for k, t in want.items():
        if k not in obj:
            why.append(f"JSON lacks {k!r}")
        elif not isinstance(obj[k], t) or (t is int and isinstance(obj[k], bool)):
            why.append(f"JSON {k} is {type(obj[k]).__name__} {obj[k]!r}")
    extra = sorted(set(obj) - set(want))
    if extra:
        why.append(f"JSON has undocumented fields {extra}")
    if obj.get("program") != PROGRAM:
        why.append(f"program={obj.get('program')!r}")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(obj.get("time"))):
        why.append(f"time={obj.get('time')!r} is not RFC 3339 UTC")
    if obj.get("status") not in ("sent", "deferred", "bounced", "fallback"):
        why.append(f"status={obj.get('status')!r}")
    if (obj.get("status") == "fallback") != obj.get("fallback"):
        why.append(f"status={obj.get('status')} but fallback={obj.get('fallback')}")
    for r in obj.get("recipients") or []:
        if not isinstance(r, dict) or set(r) != {"address", "status", "code", "dsn", "reason"}:
            why.append(f"recipient entry {r!r}")
    for k, v in (obj.get("macros") or {}).items():
        if not isinstance(v, str):
            why.append(f"macro {k} is {type(v).__name__}")
        elif unsafe_in(v):
            why.append(f"macro {k} value holds {unsafe_in(v)}: {v!r}")


def check_macro_names(m, why):
    names = set(m)
    want = set(Env.all_names())
    missing = sorted(want - names)
    extra = sorted(names - want)
    if missing:
        why.append(f"macros missing from the JSON: {missing}")
    if extra:
        why.append(f"macros in the JSON the contract does not name: {extra}")


def check_value_sets(m, why):
    for k, allowed in VALUE_SETS.items():
        if k in m and m[k] not in allowed:
            why.append(f"{k}={m[k]!r} is not one of {sorted(allowed)}")
    for k, pat in VALUE_PATTERNS.items():
        if k in m and not re.fullmatch(pat, m[k]):
            why.append(f"{k}={m[k]!r} does not match /{pat}/")
    for d in Env.directives:
        s = m.get(f"mtatls:policy_scope:{d}")
        if s is not None and not SCOPE_RX.fullmatch(s):
            why.append(f"mtatls:policy_scope:{d}={s!r} is not a scope")


def check_consistency(obj, why):
    """The same fact under its different names, and facts that imply each other."""
    m = obj.get("macros") or {}
    g = lambda k: m.get(k, "")  # noqa: E731

    def same(*keys):
        vals = {k: g(k) for k in keys}
        if len(set(vals.values())) > 1:
            why.append("differ: " + ", ".join(f"{k}={v!r}" for k, v in vals.items()))

    same(OT + "outbound_tls_cipher", "{cipher}")
    same(OT + "outbound_tls_protocol", "{tls_version}")
    same(OT + "outbound_tls_cipher_usebits", "{cipher_bits}", "tls_out_bits")
    same(OT + "outbound_tls_cipher_algbits", "{alg_bits}")
    same("{cert_fp}", "mtatls:cert_fp")
    same("mtatls:sni", "tls_out_sni")
    same(OT + "local_ip", "{server_addr}")
    same(OT + "outbound_tls_type", "mtatls:policy:tls")
    if g("{server_addr}") != obj.get("address"):
        why.append(f"{{server_addr}}={g('{server_addr}')!r} but address={obj.get('address')!r}")
    if g("{server_name}") != obj.get("mx"):
        why.append(f"{{server_name}}={g('{server_name}')!r} but mx={obj.get('mx')!r}")
    proto = g(OT + "outbound_tls_protocol")
    if proto:
        if g("tls_out_ver") != exim_ver(proto):
            why.append(f"tls_out_ver={g('tls_out_ver')!r} for protocol {proto!r}")
        want = f"{proto.replace('TLSv', 'TLS')}:{g('{cipher}')}:{g('{cipher_bits}')}"
        if g("tls_out_cipher") != want:
            why.append(f"tls_out_cipher={g('tls_out_cipher')!r}, want {want!r} (Exim's X= form)")
        if g("tls_out_cipher").split(":")[1:2] != [g("{cipher}")]:
            why.append(f"middle of tls_out_cipher {g('tls_out_cipher')!r} is not {{cipher}} {g('{cipher}')!r}")
    elif g("tls_out_ver") or g("tls_out_cipher"):
        why.append(f"no protocol but tls_out_ver={g('tls_out_ver')!r} tls_out_cipher={g('tls_out_cipher')!r}")
    # tls_requested: the tls setting, +VERIFY when tls != no and tls_verify != no
    tls, verify = g("mtatls:policy:tls"), g("mtatls:policy:tls_verify")
    req = tls + (f"+{verify}" if tls != "no" and verify not in ("no", "") else "")
    if g("mtatls:tls_requested") != req:
        why.append(f"mtatls:tls_requested={g('mtatls:tls_requested')!r}, want {req!r} (tls={tls} tls_verify={verify})")
    if g("mtatls:tls") != (f"{g('mtatls:tls_requested')}:{g('mtatls:tls_achieved')}" if g("mtatls:tls_achieved")
                           else ""):
        why.append(f"mtatls:tls={g('mtatls:tls')!r} is not REQUESTED:ACHIEVED "
                   f"({g('mtatls:tls_requested')!r}, {g('mtatls:tls_achieved')!r})")
    # achieved <-> {verify} <-> verified flags
    v, ach = g("{verify}"), g("mtatls:tls_achieved")
    if g("mtatls:stage") == "connected":
        implied = ("",)     # ended before the EHLO reply: no TLS decision was made
        if v:
            why.append(f"{{verify}}={v!r} before the EHLO reply")
    else:
            implied = {"OK": ("verified", "trusted"), "FAIL": ("untrusted",), "NO": ("anonymous",)}.get(v, ("none",))
    if ach not in implied:
        why.append(f"mtatls:tls_achieved={ach!r} with {{verify}}={v!r} (want one of {implied})")
    cv = g("tls_out_certificate_verified")
    if v in ("OK", "FAIL", "NO") and cv != ("1" if v == "OK" else "0"):
        why.append(f"tls_out_certificate_verified={cv!r} with {{verify}}={v!r}")
    if (g(OT + "outbound_tls_verified") == "verified") != (ach == "verified"):
        why.append(f"outbound_tls_verified={g(OT + 'outbound_tls_verified')!r} with tls_achieved={ach!r}")
    if g("mtatls:cert_fp") and not g("{cert_subject}"):
        why.append("a certificate fingerprint but no {cert_subject}")
    if g("{cert_subject}") and g("tls_out_peerdn") and xtext(g("tls_out_peerdn").encode()) != g("{cert_subject}"):
        why.append(f"{{cert_subject}}={g('{cert_subject}')!r} is not xtext(tls_out_peerdn={g('tls_out_peerdn')!r})")
    if g(OT + "outbound_tls") == "TLS" and not (proto and g("{cipher}")):
        why.append("outbound_tls=TLS without protocol and cipher")
    if g(OT + "outbound_tls") == "SMTP" and (proto or g("{cipher}")):
        why.append(f"outbound_tls=SMTP with protocol {proto!r} cipher {g('{cipher}')!r}")
    if obj.get("status") == "sent" and g("mtatls:failure"):
        why.append(f"status=sent with mtatls:failure={g('mtatls:failure')!r}")
    if obj.get("status") == "fallback" and not g("mtatls:failure"):
        why.append("status=fallback without mtatls:failure")


def check_attempt(obj, want, why, label=""):
    """want: {macro or "json:FIELD": expected}."""
    check_json_shape(obj, why)
    order = ["program", "time", "status", "mx", "address", "port", "domain", "sender", "recipients", "code", "dsn",
             "reason", "delay", "fallback", "macros"]
    if list(obj) != order:
        why.append(f"JSON field order {list(obj)}, want {order}")
    m = obj.get("macros") or {}
    check_macro_names(m, why)
    check_value_sets(m, why)
    check_consistency(obj, why)
    for k, v in want.items():
        got = obj.get(k[5:]) if k.startswith("json:") else m.get(k)
        if not matches(got, v):
            why.append(f"{label}{k}: got {got!r}, want {v!r}")


def summary_text(cat, obj, port):
    m = obj["macros"]
    return (f"mtatls-send: {cat} TLS connection established to {obj['mx']}[{obj['address']}]:{port}: "
            f"{m[OT + 'outbound_tls_protocol']} with cipher {m[OT + 'outbound_tls_cipher']} "
            f"({m[OT + 'outbound_tls_cipher_usebits']}/{m[OT + 'outbound_tls_cipher_algbits']} bits)")


def check_summaries(run, cats, why):
    """cats[i]: the category the summary before attempt i must show, or None (no summary)."""
    before = run.summary_before()
    atts = run.attempts
    if len(before) != len(cats):
        why.append(f"{len(atts)} attempt line(s), want {len(cats)}")
        return
    for i, (got, cat) in enumerate(zip(before, cats)):
        if cat is None:
            if got is not None:
                why.append(f"attempt {i + 1}: unexpected summary line {got.group(0)!r}")
            continue
        if got is None:
            why.append(f"attempt {i + 1}: no Postfix summary line (want {cat})")
            continue
        if run.form == "json":
            want = summary_text(cat, atts[i], run.port)
            if got.group(0) != want:
                why.append(f"summary line {got.group(0)!r}, want {want!r}")
        elif got.group(1) != cat:
            why.append(f"summary says {got.group(1)}, want {cat}")
        g = GROK_TLSCONN.fullmatch(got.group(0)[len("mtatls-send: "):])
        if not g or g.group("trust") != got.group(1) or g.group("port") != str(run.port):
            why.append(f"summary line does not match Postfix's grok pattern: {got.group(0)!r}")


def check_server_session(run, obj, conn_index, why):
    """The macros agree with what the server's TLS library negotiated."""
    c = run.srv.connections[conn_index] if run.srv and len(run.srv.connections) > conn_index else None
    if c is None or not c.tls_version:
        why.append("the server recorded no TLS session")
        return
    m = obj["macros"]
    name, _proto, secret = c.tls_cipher
    for k, v in ((OT + "outbound_tls_protocol", c.tls_version), (OT + "outbound_tls_cipher", name),
                 (OT + "outbound_tls_cipher_usebits", str(secret))):
        if m.get(k) != v:
            why.append(f"{k}={m.get(k)!r} but the server negotiated {v!r}")


# ---- the case table ---------------------------------------------------------------------------------


class Scenario:
    """One delivery against the hostile server, logged as JSON: exit code,
    and per attempt the status, the macros wanted and the summary category."""

    def __init__(self, name, scripts, exit, attempts, tls="required", verify="host", ca=None, mx=MX,
                 cert=None, extra="", args=(), summary=True, server_checks=True, rcpts=(RCPT,), group="M",
                 timeout=None):  # None: run_send's default, stretched by MTATLS_TEST_SLOWDOWN
        self.name = f"{group} {name}"
        self.scripts = scripts
        self.exit = exit
        self.attempts = attempts    # [(want dict, summary category or None, session: conn index or None)]
        self.tls, self.verify, self.ca, self.mx = tls, verify, ca, mx
        self.cert = cert            # CertFacts of the certificate presented (for the TLS attempts)
        self.extra = extra
        self.args = list(args)
        self.summary = summary
        self.server_checks = server_checks
        self.rcpts = rcpts
        self.timeout = timeout

    def config(self, form):
        return base_config(form, self.tls, self.verify, self.ca, self.extra,
                           summary=None if self.summary else False)


def no_session():
    return dict({k: "" for k in SESSION_MACROS + CERT_MACROS}, **{"mtatls:resumed": ""})


def plain_facts(tls, verify, stage, achieved="none"):
    req = tls + (f"+{verify}" if tls != "no" and verify != "no" else "")
    return {OT + "outbound_tls_type": tls, "mtatls:tls_requested": req, "mtatls:tls_achieved": achieved,
            "mtatls:tls": f"{req}:{achieved}", "mtatls:stage": stage,
            OT + "local_ip": "127.0.0.1", "{server_name}": MX, "{server_addr}": "127.0.0.1"}


def session_facts(cert, proto):
    w = {OT + "outbound_tls_protocol": proto, "mtatls:kx_group": NONEMPTY,
         "mtatls:peer_sig_alg": Re(r"(?i).*ecdsa.*sha256.*"), "mtatls:resumed": "no",
         "mtatls:sni": MX, "tls_out_sni": MX}
    w.update(cert.want())
    return w


def build_scenarios(certs):
    P = lambda n: os.path.join(PKI, n)  # noqa: E731
    server_facts = CertFacts(P("server.pem"))
    wrong = CertFacts(certs["wrong-name"])
    selfsigned = CertFacts(certs["self-signed"])
    T13 = TLSParams(cert=P("server.pem"), key=P("server.key"))
    T12 = TLSParams(cert=P("server.pem"), key=P("server.key"), max_version=ssl.TLSVersion.TLSv1_2)
    key = lambda n: certs[n][:-4] + ".key"  # noqa: E731
    WRONG13 = TLSParams(cert=certs["wrong-name"], key=key("wrong-name"))
    WRONG12 = TLSParams(cert=certs["wrong-name"], key=key("wrong-name"), max_version=ssl.TLSVersion.TLSv1_2)
    SELF = TLSParams(cert=certs["self-signed"], key=key("self-signed"))
    good = lambda tls=T13, **kw: hs.good_server(tls=tls, **kw)  # noqa: E731
    plain = lambda **kw: hs.good_server(advertise_starttls=False, **kw)  # noqa: E731
    ehlo_tls = b"250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
    upto_starttls = [send(BANNER), expect(b"EHLO"), send(ehlo_tls), expect(b"STARTTLS")]
    S = []

    def ok_tls(cert, proto, achieved, tls="required", verify="host", cipher=None, **more):
        w = plain_facts(tls, verify, "tls", achieved)
        w.update(session_facts(cert, proto))
        w.update({OT + "outbound_tls": "TLS", "mtatls:failure": "", "mtatls:tls_failure": "",
                  "mtatls:plaintext_retry": "no", "json:status": "sent", "json:code": 250,
                  OT + "outbound_tls_verified": "verified" if achieved == "verified" else "unverified",
                  "{verify}": "OK" if achieved in ("verified", "trusted") else "FAIL",
                  "tls_out_certificate_verified": "1" if achieved in ("verified", "trusted") else "0",
                  "mtatls:verify_error": "" if achieved == "verified" else NONEMPTY})
        if cipher:
            w[OT + "outbound_tls_cipher"] = cipher
        w.update(more)
        return w

    tls13_suite = Re(r"TLS_(AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256|AES_128_GCM_SHA256)")
    tls12_suite = Re(r"ECDHE-ECDSA-[A-Z0-9-]+")
    policy = {"mtatls:policy:tls": "required", "mtatls:policy_scope:tls": "global",
              "mtatls:policy:tls_verify": "host", "mtatls:policy_scope:tls_verify": "global",
              "mtatls:policy:tls_ciphers": "DEFAULT", "mtatls:policy_scope:tls_ciphers": "default",
              "mtatls:policy:tls_log_format": "json", "mtatls:policy_scope:tls_log_format": "global",
              "mtatls:policy:tls_log_postfix_summary": "true",
              "mtatls:policy_scope:tls_log_postfix_summary": "default"}

    # -- real handshakes: TLS 1.3 and 1.2, verified and not ------------------------------------
    S.append(Scenario("TLS 1.3 verified (required+host)", good(), 0,
                      [(dict(ok_tls(server_facts, "TLSv1.3", "verified", cipher=tls13_suite), **policy),
                        "Verified", 0)], cert=server_facts))
    S.append(Scenario("TLS 1.2 verified (required+host)", good(T12), 0,
                      [(ok_tls(server_facts, "TLSv1.2", "verified", cipher=tls12_suite), "Verified", 0)],
                      cert=server_facts))
    S.append(Scenario("TLS 1.3 unverified (optional, wrong name)", good(WRONG13), 0,
                      [(ok_tls(wrong, "TLSv1.3", "trusted", verify="optional",
                               **{"mtatls:verify_error": Has("mx.example.test")}), "Trusted", 0)],
                      verify="optional", cert=wrong))
    S.append(Scenario("TLS 1.2 unverified (optional, wrong name)", good(WRONG12), 0,
                      [(ok_tls(wrong, "TLSv1.2", "trusted", verify="optional", cipher=tls12_suite), "Trusted", 0)],
                      verify="optional", cert=wrong))
    S.append(Scenario("Trusted: verify=ca, CA-signed, wrong name", good(WRONG13), 0,
                      [(ok_tls(wrong, "TLSv1.3", "trusted", verify="ca"), "Trusted", 0)], verify="ca", cert=wrong))
    S.append(Scenario("Untrusted: self-signed under verify=no", good(SELF), 0,
                      [(ok_tls(selfsigned, "TLSv1.3", "untrusted", verify="no"), "Untrusted", 0)], verify="no",
                      cert=selfsigned))
    S.append(Scenario("Untrusted: self-signed under verify=optional", good(SELF), 0,
                      [(ok_tls(selfsigned, "TLSv1.3", "untrusted", verify="optional"), "Untrusted", 0)],
                      verify="optional", cert=selfsigned))
    S.append(Scenario("ifavailable+host, TLS 1.3 verified", good(), 0,
                      [(ok_tls(server_facts, "TLSv1.3", "verified", tls="ifavailable"), "Verified", 0)],
                      tls="ifavailable", cert=server_facts))

    # -- one failed attempt of each failure class (required+host) --------------------------------
    def failed(failure, verify_macro, stage, achieved="none", tls_failure=None, outbound="unknown", **more):
        w = plain_facts("required", "host", stage, achieved)
        w.update({OT + "outbound_tls": outbound, "mtatls:failure": failure, "{verify}": verify_macro,
                  "mtatls:plaintext_retry": "no", "json:status": "deferred"})
        if tls_failure is not None:
            w["mtatls:tls_failure"] = tls_failure
        w.update(more)
        return w

    pre_hello = dict(no_session(), **{"mtatls:sni": "", "tls_out_sni": ""})
    S.append(Scenario("failure: STARTTLS not advertised", plain(), 75,
                      [(failed("starttls_not_advertised", "NONE", "ehlo", **pre_hello), None, None)]))
    S.append(Scenario("failure: go-ahead refused 454", good(starttls_reply=b"454 4.7.0 TLS not available now\r\n"),
                      75, [(failed("go_ahead_refused", "TEMP", "starttls", tls_failure=Has("TLS not available now"),
                                   **pre_hello), None, None)]))
    S.append(Scenario("failure: go-ahead refused 554", good(starttls_reply=b"554 5.7.3 no TLS for you\r\n"),
                      75, [(failed("go_ahead_refused", "PROTOCOL", "starttls", tls_failure=Has("no TLS for you"),
                                   **pre_hello), None, None)]))
    S.append(Scenario("failure: bytes injected after the 220",
                      good(extra_after_220=b"250-mx.example.test\r\n250 PIPELINING\r\n"), 75,
                      [(failed("bytes_after_reply", "PROTOCOL", "starttls", **pre_hello), None, None)]))
    S.append(Scenario("failure: malformed STARTTLS reply",
                      good(starttls_reply=b"220-go ahead\r\n250 or not\r\n"), 75,
                      [(failed("malformed_reply", "PROTOCOL", "starttls", **pre_hello), None, None)]))
    garbage = upto_starttls + [send(hs.STARTTLS_GO), check_clienthello(), recv_raw(idle=0.2),
                               send(b"garbage!\r\n" * 8), close()]
    S.append(Scenario("failure: handshake failed", garbage, 75,
                      [(failed("handshake_failed", "SOFTWARE", "handshake",
                               **dict(no_session(), **{"mtatls:sni": MX, "tls_out_sni": MX})), None, None)],
                      server_checks=False))
    S.append(Scenario("failure: chain untrusted (self-signed under host)", good(SELF), 75,
                      [(dict(failed("chain_untrusted", "FAIL", "handshake", "untrusted",
                                    **{"mtatls:verify_error": NONEMPTY, "tls_out_certificate_verified": "0",
                                       OT + "outbound_tls_verified": "unverified"}),
                             **session_facts(selfsigned, "TLSv1.3")), "Untrusted", 0)], cert=selfsigned))
    S.append(Scenario("failure: name mismatch (host)", good(WRONG13), 75,
                      [(dict(failed("name_mismatch", "OK", "handshake", "trusted",
                                    **{"mtatls:verify_error": Has("mx.example.test"),
                                       "tls_out_certificate_verified": "1",
                                       OT + "outbound_tls_verified": "unverified"}),
                             **session_facts(wrong, "TLSv1.3")), "Trusted", 0)], cert=wrong))

    # Ended before the EHLO reply: no TLS decision was made, so {verify},
    # tls_achieved and tls stay empty; the policy is known.
    before_ehlo = dict(no_session(), **{"mtatls:stage": "connected", "{verify}": "", "mtatls:tls_achieved": "",
                                        "mtatls:tls": "", "mtatls:failure": "", OT + "outbound_tls": "unknown",
                                        "mtatls:tls_requested": "required+host", "mtatls:policy:tls": "required",
                                        "json:status": "deferred", OT + "local_ip": "127.0.0.1"})
    S.append(Scenario("failure: silent server (no banner within --timeout)", [hs.sleep(10)], 75,
                      [(before_ehlo, None, None)], timeout=1, server_checks=False))

    # -- plaintext ------------------------------------------------------------------------------------
    def plain_ok(tls, verify, verify_macro, retry="no"):
        w = plain_facts(tls, verify, "plaintext")
        w.update(no_session())
        w.update({OT + "outbound_tls": "SMTP", "{verify}": verify_macro, "mtatls:failure": "",
                  "mtatls:tls_failure": "", "mtatls:plaintext_retry": retry, "json:status": "sent",
                  "mtatls:sni": "", "tls_out_sni": ""})
        return w

    S.append(Scenario("plaintext: tls=no", good(), 0, [(plain_ok("no", "no", "CLEAR"), None, None)],
                      tls="no", verify="no"))
    S.append(Scenario("plaintext: ifavailable, STARTTLS not offered", plain(), 0,
                      [(plain_ok("ifavailable", "no", "NONE"), None, None)], tls="ifavailable", verify="no"))
    S.append(Scenario("plaintext: ifavailable+host, STARTTLS not offered", plain(), 0,
                      [(plain_ok("ifavailable", "host", "NONE"), None, None)], tls="ifavailable"))
    first = plain_facts("ifavailable", "no", "starttls")
    first.update(pre_hello)
    first.update({"mtatls:failure": "go_ahead_refused", "{verify}": "TEMP", "json:status": "fallback",
                  "json:fallback": True, "mtatls:plaintext_retry": "no", "mtatls:tls_failure": Has("not now")})
    S.append(Scenario("plaintext retry after 454 (ifavailable, fallback)",
                      [good(starttls_reply=b"454 4.7.0 not now\r\n"), plain()], 0,
                      [(first, None, None), (plain_ok("ifavailable", "no", "CLEAR", retry="yes"), None, None)],
                      tls="ifavailable", verify="no", extra="tls_ifavailable_fallback: true\n"))

    # -- policy and its scopes ------------------------------------------------------------------------------
    scoped = ("domain:\n  example.net:\n    tls_verify: host\n"
              "binding:\n  b1:\n    tlsv13_ciphersuites: \"TLS_AES_128_GCM_SHA256\"\n"
              "    domain:\n      example.net:\n        tls_protocols: \"-ALL:+TLSv1.3\"\n")
    S.append(Scenario("policy macros name value and scope", good(), 0,
                      [({"mtatls:policy:tls": "required", "mtatls:policy_scope:tls": "global",
                         "mtatls:policy:tls_verify": "host", "mtatls:policy_scope:tls_verify": 'domain "example.net"',
                         "mtatls:policy:tlsv13_ciphersuites": "TLS_AES_128_GCM_SHA256",
                         "mtatls:policy_scope:tlsv13_ciphersuites": 'binding "b1"',
                         "mtatls:policy:tls_protocols": "-ALL:+TLSv1.3",
                         "mtatls:policy_scope:tls_protocols": 'binding "b1" / domain "example.net"',
                         "mtatls:policy_scope:tls_ciphers": "default",
                         OT + "outbound_tls_cipher": "TLS_AES_128_GCM_SHA256",
                         "mtatls:tls_requested": "required+host"}, "Verified", 0)],
                      verify="no", extra=scoped, args=["--binding", "b1"], cert=server_facts))
    return S


def run_scenario(sc, work):
    srv = hs.HostileServer(sc.scripts).start()
    try:
        r = run_send(sc.config("json"), srv.port, "json", srv=srv, mx=sc.mx, rcpts=sc.rcpts, extra_args=sc.args,
                     workdir=work, timeout=sc.timeout)
    finally:
        srv.stop(grace=1.0)
    why = list(r.problems)
    if r.exit != sc.exit:
        why.append(f"exit {r.exit}, want {sc.exit}")
    atts = r.attempts
    if len(atts) != len(sc.attempts):
        why.append(f"{len(atts)} attempt line(s), want {len(sc.attempts)}")
    for i, (obj, (want, _cat, conn)) in enumerate(zip(atts, sc.attempts)):
        check_attempt(obj, want, why, label=f"attempt {i + 1}: " if len(sc.attempts) > 1 else "")
        if obj.get("port") != srv.port:
            why.append(f"port={obj.get('port')!r}, want {srv.port}")
        if conn is not None and sc.server_checks:
            check_server_session(r, obj, conn, why)
    check_summaries(r, [c if sc.summary else None for _w, c, _n in sc.attempts], why)
    return r, why


# ---- cases built on the scenarios and on their own ------------------------------------------------------


def connect_refused_case(work):
    """A connection that never opens never reaches the module: the line is
    still written, every macro is there and empty."""
    def fn():
        r = run_send(base_config("json"), 1, "json", workdir=work)
        why = list(r.problems)
        if r.exit != 75 or len(r.attempts) != 1:
            return why + [f"exit {r.exit}, {len(r.attempts)} JSON lines: {r.text()[-300:]}"]
        obj = r.attempts[0]
        check_json_shape(obj, why)
        check_macro_names(obj["macros"], why)
        full = {k: v for k, v in obj["macros"].items() if v}
        if full:
            why.append(f"macros with a value although no connection was made: {full}")
        if obj.get("status") != "deferred" or obj.get("code") != 451:
            why.append(f"status={obj.get('status')} code={obj.get('code')}")
        if r.summaries:
            why.append("a summary line without a connection")
        return why
    return fn


def policy_eval_case(work):
    """Every mtatls:policy:<d> equals `mtatls-config eval --option d`."""
    cfg = base_config("json", "required", "host", extra=(
        "domain:\n  example.net:\n    tls_ciphers: \"HIGH:!aNULL\"\n"
        "binding:\n  b1:\n    tls_ifavailable_fallback: false\n"))

    def fn():
        srv = hs.HostileServer(hs.good_server(tls=TLSParams(cert=os.path.join(PKI, "server.pem"),
                                                            key=os.path.join(PKI, "server.key")))).start()
        try:
            r = run_send(cfg, srv.port, "json", srv=srv, extra_args=["--binding", "b1"], workdir=work)
        finally:
            srv.stop(grace=1.0)
        why = list(r.problems)
        if len(r.attempts) != 1:
            return why + [f"{len(r.attempts)} attempt lines"]
        m = r.attempts[0]["macros"]
        path = write(os.path.join(tempfile.mkdtemp(dir=work), "eval.yaml"), cfg)
        if not CONFIG_CMD:
            return why + ["MTATLS_CONFIG is not set"]
        for d in Env.directives:
            p = subprocess.run([CONFIG_CMD, "--module", MODULE, "eval", path, "--binding", "b1", "--domain", DOMAIN,
                                "--option", d], capture_output=True, text=True, timeout=30)
            want = p.stdout.rstrip("\n")
            got = m.get(f"mtatls:policy:{d}")
            # eval adds a note to some defaults: "none (key from the certificate file)".
            # and shows an unset file as "(built-in parameters)".
            noted = got is not None and (want.startswith(got + " (") or (got == "" and want.startswith("(")))
            if got != want and not noted:
                why.append(f"mtatls:policy:{d}={got!r}, mtatls-config eval says {want!r}")
        return why
    return fn


def custom_every_macro_cases(work, certs):
    """A template naming every macro and every delivery:* field renders the
    JSON form's values (same server, same scenario, one run each form)."""
    names = Env.template_names()
    tmpl = "CUSTOM" + "".join(f"@@{n}=%{{{n}}}" for n in names)
    P = lambda n: os.path.join(PKI, n)  # noqa: E731
    T13 = TLSParams(cert=P("server.pem"), key=P("server.key"))
    WRONG = TLSParams(cert=certs["wrong-name"], key=certs["wrong-name"][:-4] + ".key")
    variants = [
        ("sent over TLS 1.3", hs.good_server(tls=T13), "delivery", 0),
        ("name mismatch (transient)", hs.good_server(tls=WRONG), "transientfailure", 75),
        ("RCPT 550 (permanent)", hs.good_server(tls=T13, rcpt_replies={RCPT: b"550 5.1.1 no such user\r\n"}),
         "permanentfailure", 69),
        ("plaintext tls=no", hs.good_server(tls=T13), "delivery", 0),
    ]
    out = []
    for label, script, which, exit_code in variants:
        def fn(script=script, which=which, exit_code=exit_code, label=label):
            tls = "no" if "tls=no" in label else "required"
            verify = "no" if tls == "no" else "host"
            srv = hs.HostileServer(script).start()
            try:
                rj = run_send(base_config("json", tls, verify), srv.port, "json", srv=srv, workdir=work)
                extra = f"tls_log_{which}_format: {yaml_quote(tmpl)}\n"
                rc = run_send(base_config("custom", tls, verify, extra=extra), srv.port, "custom", srv=srv,
                              workdir=work)
            finally:
                srv.stop(grace=1.0)
            why = rj.problems + rc.problems
            if rj.exit != exit_code or rc.exit != exit_code:
                why.append(f"exit json {rj.exit} custom {rc.exit}, want {exit_code}")
            if len(rj.attempts) != 1 or len(rc.attempts) != 1:
                return why + [f"attempt lines: json {len(rj.attempts)}, custom {len(rc.attempts)}\n{rc.text()}"]
            line = rc.attempts[0]
            if not line.startswith("CUSTOM@@"):
                return why + [f"the {which} template was not used: {line!r}"]
            got = {}
            for part in line.split("@@")[1:]:
                k, sep, v = part.partition("=")
                if not sep:
                    why.append(f"unparsable piece {part!r}")
                got[k] = v
            if list(got) != names:
                why.append(f"rendered names differ from the template: missing {sorted(set(names) - set(got))}")
            obj = rj.attempts[0]
            m = obj["macros"]
            relay = f"{obj['mx']}[{obj['address']}]:{obj['port']}"
            dfields = {"delivery:status": obj["status"], "delivery:relay": relay, "delivery:mx": obj["mx"],
                       "delivery:address": obj["address"], "delivery:port": str(obj["port"]),
                       "delivery:domain": obj["domain"], "delivery:sender": obj["sender"],
                       "delivery:recipients": ",".join(r["address"] for r in obj["recipients"]),
                       "delivery:code": "" if obj["code"] is None else str(obj["code"]),
                       "delivery:dsn": obj["dsn"], "delivery:reason": obj["reason"],
                       "delivery:program": PROGRAM}
            # The logging directives themselves differ between the two runs.
            mine = {"mtatls:policy:tls_log_format": "custom", "mtatls:policy_scope:tls_log_format": "global",
                    f"mtatls:policy_scope:tls_log_{which}_format": "global"}
            for n in names:
                if n in mine:
                    if got.get(n) != mine[n]:
                        why.append(f"{n}: custom {got.get(n)!r}, want {mine[n]!r}")
                elif n == "delivery:delay":
                    if not re.fullmatch(r"\d+\.\d\d", got.get(n, "")):
                        why.append(f"delivery:delay={got.get(n)!r} is not seconds with 2 decimals")
                elif n == "delivery:time":
                    t = got.get(n, "")
                    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", t):
                        why.append(f"delivery:time={t!r} is not RFC 3339 UTC")
                    elif abs(datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(
                            tzinfo=datetime.timezone.utc).timestamp() - time.time()) > 120:
                        why.append(f"delivery:time={t!r} is not now")
                elif n in dfields:
                    if got.get(n) != dfields[n]:
                        why.append(f"{n}: custom {got.get(n)!r}, JSON {dfields[n]!r}")
                elif got.get(n) != m.get(n):
                    why.append(f"{n}: custom {got.get(n)!r}, JSON {m.get(n)!r}")
            return why
        out.append((f"C every macro and delivery field renders as in JSON: {label}", fn))
    return out


def custom_selection_cases(work):
    P = lambda n: os.path.join(PKI, n)  # noqa: E731
    T13 = TLSParams(cert=P("server.pem"), key=P("server.key"))
    tmpl = ("tls_log_delivery_format: 'D %{delivery:status} %{outbound_tls:outbound_tls}'\n"
            "tls_log_transientfailure_format: 'T %{delivery:status} %{{verify}} %{mtatls:failure}'\n"
            "tls_log_permanentfailure_format: 'P %{delivery:status} %{delivery:code} %{delivery:dsn}'\n")
    rows = [
        ("sent -> delivery template", hs.good_server(tls=T13), "required", 0, ["D sent TLS"]),
        ("deferred -> transient template", hs.good_server(advertise_starttls=False), "required", 75,
         ["T deferred NONE starttls_not_advertised"]),
        ("fallback then sent -> transient, delivery",
         [hs.good_server(tls=T13, starttls_reply=b"454 4.7.0 not now\r\n"), hs.good_server(advertise_starttls=False)],
         "ifavailable", 0, ["T fallback TEMP go_ahead_refused", "D sent SMTP"]),
        ("bounced -> permanent template", hs.good_server(tls=T13, rcpt_replies={RCPT: b"550 5.1.1 unknown\r\n"}),
         "required", 69, ["P bounced 550 5.1.1"]),
    ]
    out = []
    for label, script, tls, exit_code, want in rows:
        def fn(script=script, tls=tls, exit_code=exit_code, want=want):
            srv = hs.HostileServer(script).start()
            try:
                r = run_send(base_config("custom", tls, "no" if tls == "ifavailable" else "host", extra=tmpl),
                             srv.port, "custom", srv=srv, workdir=work)
            finally:
                srv.stop(grace=1.0)
            why = list(r.problems)
            if r.exit != exit_code:
                why.append(f"exit {r.exit}, want {exit_code}")
            if r.attempts != want:
                why.append(f"custom lines {r.attempts}, want {want}")
            return why
        out.append((f"C template chosen by outcome: {label}", fn))

    def defaults():
        srv = hs.HostileServer([hs.good_server(tls=T13), hs.good_server(advertise_starttls=False),
                                hs.good_server(tls=T13, rcpt_replies={RCPT: b"550 5.1.1 unknown\r\n"})]).start()
        try:
            runs = [run_send(base_config("custom", "required", "host"), srv.port, "custom", srv=srv, workdir=work)
                    for _ in range(3)]
        finally:
            srv.stop(grace=1.0)
        why = []
        for r, code in zip(runs, (0, 75, 69)):
            why += r.problems
            if r.exit != code:
                why.append(f"exit {r.exit}, want {code}")
            if len(r.attempts) != 1 or not r.attempts[0].strip() or "%{" in r.attempts[0]:
                why.append(f"default template output {r.attempts!r}")
        Samples.put("custom-defaults", [r.attempts[0] if r.attempts else "" for r in runs])
        return why
    out.append(("C custom form works without templates (documented defaults)", defaults))

    def percent():
        srv = hs.HostileServer(hs.good_server(tls=T13)).start()
        try:
            r = run_send(base_config("custom", extra="tls_log_delivery_format: '100%% %{delivery:status} %%{x}'\n"),
                         srv.port, "custom", srv=srv, workdir=work)
        finally:
            srv.stop(grace=1.0)
        why = list(r.problems)
        if r.attempts != ["100% sent %{x}"]:
            why.append(f"got {r.attempts}, want ['100% sent %{{x}}']")
        return why
    out.append(("C %% renders one %", percent))
    return out


def config_validation_cases(work):
    """Invalid logging directives are refused at load time (exit 78) with
    file:line:col, by mtatls-send and mtatls-config check alike."""
    rows = [
        ("unknown form", "tls_log_format: xml\n"),
        ("summary not a boolean", "tls_log_postfix_summary: maybe\n"),
        ("% followed by a letter", "tls_log_format: custom\ntls_log_delivery_format: 'a %s b'\n"),
        ("unknown macro", "tls_log_format: custom\ntls_log_delivery_format: 'a %{no_such:macro} b'\n"),
        ("unknown delivery field", "tls_log_format: custom\ntls_log_transientfailure_format: '%{delivery:nope}'\n"),
        ("unterminated %{", "tls_log_format: custom\ntls_log_permanentfailure_format: 'a %{delivery:status'\n"),
        ("lone % at the end", "tls_log_format: custom\ntls_log_delivery_format: 'a %'\n"),
        ("control byte in a template",
         'tls_log_format: custom\ntls_log_delivery_format: "a\\x01b %{delivery:status}"\n'),
        ("tls_log_format in a domain stanza", "domain:\n  example.net:\n    tls_log_format: json\n"),
        ("tls_log_postfix_summary in a binding", "binding:\n  b1:\n    tls_log_postfix_summary: false\n"),
    ]
    hints = {"unknown macro": None, "misspelt macro": "did you mean"}
    rows.append(("misspelt macro", "tls_log_format: custom\n"
                 "tls_log_delivery_format: '%{outbound_tls:outbound_tls_cipehr}'\n"))
    out = []
    for label, extra in rows:
        def fn(extra=extra, hint=hints.get(label)):
            cfg = 'tls: "required"\ntls_verify: "host"\n' + extra
            r = run_send(cfg, 9, "keyvalue", workdir=work)
            why = []
            if r.exit != 78:
                why.append(f"mtatls-send exit {r.exit}, want 78: {r.text()[-300:]!r}")
            if not re.search(r"mtatls\.yaml:\d+:\d+: error: ", r.text()):
                why.append(f"no file:line:col error in {r.text()[-300:]!r}")
            if hint and hint not in r.text():
                why.append(f"no {hint!r} hint in {r.text()[-300:]!r}")
            Samples.put("config-error:" + extra, r.text().strip())
            if CONFIG_CMD:
                path = write(os.path.join(tempfile.mkdtemp(dir=work), "c.yaml"), cfg)
                p = subprocess.run([CONFIG_CMD, "--module", MODULE, "check", path], capture_output=True, text=True,
                                   timeout=30)
                if p.returncode == 0:
                    why.append("mtatls-config check accepts it")
            return why
        out.append((f"C refused at load: {label}", fn))

    def momentum_syntax():
        P = lambda n: os.path.join(PKI, n)  # noqa: E731
        srv = hs.HostileServer(hs.good_server(tls=TLSParams(cert=P("server.pem"), key=P("server.key")))).start()
        cfg = (f'tls = "required"\ntls_verify = "host"\ntls_ca = "{P("ca.pem")}"\ntls_log_format = "custom"\n'
               'tls_log_delivery_format = "M %{delivery:status} %{tls_out_ver}"\ntls_log_postfix_summary = false\n')
        try:
            r = run_send(cfg, srv.port, "custom", srv=srv, workdir=work, config_name="ecelerity.conf")
        finally:
            srv.stop(grace=1.0)
        why = list(r.problems)
        if r.exit != 0 or r.attempts != [f"M sent {exim_ver('TLSv1.3')}"] or r.summaries:
            why.append(f"exit {r.exit}, lines {r.lines}")
        return why
    out.append(("C logging directives in Momentum syntax", momentum_syntax))

    def schema():
        if not CONFIG_CMD:
            return ["MTATLS_CONFIG is not set"]
        s = json.loads(subprocess.run([CONFIG_CMD, "schema"], capture_output=True, text=True, timeout=30).stdout)
        why = []
        props = s.get("properties", {})
        for d in LOG_DIRECTIVES:
            if d not in props:
                why.append(f"schema lacks {d}")
        text = json.dumps(s)
        for word in ("keyvalue", "json", "custom"):
            if f'"{word}"' not in text:
                why.append(f"schema does not list the value {word!r}")
        for stanza in ("domain_stanza", "binding_stanza", "binding_group_stanza"):
            sp = json.dumps(s.get("$defs", {}).get(stanza, {}))
            for d in LOG_DIRECTIVES:
                if f'"{d}"' in sp:
                    why.append(f"schema allows global-only {d} in {stanza}")
        return why
    out.append(("C the JSON Schema has the logging directives, global only", schema))
    return out


# ---- the three forms, and what must hold in each ------------------------------------------------------------


def kv_checks(r, why, status):
    """The keyvalue attempt line kept issue 3's keys and order."""
    keys = ["status", "relay", "domain", "tls_policy", "verify_policy", "tls", "cipher", "bits", "verified",
            "subject", "issuer", "code", "dsn", "reason", "delay"]
    atts = [e for e in r.events if e[0] == "attempt"]
    if len(atts) != 1:
        why.append(f"{len(atts)} keyvalue attempt lines: {r.lines}")
        return None
    if atts[0][2] != keys:
        why.append(f"keyvalue keys {atts[0][2]}, want {keys}")
    if atts[0][1].get("status") != status:
        why.append(f"keyvalue status={atts[0][1].get('status')!r}, want {status}")
    return atts[0][1]


def hostile_cases(work, certs):
    """Hostile certificate fields and reply texts in all three forms."""
    hostile = CertFacts(certs["hostile"], ascii_names=False)
    raw = CertFacts(certs["raw"], ascii_names=False)
    key = lambda n: certs[n][:-4] + ".key"  # noqa: E731
    P = lambda n: os.path.join(PKI, n)  # noqa: E731
    T13 = TLSParams(cert=P("server.pem"), key=P("server.key"))
    every = Env.template_names()
    tmpl = "CUSTOM" + "".join(f"@@{n}=%{{{n}}}" for n in every)
    custom_extra = "".join(f"tls_log_{w}_format: {yaml_quote(tmpl)}\n"
                           for w in ("delivery", "transientfailure", "permanentfailure"))
    rows = [
        # name, script, tls, verify, ca, exit, status, json checks {macro: want}
        ("certificate: newline, quotes, %n, ANSI, UTF-8, U+2028, bidi (CA-signed, verified)",
         hs.good_server(tls=TLSParams(chain=certs["hostile"], key=key("hostile"))), "required", "host",
         certs["hostile-ca"], 0, "sent", dict(hostile.want(), **{OT + "outbound_tls_verified": "verified",
                                                                    OT + "outbound_tls_subject": Has("%n"),
                                                                    OT + "outbound_tls_issuer": Has("%n")})),
        ("certificate: NUL, C1 CSI, 0xFF in a T61String, NEL/U+2029/RLO in UTF-8 (self-signed)",
         hs.good_server(tls=TLSParams(cert=certs["raw"], key=key("raw"))), "required", "no", None, 0, "sent",
         # sendmail's {cn_*} are X509_NAME_get_text_by_NID's raw bytes (cut at
         # the NUL in C); the module converts the T61String to UTF-8 first.
         {k: v for k, v in raw.want().items() if k not in ("{cn_subject}", "{cn_issuer}")}),
        ("RCPT reply with quotes, backslash, %n (no control bytes)",
         hs.good_server(tls=T13, rcpt_replies={RCPT: b'550 5.1.1 <rcpt@example.net> "quoted" back\\slash %n%s%x\r\n'}),
         "required", "host", None, 69, "bounced", {"json:reason": Has('"quoted" back\\slash %n%s%x')}),
        ("RCPT reply with an ANSI escape (refused by the parser, logged escaped)",
         hs.good_server(tls=T13, rcpt_replies={RCPT: b"550 5.1.1 \x1b[31mred\x1b[0m %n user\r\n"}),
         "required", "host", None, 75, "deferred", {"json:reason": Has("control byte")}),
        ("RCPT reply with U+2028, RLO and C1 NEL in UTF-8",
         hs.good_server(tls=T13, rcpt_replies={RCPT: "550 5.1.1 line\u2028sep \u202eevil \u0085nel\r\n".encode()}),
         "required", "host", None, None, None, {"json:reason": Not(Re(r".*[\u2028\u202e\u0085].*"))}),
        ("STARTTLS 454 with quotes and %n", hs.good_server(tls=T13, starttls_reply=b'454 4.7.0 "no TLS" %n today\r\n'),
         "required", "host", None, 75, "deferred",
         {"mtatls:tls_failure": Has('"no TLS" %n today'), "{verify}": "TEMP"}),
        ("STARTTLS reply with an ANSI escape (refused, logged escaped)",
         hs.good_server(tls=T13, starttls_reply=b"454 4.7.0 \x1b]0;pwned\x07 %n\r\n"), "required", "host", None, 75,
         "deferred", {"mtatls:failure": "malformed_reply", "{verify}": "PROTOCOL",
                      "mtatls:tls_failure": Has("control byte")}),
        ("banner with an ANSI escape (refused, logged escaped)",
         [send(b"220 mx.example.test \x1b[2J %n \"q\"\r\n"), hs.sleep(5)], "required", "host", None, 75,
         "deferred", {"json:reason": Has("control byte"), "mtatls:stage": "connected"}),
    ]
    out = []
    for label, script, tls, verify, ca, exit_code, status, want in rows:
        for form in ("json", "keyvalue", "custom"):
            def fn(script=script, tls=tls, verify=verify, ca=ca, exit_code=exit_code, status=status, want=want,
                   form=form, label=label):
                extra = custom_extra if form == "custom" else ""
                srv = hs.HostileServer(script).start()
                try:
                    r = run_send(base_config(form, tls, verify, ca, extra), srv.port, form, srv=srv, workdir=work)
                finally:
                    srv.stop(grace=1.0)
                why = list(r.problems)
                if exit_code is not None and r.exit != exit_code:
                    why.append(f"exit {r.exit}, want {exit_code}")
                if form == "json":
                    if len(r.attempts) != 1:
                        return why + [f"{len(r.attempts)} JSON lines"]
                    obj = r.attempts[0]
                    check_json_shape(obj, why)
                    check_consistency(obj, why)
                    if status and obj.get("status") != status:
                        why.append(f"status={obj.get('status')!r}, want {status}")
                    for k, v in want.items():
                        got = obj.get(k[5:]) if k.startswith("json:") else obj["macros"].get(k)
                        if not matches(got, v):
                            why.append(f"{k}: got {got!r}, want {v!r}")
                    Samples.put("hostile:" + label, obj)
                elif form == "keyvalue":
                    f = kv_checks(r, why, status) if status else None
                    if f is not None and "certificate" in label and f.get("subject") in ("", "-"):
                        why.append("keyvalue subject is empty")
                else:
                    if len(r.attempts) != 1 or not r.attempts[0].startswith("CUSTOM@@"):
                        why.append(f"custom lines {r.attempts!r}")
                    elif len(r.attempts[0].split("@@")) != len(every) + 1:
                        why.append("a value split the custom line (a raw @@?)")
                return why
            out.append((f"X {label} [{form}]", fn))
    return out


def summary_cases(work):
    P = lambda n: os.path.join(PKI, n)  # noqa: E731
    T13 = TLSParams(cert=P("server.pem"), key=P("server.key"))
    out = []
    for form in ("keyvalue", "json", "custom"):
        for on in (True, False):
            def fn(form=form, on=on):
                srv = hs.HostileServer(hs.good_server(tls=T13)).start()
                try:
                    r = run_send(base_config(form, summary=None if on else False), srv.port, form, srv=srv,
                                 workdir=work)
                finally:
                    srv.stop(grace=1.0)
                why = list(r.problems)
                if r.exit != 0:
                    why.append(f"exit {r.exit}")
                check_summaries(r, ["Verified" if on else None], why)
                if on and r.lines and not SUMMARY_RX.fullmatch(r.lines[0]):
                    why.append(f"first line is not the summary: {r.lines[0]!r}")
                if on:
                    Samples.put(f"summary-{form}", r.lines)
                return why
            out.append((f"S {form} form: summary {'present by default' if on else 'absent when false'}", fn))

    def kv_agrees():
        """The keyvalue line (issue 3's format, unchanged) says what the JSON macros say."""
        wrong = TLSParams(cert=os.path.join(work, "certs", "wrong-name.pem"),
                          key=os.path.join(work, "certs", "wrong-name.key"))
        why = []
        for label, tls_params, verify in (("verified", T13, "host"), ("unverified", wrong, "optional")):
            srv = hs.HostileServer(hs.good_server(tls=tls_params)).start()
            try:
                rk = run_send(base_config("keyvalue", verify=verify), srv.port, "keyvalue", srv=srv, workdir=work)
                rj = run_send(base_config("json", verify=verify), srv.port, "json", srv=srv, workdir=work)
            finally:
                srv.stop(grace=1.0)
            why += rk.problems + rj.problems
            f = kv_checks(rk, why, "sent")
            if f is None or len(rj.attempts) != 1:
                why.append(f"{label}: lines {rk.lines} / {len(rj.attempts)} JSON")
                continue
            m = rj.attempts[0]["macros"]
            for k, v in (("tls", m[OT + "outbound_tls_protocol"]), ("cipher", m[OT + "outbound_tls_cipher"]),
                         ("bits", f"{m[OT + 'outbound_tls_cipher_usebits']}/{m[OT + 'outbound_tls_cipher_algbits']}"),
                         ("verified", "yes" if m[OT + "outbound_tls_verified"] == "verified" else "no"),
                         ("subject", m[OT + "outbound_tls_subject"]), ("issuer", m[OT + "outbound_tls_issuer"]),
                         ("tls_policy", m["mtatls:policy:tls"]), ("verify_policy", m["mtatls:policy:tls_verify"])):
                if f.get(k) != v:
                    why.append(f"{label}: keyvalue {k}={f.get(k)!r}, JSON macros say {v!r}")
        return why
    out.append(("S keyvalue line agrees with the JSON macros", kv_agrees))

    def anonymous():
        # Anonymous needs an aNULL suite (TLS 1.2), which the client must be
        # allowed to offer; if the configuration refuses aNULL the category
        # cannot be produced and that is what this case reports.
        anon = TLSParams(ciphers="aNULL", seclevel=0, max_version=ssl.TLSVersion.TLSv1_2)
        cfg = base_config("json", "required", "no", extra='tls_ciphers: "aNULL:@SECLEVEL=0"\n'
                                                           'tls_protocols: "-ALL:+TLSv1.2"\n')
        srv = hs.HostileServer(hs.good_server(tls=anon)).start()
        try:
            r = run_send(cfg, srv.port, "json", srv=srv, workdir=work)
        finally:
            srv.stop(grace=1.0)
        why = list(r.problems)
        if r.exit == 78:
            Samples.put("anonymous", "refused at load: " + r.text().strip())
            return why
        if r.exit != 0 or len(r.attempts) != 1:
            return why + [f"exit {r.exit}: {r.text()[-400:]}"]
        check_attempt(r.attempts[0], {"{verify}": "NO", "mtatls:tls_achieved": "anonymous",
                                      "tls_out_certificate_verified": "0", "{cert_fp}": ""}, why)
        check_summaries(r, ["Anonymous"], why)
        Samples.put("anonymous", r.lines)
        return why
    out.append(("S Anonymous: aNULL suite (or refused at load)", anonymous))
    return out


# ---- Postfix -------------------------------------------------------------------------------------------------


class Postfixes:
    """The instances, started once in the background and shared by the P cases."""
    TLS = ("127.0.0.41", 0)      # port 0: a free one, chosen at start
    NOTLS = ("127.0.0.42", 0)
    RELAY = ("127.0.0.44", 0)

    def __init__(self, pool):
        self.pool = pool
        self.skip = None
        if not pfi.available():
            self.skip = f"{pfi.POSTFIX} is not installed"
        elif os.geteuid() != 0:
            self.skip = "a private Postfix instance needs root"
        self.instances = []
        self.futures = {}
        self.lock = threading.Lock()

    def start(self):
        """Starts the receivers in the background (the cases wait for them)."""
        self.futures["tls"] = self.pool.submit(self._start, *self.TLS, tls=True)
        self.futures["notls"] = self.pool.submit(self._start, *self.NOTLS, tls=False)

    def _start(self, address, port, **kw):
        inst = pfi.PostfixInstance(address, port, pki=PKI, **kw)
        self.instances.append(inst)
        inst.start()
        return inst

    def get(self, name):
        with self.lock:
            if name == "relay" and name not in self.futures:
                tls = self.get_started("tls")
                # The sender role: Postfix's own smtp client talks to the
                # same receiver, so its summary line can be compared with ours.
                self.futures["relay"] = concurrent.futures.Future()
                try:
                    self.futures["relay"].set_result(self._start(*self.RELAY, relay_to=(tls.address, tls.port),
                                                                 relay_tls="encrypt"))
                except Exception as e:
                    self.futures["relay"].set_exception(e)
        return self.get_started(name)

    def get_started(self, name):
        return self.futures[name].result(timeout=60)

    def stop(self):
        for inst in self.instances:
            try:
                inst.stop()
            except Exception:
                pass


RECEIVED_TLS = re.compile(r"using (TLSv[0-9.]+) with cipher (\S+) \((\d+)/(\d+) bits\)"
                          r"(?: key-exchange (\S+))?(?: server-signature (\S+)(?: \(([^)]*)\))?)?"
                          r"(?: server-digest (\S+))?")


def received_of(inst, tag, timeout=10):
    """The topmost Received: header of the message with Message-ID <tag@...>, unfolded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in inst.messages():
            if f"<{tag}@example.org>".encode() in m:
                head = m.split(b"\n\n", 1)[0].decode("utf-8", "replace")
                rec = re.search(r"^Received:(.*(?:\n[ \t].*)*)", head, re.M)
                return re.sub(r"\s+", " ", rec.group(1)) if rec else ""
        time.sleep(0.05)
    return None


def postfix_cases(work, certs, pfx):
    server_facts = CertFacts(os.path.join(PKI, "server.pem"))
    rows = [
        # name, instance, tls, verify, ca, mx, extra config, exit, want, summary, delivered
        ("TLS 1.3 verified", "tls", "required", "host", None, MX, "", 0,
         dict(server_facts.want(), **{OT + "outbound_tls_protocol": "TLSv1.3", "{verify}": "OK",
                                      "mtatls:tls_achieved": "verified", "mtatls:stage": "tls"}), "Verified", True),
        ("TLS 1.2 verified", "tls", "required", "host", None, MX, 'tls_protocols: "+ALL:-TLSv1.3"\n', 0,
         dict(server_facts.want(), **{OT + "outbound_tls_protocol": "TLSv1.2", "{verify}": "OK",
                                      "mtatls:tls_achieved": "verified"}), "Verified", True),
        ("TLS 1.3 unverified (optional, MX name not in the certificate)", "tls", "required", "optional", None,
         "wrong.example.test", "", 0,
         dict(server_facts.want(), **{OT + "outbound_tls_protocol": "TLSv1.3", "{verify}": "OK",
                                      OT + "outbound_tls_verified": "unverified", "mtatls:tls_achieved": "trusted",
                                      "mtatls:verify_error": NONEMPTY, "{server_name}": "wrong.example.test"}),
         "Trusted", True),
        ("TLS 1.2 unverified (optional, MX name not in the certificate)", "tls", "required", "optional", None,
         "wrong.example.test", 'tls_protocols: "+ALL:-TLSv1.3"\n', 0,
         dict(server_facts.want(), **{OT + "outbound_tls_protocol": "TLSv1.2", "mtatls:tls_achieved": "trusted",
                                      OT + "outbound_tls_verified": "unverified"}), "Trusted", True),
        ("Untrusted (optional, unknown CA)", "tls", "required", "optional", certs["other-ca"], MX, "", 0,
         dict(server_facts.want(), **{"{verify}": "FAIL", "mtatls:tls_achieved": "untrusted",
                                      "tls_out_certificate_verified": "0"}), "Untrusted", True),
        ("failure: STARTTLS not advertised", "notls", "required", "host", None, MX, "", 75,
         dict(no_session(), **{"{verify}": "NONE", "mtatls:failure": "starttls_not_advertised",
                               "mtatls:stage": "ehlo", "mtatls:tls": "required+host:none"}), None, False),
        ("failure: handshake (TLS 1.2 with RSA-only suites vs an ECDSA key)", "tls", "required", "host", None, MX,
         'tls_protocols: "-ALL:+TLSv1.2"\ntls_ciphers: "ECDHE-RSA-AES256-GCM-SHA384"\n', 75,
         dict(no_session(), **{"{verify}": "SOFTWARE", "mtatls:failure": "handshake_failed",
                               "mtatls:stage": "handshake", "mtatls:sni": MX}), None, False),
        ("failure: chain untrusted (unknown CA)", "tls", "required", "host", certs["other-ca"], MX, "", 75,
         dict(server_facts.want(), **{"{verify}": "FAIL", "mtatls:failure": "chain_untrusted",
                                      "mtatls:tls_achieved": "untrusted", "mtatls:verify_error": NONEMPTY}),
         "Untrusted", False),
        ("failure: name mismatch", "tls", "required", "host", None, "wrong.example.test", "", 75,
         dict(server_facts.want(), **{"{verify}": "OK", "mtatls:failure": "name_mismatch",
                                      "mtatls:tls_achieved": "trusted"}), "Trusted", False),
        ("plaintext: tls=no", "tls", "no", "no", None, MX, "", 0,
         dict(no_session(), **{"{verify}": "CLEAR", OT + "outbound_tls": "SMTP", "mtatls:tls": "no:none",
                               "mtatls:stage": "plaintext"}), None, True),
        ("plaintext: ifavailable, STARTTLS not offered", "notls", "ifavailable", "no", None, MX, "", 0,
         dict(no_session(), **{"{verify}": "NONE", OT + "outbound_tls": "SMTP", "mtatls:tls": "ifavailable:none",
                               "mtatls:stage": "plaintext"}), None, True),
    ]
    out = []
    for i, (label, which, tls, verify, ca, mx, extra, exit_code, want, cat, delivered) in enumerate(rows):
        def fn(i=i, label=label, which=which, tls=tls, verify=verify, ca=ca, mx=mx, extra=extra,
               exit_code=exit_code, want=want, cat=cat, delivered=delivered):
            inst = pfx.get(which)
            tag = f"pf-{i}-{os.getpid()}"
            msg = (b"From: <sender@example.org>\nTo: <rcpt@example.net>\nSubject: postfix logging\n"
                   b"Message-ID: <%s@example.org>\n\nbody\n" % tag.encode())
            r = run_send(base_config("json", tls, verify, ca, extra), inst.port, "json", mx=mx, message=msg,
                         host=inst.address, timeout=20, workdir=work)
            why = list(r.problems)
            if r.exit != exit_code:
                why.append(f"exit {r.exit}, want {exit_code}")
            if len(r.attempts) != 1:
                return why + [f"{len(r.attempts)} attempt lines: {r.text()[-500:]}"]
            obj = r.attempts[0]
            check_attempt(obj, want, why)
            check_summaries(r, [cat], why)
            m = obj["macros"]
            if delivered:
                rec = received_of(inst, tag)
                if rec is None:
                    why.append("the message did not arrive")
                else:
                    t = RECEIVED_TLS.search(rec)
                    if m[OT + "outbound_tls"] == "TLS":
                        if not t:
                            why.append(f"Received: shows no TLS: {rec}")
                        else:
                            proto, cipher, use, alg, kx = t.group(1, 2, 3, 4, 5)
                            for k, v in ((OT + "outbound_tls_protocol", proto), (OT + "outbound_tls_cipher", cipher),
                                         (OT + "outbound_tls_cipher_usebits", use),
                                         (OT + "outbound_tls_cipher_algbits", alg)):
                                if m.get(k) != v:
                                    why.append(f"{k}={m.get(k)!r} but Postfix's Received: says {v!r}")
                            if kx and m.get("mtatls:kx_group", "").lower() != kx.lower():
                                why.append(f"mtatls:kx_group={m.get('mtatls:kx_group')!r}, "
                                           f"Postfix saw key-exchange {kx}")
                    elif t:
                        why.append(f"plaintext delivery but Received: shows TLS: {rec}")
            Samples.put(f"postfix:{label}", r.lines)
            return why
        out.append((f"P {label}", fn))

    def grammar():
        """Postfix's own smtp client, talking to the same receiver, logs the
        summary line our line must reproduce (before Postfix's optional
        key-exchange/server-signature tail)."""
        tls, relay = pfx.get("tls"), pfx.get("relay")
        with smtplib.SMTP(relay.address, relay.port, local_hostname="client.example.test", timeout=20) as s:
            s.sendmail(SENDER, [RCPT], b"Subject: grammar\r\nMessage-ID: <grammar@example.org>\r\n\r\nbody\r\n")
        m = relay.wait_for_log(r"postfix/smtp\[\d+\]: (\S+ TLS connection established to .*)", timeout=20)
        why = []
        if not m:
            return ["Postfix's smtp client logged no summary line:\n" + relay.maillog()[-800:]]
        theirs = m.group(1)
        # Same server, same name, same trust: verify=ca with the MX name Postfix used (the address).
        r = run_send(base_config("json", "required", "ca"), tls.port, "json", mx=None, host=tls.address, timeout=20,
                     workdir=work)
        why += r.problems
        if not r.summaries:
            return why + [f"no summary line from mtatls-send: {r.text()[-500:]}"]
        ours = r.summaries[0].group(0)[len("mtatls-send: "):]
        if not (theirs == ours or theirs.startswith(ours + " key-exchange ")):
            why.append(f"Postfix: {theirs!r}\n  ours:    {ours!r}")
        Samples.put("postfix-grammar", [theirs, ours])
        return why
    out.append(("P summary line matches Postfix's own smtp client word for word", grammar))
    return out


# ---- samples for docs/logging.md (-v prints them) -----------------------------------------------------------


class Samples:
    data = {}
    lock = threading.Lock()

    @classmethod
    def put(cls, key, value):
        with cls.lock:
            cls.data[key] = value


# ---- driver ---------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="pattern", help="run only cases whose name contains this")
    ap.add_argument("-v", action="store_true", help="print every scenario's stderr and the collected samples")
    ap.add_argument("-j", type=int, default=8, help="parallel workers (default 8)")
    opts = ap.parse_args()

    if not (SEND and os.access(SEND, os.X_OK)):
        print(f"skipped: MTATLS_SEND={SEND!r} is not an executable")
        return 77
    if not PKI or not os.path.isfile(os.path.join(PKI, "ca.key")):
        print("MTATLS_TEST_PKI must name the directory made by make_test_pki.sh", file=sys.stderr)
        return 2
    pfi.stop_all_on_signals()
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="mtatls-logging-test-")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, opts.j))
    pfx = None
    try:
        pfx = Postfixes(pool)
        certs = make_certs(os.path.join(work, "certs"))
        if CONFIG_CMD:
            schema = json.loads(subprocess.run([CONFIG_CMD, "schema"], capture_output=True, text=True,
                                               timeout=30).stdout or "{}")
            Env.directives = [k for k in schema.get("properties", {}) if k not in STANZA_KEYS]
        if not Env.directives:
            print("MTATLS_CONFIG is needed to read the directive list from the JSON Schema", file=sys.stderr)
            return 2

        jobs = []
        logs = {}
        for sc in build_scenarios(certs):
            def fn(sc=sc):
                r, why = run_scenario(sc, work)
                logs[sc.name] = r.lines
                Samples.put(sc.name, r.lines)
                if why:
                    why.append("\n  stderr: " + r.text().strip()[-1500:].replace("\n", "\n          "))
                return why
            jobs.append((sc.name, fn))
        jobs.append(("M every policy macro equals mtatls-config eval", policy_eval_case(work)))
        jobs.append(("M failure: connection refused (no module connection, every macro empty)",
                     connect_refused_case(work)))
        jobs += custom_every_macro_cases(work, certs)
        jobs += custom_selection_cases(work)
        jobs += config_validation_cases(work)
        jobs += hostile_cases(work, certs)
        jobs += summary_cases(work)
        postfix_jobs = postfix_cases(work, certs, pfx)
        names = [n for n, _ in jobs + postfix_jobs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            print(f"duplicate case names: {dupes}", file=sys.stderr)
            return 2
        if opts.pattern:
            jobs = [j for j in jobs if opts.pattern.lower() in j[0].lower()]
            postfix_jobs = [j for j in postfix_jobs if opts.pattern.lower() in j[0].lower()]

        passed = failed = skipped = 0
        counts = {}

        def guarded(fn):
            try:
                return fn() or []
            except Exception as e:
                return [f"harness error: {e!r}\n{traceback.format_exc()}"]

        futures = []
        if pfx.skip is None and postfix_jobs:
            pfx.start()
            futures += [(n, pool.submit(guarded, f)) for n, f in postfix_jobs]
        futures += [(n, pool.submit(guarded, f)) for n, f in jobs]
        for name, fut in futures:
            why = fut.result()
            g = name.split(" ", 1)[0]
            counts.setdefault(g, 0)
            counts[g] += 1
            if why:
                failed += 1
                print(f"FAIL {name}: " + "; ".join(w if not w.startswith("\n") else w[1:] for w in why), flush=True)
            else:
                passed += 1
                print(f"ok {name}", flush=True)
            if opts.v and name in logs:
                for ln in logs[name]:
                    print(f"  | {ln}", flush=True)
        if pfx.skip is not None:
            for name, _ in postfix_jobs:
                skipped += 1
                print(f"skip {name}: {pfx.skip}", flush=True)
        if opts.v:
            for k, v in sorted(Samples.data.items()):
                print(f"sample {k}: {json.dumps(v, ensure_ascii=False)}")
        print("cases per group: " + ", ".join(f"{g} {n}" for g, n in sorted(counts.items()))
              + f"; {time.monotonic() - t_start:.1f}s" + (f"; {skipped} skipped" if skipped else ""))
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if pfx is not None:
            pfx.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
