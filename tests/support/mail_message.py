"""mail_message.py - the test message and the checks on what a server
stored, shared by the tests that deliver through real Postfix instances.

make_message() builds a message whose lines trip careless SMTP code:
leading dots (dot-stuffing), a lone dot, trailing blanks, a tab, an empty
line, 8-bit text, a long line and "From " at a line start.  Its headers are
fully qualified, so Postfix's cleanup neither adds nor rewrites any: the
whole message must arrive unchanged, after the trace headers Postfix puts
on top.
"""
import email.parser
import email.policy
import re


def make_message(case, sender="sender@origin.example.test", rcpt="rcpt@dest.example.test"):
    body = (
        "This is case %s.\n"
        ".a line with one leading dot\n"
        "..two leading dots\n"
        ".\n"
        "trailing blanks   \n"
        "\ttab-indented\n"
        "\n"
        "From the start of a line\n"
        "UTF-8: gr\u00fc\u00dfe, \u65e5\u672c\n"
        "%s\n"
        "last line\n" % (case, "x" * 900)
    ).encode("utf-8")
    domain = sender.rpartition("@")[2] or "origin.example.test"
    headers = (
        "From: Sender <%s>\n"
        "To: <%s>\n"
        "Subject: mtatls postfix case %s\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\n"
        "Message-ID: <case-%s@%s>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" % (sender, rcpt, case, case, domain)
    ).encode("ascii")
    return headers + body


def split_message(data):
    """(header bytes, body bytes) at the first empty line (LF file); body is
    None when there is no separator."""
    head, sep, body = data.partition(b"\n\n")
    return (head, body) if sep else (data, None)


def received(data):
    """The topmost Received: header (the receiving server's own), unfolded;
    "" when there is none."""
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)
    values = msg.get_all("Received") or []
    return re.sub(r"\s+", " ", str(values[0])) if values else ""


TLS_RX = re.compile(r"using (TLSv[0-9.]+) with cipher (\S+) \((\d+)/(\d+) bits\)")


def received_tls(data):
    """(protocol, cipher, usebits, algbits) from Postfix's Received:, or None."""
    m = TLS_RX.search(received(data))
    return m.groups() if m else None


LOG_TOKEN = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """key=value pairs of one `mtatls-send: ` line, quotes and escapes undone."""
    fields = {}
    for key, value in LOG_TOKEN.findall(line):
        if value.startswith('"'):
            value = re.sub(r'\\x([0-9a-fA-F]{2})|\\(.)',
                           lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2),
                           value[1:-1])
        fields[key] = value
    return fields
