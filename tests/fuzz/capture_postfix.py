#!/usr/bin/python3
"""capture_postfix.py - records what a real Postfix says, as fuzz seeds.

Starts a private Postfix (tests/support/postfix_instance.py) with STARTTLS,
runs two dialogues against it and writes what the SERVER sent:

  corpus/smtp_reply/postfix-*          each reply on its own
  corpus/starttls_session/postfix-*    whole server streams in the session
                                       target's format (chunks split by "@@\\n"):
    postfix-plaintext      banner, EHLO, MAIL, RCPT, DATA, end of data, QUIT
    postfix-serverhello    banner, EHLO, 220 to STARTTLS, then the raw TLS
                           bytes Postfix answered a real ClientHello with
    postfix-tls-dialogue   the same replies with "!tls" where the handshake
                           is (the fuzz server does a real one there)

The files are checked in; run this again (as root, Postfix installed) only
to refresh them:  tests/fuzz/capture_postfix.py BUILD_DIR/tests/pki
"""
import os
import socket
import ssl
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from postfix_instance import PostfixInstance  # noqa: E402

SEP = b"@@\n"


def read_reply(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        # Complete when the last whole line is "NNN" or "NNN text".
        full = data.split(b"\r\n")[:-1]
        if full and (len(full[-1]) == 3 or full[-1][3:4] == b" "):
            return data


def plaintext_dialogue(address, port):
    replies = []
    with socket.create_connection((address, port), timeout=10) as s:
        replies.append(read_reply(s))
        for command in [b"EHLO client.fuzz.test\r\n", b"MAIL FROM:<sender@fuzz.test>\r\n",
                        b"RCPT TO:<a@fuzz.test>\r\n", b"RCPT TO:<b@fuzz.test>\r\n", b"DATA\r\n",
                        b"Subject: fuzz\r\n\r\nhello\r\n..dot\r\n.\r\n", b"QUIT\r\n"]:
            s.sendall(command)
            replies.append(read_reply(s))
    return replies


def serverhello_dialogue(address, port):
    with socket.create_connection((address, port), timeout=10) as s:
        banner = read_reply(s)
        s.sendall(b"EHLO client.fuzz.test\r\n")
        ehlo = read_reply(s)
        s.sendall(b"STARTTLS\r\n")
        go = read_reply(s)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="mx.fuzz.test")
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s.sendall(outgoing.read())  # the ClientHello
        server_flight = b""
        s.settimeout(1.0)
        try:
            while len(server_flight) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                server_flight += chunk
        except socket.timeout:
            pass
        # Finish the handshake and one EHLO inside TLS for the replies.
        incoming.write(server_flight)
        tls.do_handshake()
        s.sendall(outgoing.read())
        tls.write(b"EHLO client.fuzz.test\r\n")
        s.sendall(outgoing.read())
        s.settimeout(5.0)
        ehlo_tls = b""
        while not ehlo_tls.endswith(b"\r\n") or b"\r\n250 " not in b"\r\n" + ehlo_tls:
            incoming.write(s.recv(65536))
            try:
                ehlo_tls += tls.read(65536)
            except ssl.SSLWantReadError:
                pass
    return banner, ehlo, go, server_flight, ehlo_tls


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    pki = sys.argv[1]
    with PostfixInstance("127.0.0.61", tls=True, pki=pki, name="fuzzseed") as mx:
        plain = plaintext_dialogue(mx.address, mx.port)
        banner, ehlo, go, flight, ehlo_tls = serverhello_dialogue(mx.address, mx.port)
    reply_dir = os.path.join(HERE, "corpus", "smtp_reply")
    session_dir = os.path.join(HERE, "corpus", "starttls_session")
    names = ["banner", "ehlo", "mail", "rcpt1", "rcpt2", "data", "end-of-data", "quit"]
    for name, reply in zip(names, plain):
        write(os.path.join(reply_dir, "postfix-" + name), reply)
    write(os.path.join(reply_dir, "postfix-starttls"), go)
    write(os.path.join(reply_dir, "postfix-ehlo-tls"), ehlo_tls)
    write(os.path.join(session_dir, "postfix-plaintext"), SEP.join(plain))
    write(os.path.join(session_dir, "postfix-serverhello"), SEP.join([banner, ehlo, go, flight]))
    tail = plain[2:]  # MAIL ... QUIT replies, now inside TLS
    write(os.path.join(session_dir, "postfix-tls-dialogue"),
          SEP.join([banner, ehlo, go, b"!tls\n", ehlo_tls] + tail))


if __name__ == "__main__":
    main()
